package projections_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"reflect"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// copyState deep-copies the live state through gob.
func copyState(t *testing.T, n *node) *projections.State {
	t.Helper()
	var buf bytes.Buffer
	n.proj.Read(func(s *projections.State) {
		if err := gob.NewEncoder(&buf).Encode(s); err != nil {
			t.Fatal(err)
		}
	})
	var out projections.State
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}

type step struct {
	user    string
	payload []events.Payload
}

// TestReplayEqualsStateAtInstant: given a history, when replaying to the instant
// after each step, then the state equals the live state that existed at that instant,
// and the named facts hold.
func TestReplayEqualsStateAtInstant(t *testing.T) {
	t.Parallel()
	u := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name  string
		steps []step
		then  []func(t *testing.T, s *projections.State) // one check per step
	}{
		{
			name: "authenticator enrolled then 2FA disabled",
			steps: []step{
				{u, []events.Payload{&events.UserDiscovered{Name: "alice"}}},
				{u, []events.Payload{&events.TOTPEnrollmentStarted{Secret: "v1.x.y"}, &events.TOTPEnrolled{Step: 5}}},
				{u, []events.Payload{&events.TwoFactorDisabled{}}},
			},
			then: []func(*testing.T, *projections.State){
				func(t *testing.T, s *projections.State) {
					want(t, s.UserByName("alice") != nil && s.Users[u].TOTP == nil, "alice known, no TOTP")
				},
				func(t *testing.T, s *projections.State) { want(t, s.Users[u].TOTP != nil, "TOTP enrolled") },
				func(t *testing.T, s *projections.State) { want(t, s.Users[u].TOTP == nil, "TOTP gone") },
			},
		},
		{
			name: "session verified then revoked",
			steps: []step{
				{u, []events.Payload{&events.UserDiscovered{Name: "bob"}, &events.ChallengeIssued{ChallengeID: "c1", TokenHash: "th", ExpiresAt: t0.Add(time.Hour)}}},
				{u, []events.Payload{&events.FactorVerified{ChallengeID: "c1", Method: "totp"}, &events.SessionVerified{TokenHash: "th", Reason: "challenge", ChallengeID: "c1"}}},
				{u, []events.Payload{&events.SessionRevoked{TokenHash: "th", Reason: "admin"}}},
			},
			then: []func(*testing.T, *projections.State){
				func(t *testing.T, s *projections.State) {
					want(t, s.Tokens["th"].Status == projections.TokenPending, "token pending")
				},
				func(t *testing.T, s *projections.State) {
					want(t, s.Tokens["th"].Status == projections.TokenVerified, "token verified")
				},
				func(t *testing.T, s *projections.State) {
					want(t, s.Tokens["th"].Status == projections.TokenRevoked, "token revoked")
				},
			},
		},
		{
			name: "address banned then unbanned",
			steps: []step{
				{"", []events.Payload{&events.SignInFailed{Username: "x", Reason: "bad_password"}}},
				{"", []events.Payload{&events.IPBanned{Until: t0.Add(24 * time.Hour), Reason: "test"}}},
				{"", []events.Payload{&events.IPUnbanned{}}},
			},
			then: []func(*testing.T, *projections.State){
				func(t *testing.T, s *projections.State) { want(t, !s.Address("198_51_100_7").Banned(t0), "not banned") },
				func(t *testing.T, s *projections.State) {
					want(t, s.Address("198_51_100_7").Banned(t0.Add(time.Hour)), "banned")
				},
				func(t *testing.T, s *projections.State) {
					want(t, !s.Address("198_51_100_7").Banned(t0.Add(time.Hour)), "unbanned")
				},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := start(t, t.TempDir(), fixedClock(t0))
			defer n.stop(t)
			ctx := context.Background()
			var instants []time.Time
			var live []*projections.State
			for _, st := range tc.steps {
				var seq uint64
				var err error
				if st.user != "" {
					seq, err = n.proj.ExecUser(ctx, st.user, events.Context{}, func(*domain.User, time.Time) ([]events.Payload, error) { return st.payload, nil })
				} else {
					seq, err = n.proj.ExecAddress(ctx, "198_51_100_7", events.Context{}, func(*domain.Address, time.Time) ([]events.Payload, error) { return st.payload, nil })
				}
				if err != nil {
					t.Fatal(err)
				}
				s := copyState(t, n)
				if s.LastSeq != seq {
					t.Fatalf("state at %d after append %d", s.LastSeq, seq)
				}
				live = append(live, s)
				instants = append(instants, s.LastTime)
			}
			for i, at := range instants {
				got, err := projections.Replay(ctx, n.store, at, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"Users", "Addresses", "Tokens", "Names", "Counts", "LastSeq"} {
					a := reflect.ValueOf(*live[i]).FieldByName(f).Interface()
					b := reflect.ValueOf(*got).FieldByName(f).Interface()
					if !reflect.DeepEqual(a, b) {
						t.Fatalf("step %d: replayed %s differs from the live state at %s:\nlive:   %#v\nreplay: %#v", i, f, at, a, b)
					}
				}
				tc.then[i](t, got)
			}
		})
	}
}

func want(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Fatalf("expected: %s", what)
	}
}
