package events_test

import (
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestReplayGuardCatchesCopiesWhateverTheClocks: a copy of an authentic event is
// refused by its age or by its id, including when the writer's clock ran ahead of
// the server's, so the copy passes the age test longer than ReplayWindow after the
// original was stored; fresh events, also late ones, pass.
func TestReplayGuardCatchesCopiesWhateverTheClocks(t *testing.T) {
	t.Parallel()
	stored := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var g events.ReplayGuard
	ahead := events.NewID()
	at := stored.Add(10 * time.Minute) // the writer's clock is 10 minutes ahead
	for _, tc := range []struct {
		name     string
		id       string
		at       time.Time
		stored   time.Time
		replayed bool
	}{
		{"the original", ahead, at, stored, false},
		{"a copy a minute later", ahead, at, stored.Add(time.Minute), true},
		{"a fresh event 16 minutes later", events.NewID(), stored.Add(16 * time.Minute), stored.Add(16 * time.Minute), false},
		{"a copy 20 minutes later, 10 after its time", ahead, at, stored.Add(20 * time.Minute), true},
		{"a copy 25 minutes later, by its age", ahead, at, stored.Add(25*time.Minute + time.Nanosecond), true},
		{"a fresh event", events.NewID(), stored.Add(26 * time.Minute), stored.Add(26 * time.Minute), false},
		{"a fresh event stored 15 minutes after its time", events.NewID(), stored.Add(26 * time.Minute), stored.Add(41 * time.Minute), false},
	} {
		if got := g.Replayed(tc.id, tc.at, tc.stored); got != tc.replayed {
			t.Errorf("%s: replayed %v, want %v", tc.name, got, tc.replayed)
		}
	}
}

// TestReplayGuardSurvivesASnapshot: a guard restored from its encoding still
// refuses a copy of an event seen before it was saved, forgets nothing within the
// window and refuses an encoding that is cut short.
func TestReplayGuardSurvivesASnapshot(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var g events.ReplayGuard
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = events.NewID()
		when := at.Add(time.Duration(i) * time.Second)
		if g.Replayed(ids[i], when, when) {
			t.Fatalf("fresh event %d refused", i)
		}
	}
	data, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back events.ReplayGuard
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	// 1000 s of events: those of the last 15 minutes are remembered.
	if n, want := back.Len(), g.Len(); n != want || n != int(events.ReplayWindow/time.Second)+1 {
		t.Errorf("restored guard remembers %d ids, the saved one %d, want %d", n, want, int(events.ReplayWindow/time.Second)+1)
	}
	now := at.Add(1000 * time.Second)
	if !back.Replayed(ids[999], at.Add(999*time.Second), now) {
		t.Error("a copy of an event seen before the snapshot passed")
	}
	if back.Replayed(events.NewID(), now, now) {
		t.Error("a fresh event was refused after the restore")
	}
	if err := back.UnmarshalBinary(data[:len(data)-1]); err == nil {
		t.Error("an encoding cut short was accepted")
	}
}
