package events

import (
	"testing"
	"time"
)

// TestReplayGuardStaysTheSizeOfItsWindow: over a long stream the guard's table
// holds about the window's ids, however many events went by.
func TestReplayGuardStaysTheSizeOfItsWindow(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var g ReplayGuard
	const every = 100 * time.Millisecond
	for i := 0; i < 200_000; i++ { // 5.5 hours of events, 9,000 in a window
		when := at.Add(time.Duration(i) * every)
		if g.Replayed(NewID(), when, when) {
			t.Fatalf("fresh event %d refused", i)
		}
	}
	window := int(ReplayWindow/every) + 1
	if n := g.Len(); n != window {
		t.Errorf("%d ids remembered, want the window's %d", n, window)
	}
	if len(g.slots) > 4*window {
		t.Errorf("table of %d slots for a window of %d ids", len(g.slots), window)
	}
}

// TestIDHashSpreadsIDs: ids of every length hash apart, the ids jfguard makes
// without a collision among many, and none to 0, the empty slot.
func TestIDHashSpreadsIDs(t *testing.T) {
	t.Parallel()
	seen := map[uint64]string{}
	add := func(id string) {
		h := idHash(id)
		if h == 0 {
			t.Fatalf("idHash(%q) = 0", id)
		}
		if other, ok := seen[h]; ok {
			t.Fatalf("idHash(%q) = idHash(%q)", id, other)
		}
		seen[h] = id
	}
	long := "0123456789abcdefghijklmnopqrstuvwxyz0123456789"
	for n := 0; n <= len(long); n++ {
		add(long[:n])
	}
	for i := 0; i < 200_000; i++ {
		add(NewID())
	}
}
