package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

func BenchmarkDecodeEvent(b *testing.B) {
	ev, _ := events.New("0123456789abcdef0123456789abcdef", time.Now(), events.Context{Actor: "0123456789abcdef0123456789abcdef", IP: "203.0.113.7", Device: &events.Device{ID: "dev", Name: "Chrome", Client: "Jellyfin Web", Version: "12.0.0"}},
		&events.SessionVerified{TokenHash: "00000000000000000000000000000000000000000000000000000000000abcde", Reason: "challenge", ChallengeID: "c123"})
	data, _ := json.Marshal(ev)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e, err := events.DecodeMsg("s", 1, data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := events.Decode(e); err != nil {
			b.Fatal(err)
		}
	}
}
