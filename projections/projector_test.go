package projections_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
)

type node struct {
	conn  *broker.Conn
	store *store.Store
	proj  *projections.Projector
}

func start(t *testing.T, dir string, clock projections.Clock) *node {
	t.Helper()
	conn, err := broker.Start(broker.Options{StoreDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), conn.NC, store.Options{LocalDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	p := projections.New(st, projections.Options{SnapshotDir: dir + "/snap", Clock: clock})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &node{conn, st, p}
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if err := n.proj.Stop(); err != nil {
		t.Fatal(err)
	}
	n.conn.Close()
}

// fixedClock advances by one second on every call, so events get distinct times.
func fixedClock(start time.Time) projections.Clock {
	var mu sync.Mutex
	t := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// signIns records a realistic history: users discovered, TOTP enrolled, sign-ins with
// challenges and verified sessions, a revoked session, failures from an address.
func signIns(t *testing.T, n *node, users int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < users; i++ {
		id := fmt.Sprintf("%032x", i+1)
		_, err := n.proj.ExecUser(ctx, id, events.Context{Actor: id}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			return []events.Payload{
				&events.UserDiscovered{Name: fmt.Sprintf("user%d", i)},
				&events.TOTPEnrollmentStarted{Secret: "v1.k.sealed"},
				&events.TOTPEnrolled{Step: 100},
				&events.ChallengeIssued{ChallengeID: "c" + id, TokenHash: "t" + id, Methods: []string{"totp"}, ExpiresAt: now.Add(5 * time.Minute)},
				&events.FactorVerified{ChallengeID: "c" + id, Method: "totp", TOTPStep: 101},
				&events.SessionVerified{TokenHash: "t" + id, Reason: "challenge", ChallengeID: "c" + id},
			}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := n.proj.ExecUser(ctx, id, events.Context{}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
				return domain.DecideRevokeSession(u, "t"+id, "signed_out")
			}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.proj.ExecAddress(ctx, events.IPAggregateID("203.0.113.9"), events.Context{IP: "203.0.113.9"}, func(a *domain.Address, now time.Time) ([]events.Payload, error) {
			return domain.DecideSignInFailed(a, domain.DefaultPolicy(), "nobody", "bad_password", now), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func snapshotOf(n *node) *projections.State {
	var out *projections.State
	n.proj.Read(func(s *projections.State) {
		// Deep copy through the projection's own snapshot format is overkill here:
		// compare the fields a decision uses.
		c := *s
		out = &c
	})
	return out
}

func TestRestartKeepsEveryEventAndTheSameState(t *testing.T) {
	t.Parallel()
	for _, withSnapshot := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot=%v", withSnapshot), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			n := start(t, dir, fixedClock(t0))
			signIns(t, n, 30)
			before := snapshotOf(n)
			n.stop(t)
			if !withSnapshot {
				removeAll(t, dir+"/snap")
			}
			n = start(t, dir, fixedClock(t0))
			defer n.stop(t)
			after := snapshotOf(n)
			if after.LastSeq != before.LastSeq || after.LastSeq == 0 {
				t.Fatalf("last seq %d after restart, %d before", after.LastSeq, before.LastSeq)
			}
			for _, f := range []string{"Users", "Addresses", "Tokens", "Names", "Counts"} {
				a := reflect.ValueOf(*before).FieldByName(f).Interface()
				b := reflect.ValueOf(*after).FieldByName(f).Interface()
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%s differs after restart", f)
				}
			}
			if got := before.Tokens["t"+fmt.Sprintf("%032x", 1)].Status; got != projections.TokenRevoked {
				t.Fatalf("token of user 1 status %d, want revoked", got)
			}
			if got := after.Tokens["t"+fmt.Sprintf("%032x", 2)].Status; got != projections.TokenVerified {
				t.Fatalf("token of user 2 status %d, want verified", got)
			}
		})
	}
}

// TestReadYourWrites: right after a command returns, the state the next decision
// reads includes its events, on this node, every time.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), nil)
	defer n.stop(t)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		seq, err := n.proj.ExecUser(ctx, "u1", events.Context{}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			return []events.Payload{&events.UserProfileChanged{Name: fmt.Sprintf("name%d", i)}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n.proj.Read(func(s *projections.State) {
			if s.LastSeq < seq || s.Users["u1"].Name != fmt.Sprintf("name%d", i) {
				t.Fatalf("after append %d the state is at %d with name %q", seq, s.LastSeq, s.Users["u1"].Name)
			}
		})
	}
}

// TestParallelCommandsOnOneUser: 100 parallel submissions of one decision that may
// happen only once (a single-use code): exactly one wins, the others re-decide on
// fresh state and see it spent.
func TestParallelCommandsOnOneUser(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), nil)
	defer n.stop(t)
	ctx := context.Background()
	if _, err := n.proj.ExecUser(ctx, "u1", events.Context{}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.RecoveryCodesGenerated{Codes: []events.RecoveryCode{{Tag: "AAAA", Hash: "h"}}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var wins, spent int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := n.proj.ExecUser(ctx, "u1", events.Context{}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
				if u.RecoveryUsed[0] {
					return nil, domain.ErrCodeReused
				}
				return []events.Payload{&events.RecoveryCodeUsed{Index: 0}}, nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch err {
			case nil:
				wins++
			case domain.ErrCodeReused:
				spent++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || spent != 99 {
		t.Fatalf("wins %d, refused %d; want 1 and 99", wins, spent)
	}
	n.proj.Read(func(s *projections.State) {
		if c := s.Counts["recovery_code_used"]; c != 1 {
			t.Fatalf("%d recovery_code_used events, want 1", c)
		}
	})
}

// TestListenersHearAnEventBeforeItsWriterStopsWaiting: a command that waits for its
// own write also sees what the listeners made of it (the policy refreshed, a
// subscriber's credential in force).
func TestListenersHearAnEventBeforeItsWriterStopsWaiting(t *testing.T) {
	t.Parallel()
	// given a projection with a listener that notes what waiters could see
	n := start(t, t.TempDir(), fixedClock(t0))
	defer n.stop(t)
	var mu sync.Mutex
	appliedWhenHeard := map[uint64]uint64{}
	n.proj.OnEvent(func(ev events.Event) {
		mu.Lock()
		appliedWhenHeard[ev.Seq] = n.proj.Applied()
		mu.Unlock()
	})
	// when a command appends and waits for its write
	seq, err := n.proj.ExecSystem(context.Background(), "settings", events.Context{Actor: "test"},
		&events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "api"})
	if err != nil {
		t.Fatal(err)
	}
	// then the listener heard the event before its sequence counted as applied
	mu.Lock()
	defer mu.Unlock()
	before, heard := appliedWhenHeard[seq]
	if !heard {
		t.Fatalf("the listener had not heard sequence %d when the command returned", seq)
	}
	if before >= seq {
		t.Fatalf("the listener heard sequence %d after waiters could see it (applied %d)", seq, before)
	}
}
