package events_test

import (
	"bytes"
	"testing"
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
