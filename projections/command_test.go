package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
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
