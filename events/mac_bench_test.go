package events_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// BenchmarkVerifyMAC: the cost of checking one event's MAC (a 400-byte event).
func BenchmarkVerifyMAC(b *testing.B) {
	a := testAuth(b, "1", 7)
	data := bytes.Repeat([]byte("x"), 400)
	mac := a.Sign(data)
	b.ReportAllocs()
	for b.Loop() {
		if a.Verify(data, mac) != 1 {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkReplayGuard: the cost of the replay check per event in a rebuild whose
// window holds n events (a stream stored faster than the window turns over keeps
// them all), ids as jfguard makes them.
func BenchmarkReplayGuard(b *testing.B) {
	for _, n := range []int{1_000, 300_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = events.NewID()
			}
			at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for b.Loop() {
				var g events.ReplayGuard
				for i, id := range ids {
					t := at.Add(time.Duration(i) * time.Microsecond)
					if g.Replayed(id, t, t) {
						b.Fatal("a fresh id was refused")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkOnSubject: the check that an authentic event sits on its own subject.
func BenchmarkOnSubject(b *testing.B) {
	ev := events.Must(strings.Repeat("a", 32), time.Now(), events.Context{}, &events.UserDiscovered{Name: "x"})
	subject := ev.PublishSubject()
	b.ReportAllocs()
	for b.Loop() {
		if !ev.OnSubject(subject) {
			b.Fatal("not on its subject")
		}
	}
}
