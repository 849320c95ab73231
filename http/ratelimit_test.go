package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	broker "github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/nats-io/nats.go/jetstream"
)

// sharedNodes starts an embedded JetStream with file storage for the shared buckets
// alone, and returns its connection and a function that opens the buckets on it once
// more, with a JetStream handle of its own, as one more node of a cluster does.
func sharedNodes(t *testing.T) (*broker.Conn, func() *shared.Store) {
	t.Helper()
	conn, err := broker.Start(broker.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn, func() *shared.Store {
		t.Helper()
		js, err := jetstream.New(conn.NC)
		if err != nil {
			t.Fatal(err)
		}
		sh, err := shared.Open(context.Background(), js, 1)
		if err != nil {
			t.Fatal(err)
		}
		return sh
	}
}

// postCode posts a code to challenge c1 on s from the address from, and returns
// the answer's status and error code.
func postCode(s *Server, from string) (int, string) {
	r := httptest.NewRequest("POST", "/jfguard/api/challenge/c1/verify", strings.NewReader(`{"code":"123456"}`))
	r.RemoteAddr = from + ":41000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var body struct{ Error string }
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body.Error
}

// TestSecondFactorLimitsCountEveryNode: two gateways on one JetStream, codes for
// one held sign-in posted to each in turn. A limit of n codes per address, or per
// user, lets n through from both nodes together, not n from each.
func TestSecondFactorLimitsCountEveryNode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		limits Limits
		from   func(i int) string
		n      int
	}{
		{"per address", Limits{VerifyPerIP: 4, VerifyIPWindow: time.Hour, VerifyPerUser: 100, VerifyUserWindow: time.Hour},
			func(int) string { return "203.0.113.5" }, 4},
		{"per address block (IPv6 /64)", Limits{VerifyPerIP: 4, VerifyIPWindow: time.Hour, VerifyPerUser: 100, VerifyUserWindow: time.Hour},
			func(i int) string { return fmt.Sprintf("[2001:db8:1:2::%x]", i+1) }, 4},
		{"per user", Limits{VerifyPerIP: 100, VerifyIPWindow: time.Hour, VerifyPerUser: 3, VerifyUserWindow: time.Hour},
			func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) }, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// given two nodes on one JetStream, and a held sign-in whose codes are wrong
			_, open := sharedNodes(t)
			var fakes [2]*fakeChallenges
			var nodes [2]*Server
			for i := range nodes {
				fakes[i] = &fakeChallenges{users: map[string]string{"c1": "u1"}, err: domain.ErrCodeInvalid}
				nodes[i] = handlerNode(t, fakes[i], open(), tc.limits)
			}
			// when codes are posted to one node, then the other, twice the limit
			passed := 0
			for i := range 2 * tc.n {
				status, code := postCode(nodes[i%2], tc.from(i))
				switch {
				case status == http.StatusUnauthorized && code == "invalid_code":
					passed++
				case status == http.StatusTooManyRequests && code == "rate_limited":
				default:
					t.Fatalf("code %d: %d %s", i+1, status, code)
				}
			}
			// then the limit let n through from both together
			if checked := len(fakes[0].got) + len(fakes[1].got); passed != tc.n || checked != tc.n {
				t.Fatalf("%d codes passed and %d were checked, want %d: each node kept its own count", passed, checked, tc.n)
			}
		})
	}
}

// TestLimitersSpendOnlyWhatPasses: the user's bucket is charged only once the
// address's let the attempt through, and an attempt the user's refuses gives the
// address's token back; allowUser charges the user alone; each limiter has its own
// buckets; and the buckets are the same on every node.
func TestLimitersSpendOnlyWhatPasses(t *testing.T) {
	t.Parallel()
	_, open := sharedNodes(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	l := Limits{VerifyPerIP: 2, VerifyIPWindow: time.Hour, VerifyPerUser: 1, VerifyUserWindow: time.Hour}
	a, b := newLimiters("verify", l, open()), newLimiters("verify", l, open())
	step := func(name string, ls *limiters, ip, user string, want bool) {
		t.Helper()
		ok, wait, err := ls.allow(ctx, ip, user, now)
		if err != nil || ok != want || (!ok && wait <= 0) {
			t.Fatalf("%s: ok=%v wait=%s err=%v, want ok=%v", name, ok, wait, err, want)
		}
	}
	step("alice's first code", a, "ip1", "alice", true)
	step("alice's second code, on the other node (her limit is one)", b, "ip1", "alice", false)
	step("bob's code from the same address: the refused one spent nothing", a, "ip1", "bob", true)
	step("carol's code: the address spent its two", b, "ip1", "carol", false)
	if ok, _, err := b.allow(ctx, "ip2", "carol", now); err != nil || !ok {
		t.Fatalf("carol from elsewhere: the refused attempt spent her token: %v %v", ok, err)
	}
	if ok, _, err := a.allowUser(ctx, "dave", now); err != nil || !ok {
		t.Fatalf("dave's first: %v %v", ok, err)
	}
	if ok, _, err := b.allowUser(ctx, "dave", now); err != nil || ok {
		t.Fatalf("dave's second on the other node: %v %v", ok, err)
	}
	step("another address after dave's: allowUser spent no address", a, "ip3", "", true)
	email := newLimiters("email", l, open())
	if ok, _, err := email.allow(ctx, "ip1", "", now); err != nil || !ok {
		t.Fatalf("another limiter shares the code limiter's buckets: %v %v", ok, err)
	}
}

// TestLimitsFailClosed: a gateway whose shared store cannot be reached, or that has
// none, checks no code: it answers that sign-in is unavailable.
func TestLimitsFailClosed(t *testing.T) {
	t.Parallel()
	conn, open := sharedNodes(t)
	limits := Limits{VerifyPerIP: 100, VerifyIPWindow: time.Hour, VerifyPerUser: 100, VerifyUserWindow: time.Hour}
	fake := &fakeChallenges{users: map[string]string{"c1": "u1"}, err: domain.ErrCodeInvalid}
	cut := handlerNode(t, fake, open(), limits)
	if status, _ := postCode(cut, "203.0.113.5"); status != http.StatusUnauthorized {
		t.Fatalf("before the store went away: %d", status)
	}
	conn.NC.Close()
	for name, s := range map[string]*Server{"store unreachable": cut, "no store": handlerNode(t, fake, nil, limits)} {
		if status, code := postCode(s, "203.0.113.5"); status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Errorf("%s: %d %s, want 503 unavailable", name, status, code)
		}
	}
	if len(fake.got) != 1 {
		t.Fatalf("%d codes checked, want only the one before the store went away", len(fake.got))
	}
	ls := newLimiters("verify", limits, nil)
	if ok, _, err := ls.allowUser(context.Background(), "u1", time.Now()); ok || !errors.Is(err, errLimitsUnavailable) {
		t.Fatalf("allowUser without a store: %v %v", ok, err)
	}
}
