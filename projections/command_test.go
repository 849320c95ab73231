package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
)

// TestCommandsApplyWhole: the events of a command are applied only when its last
// event is in the stream; a command cut short (its writer crashed after the first
// event) is never applied, and the next decision on that user still appends.
func TestCommandsApplyWhole(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), fixedClock(t0))
	defer n.stop(t)
	ctx := context.Background()
	uid := "0123456789abcdef0123456789abcdef"
	if _, err := n.proj.ExecUser(ctx, uid, events.Context{}, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.UserDiscovered{Name: "alice"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	// The first event of a two-event command, as a crashed writer left it.
	part, _ := events.New(uid, t0, events.Context{}, &events.TOTPEnrollmentStarted{Secret: "v1.x.y"})
	part.Cmd = &events.CommandRef{ID: "cut-short", I: 1, N: 2}
	var version uint64
	n.proj.Read(func(s *projections.State) { version = s.Users[uid].Version })
	seq, err := n.store.Append(ctx, version, part)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.proj.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	n.proj.Read(func(s *projections.State) {
		if s.Users[uid].PendingTOTP != "" {
			t.Fatal("half a command was applied")
		}
	})
	// A decision made now appends after the cut-short event, and its own two events
	// apply together.
	if _, err := n.proj.ExecUser(ctx, uid, events.Context{}, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.TOTPEnrollmentStarted{Secret: "v1.a.b"}, &events.TOTPEnrolled{Step: 7}}, nil
	}); err != nil {
		t.Fatalf("deciding after a cut-short command: %v", err)
	}
	n.proj.Read(func(s *projections.State) {
		u := s.Users[uid]
		if u.TOTP == nil || u.TOTP.Secret != "v1.a.b" || s.Incomplete != 1 || len(s.Pending) != 0 {
			t.Fatalf("after the complete command: totp %+v, incomplete %d, pending %d", u.TOTP, s.Incomplete, len(s.Pending))
		}
	})
	// The raw log shows every event, including the one that never counted.
	evs, _, _ := n.store.Load(ctx, events.AggUser, uid)
	if len(evs) != 4 || evs[1].Cmd == nil || evs[2].Cmd == nil || evs[2].Cmd.N != 2 {
		t.Fatalf("stream holds %d events: %+v", len(evs), evs)
	}
}

// TestSigningInAgainReplacesTheDeviceSession: Jellyfin ends a device's earlier
// session when it signs in again, and so does the gate.
func TestSigningInAgainReplacesTheDeviceSession(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), fixedClock(t0))
	defer n.stop(t)
	ctx := context.Background()
	uid := "0123456789abcdef0123456789abcdef"
	tv := &events.Device{ID: "tv-1", Client: "Jellyfin for Android TV", Name: "Living room"}
	for _, h := range []string{"first", "second"} {
		if _, err := n.proj.ExecUser(ctx, uid, events.Context{Device: tv}, func(*domain.User, time.Time) ([]events.Payload, error) {
			return []events.Payload{&events.SessionVerified{TokenHash: h, Reason: domain.ReasonPairing}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	n.proj.Read(func(s *projections.State) {
		if s.Tokens["first"].Status != projections.TokenRevoked || s.Tokens["second"].Status != projections.TokenVerified {
			t.Fatalf("tokens after signing in again: %+v", s.Tokens)
		}
		if len(s.Users[uid].Sessions) != 1 {
			t.Fatalf("%d sessions listed, want 1", len(s.Users[uid].Sessions))
		}
	})
}

// TestPruningForgetsWhatNoLongerMatters: addresses whose failures are a day old and
// revoked tokens a month old are dropped as the fold goes on, the same way in a replay.
func TestPruningForgetsWhatNoLongerMatters(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), fixedClock(t0))
	defer n.stop(t)
	ctx := context.Background()
	if _, err := n.proj.ExecAddress(ctx, "198_51_100_7", events.Context{}, func(a *domain.Address, now time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.SignInFailed{Username: "x", Reason: "bad_password"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Two days later, the next event reaches a pruning point.
	ev, _ := events.New("node", t0.Add(48*time.Hour), events.Context{}, &events.NodeStarted{Node: "n"})
	if _, err := n.store.Append(ctx, store.AnySeq, ev); err != nil {
		t.Fatal(err)
	}
	last, _ := n.store.LastSeq(ctx)
	if err := n.proj.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	n.proj.Read(func(s *projections.State) {
		if s.Addresses["198_51_100_7"] != nil {
			t.Fatal("an address idle for two days was kept")
		}
	})
	replayed, err := projections.Replay(ctx, n.store, t0.Add(72*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.Addresses["198_51_100_7"] != nil {
		t.Fatal("the replay kept what the live fold pruned")
	}
}
