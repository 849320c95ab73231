package gateway

import (
	"strconv"
	"testing"
	"time"
)

// TestRefusalMemo: a recorded refusal stands for the next ones for a minute, not
// before it was recorded (a clock that went back) nor after; when full, the memo
// forgets the expired ones first, and remembers the newest.
func TestRefusalMemo(t *testing.T) {
	t.Parallel()
	var m refusalMemo
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if m.recent("a", now) {
		t.Fatal("an empty memo remembers")
	}
	m.note("a", now)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {refusalMemoWindow - time.Nanosecond, true}, {refusalMemoWindow, false}, {-time.Second, false}} {
		if got := m.recent("a", now.Add(tc.at)); got != tc.want {
			t.Errorf("%v after: recent %v, want %v", tc.at, got, tc.want)
		}
	}
	if m.recent("b", now) {
		t.Error("another key is remembered")
	}
	for i := range refusalMemoMax - 1 {
		m.note(strconv.Itoa(i), now.Add(-refusalMemoWindow))
	}
	later := now.Add(time.Second)
	m.note("new", later)
	if len(m.seen) != 2 || !m.recent("a", later) || !m.recent("new", later) {
		t.Errorf("a full memo kept %d entries; want the two still in their window", len(m.seen))
	}
}
