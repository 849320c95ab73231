package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	sharedstate "github.com/jfguard/jfguard/events/shared"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// memoryLimiters is the rate limit as one node kept it in its memory before the
// limits moved to the shared buckets: a token bucket per key in a map under a
// mutex, spent with ReserveN as the gateway did.
type memoryLimiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (l *memoryLimiters) allow(key string, n int, window time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(window/time.Duration(n)), n)
		l.m[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		return false
	}
	return true
}

// BenchmarkSharedLimit measures what a rate-limit check costs a request now that
// every node of a cluster spends from the same bucket: Allow on the shared Limits
// bucket of an embedded JetStream with file storage (a read, then a write
// conditional on it), against the in-memory token bucket one node kept before, side
// by side in one run, b.N checks of each over 1000 address keys that always pass
// (the write is the dearer path; a refusal writes nothing). ns/op is the shared
// check's; memory-ns/op the in-memory one's, shared/memory their ratio. A check runs
// once per second-factor attempt, not per proxied request: goal shared ≤ 1 ms.
func BenchmarkSharedLimit(b *testing.B) {
	conn, err := broker.Start(broker.Options{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	js, err := jetstream.New(conn.NC)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sharedstate.Open(ctx, js, 1)
	if err != nil {
		b.Fatal(err)
	}
	const keys, n, window = 1000, 1_000_000, time.Hour
	names := make([]string, keys)
	for i := range names {
		names[i] = sharedstate.Key("verify", "ip", fmt.Sprintf("198_51_%d_%d", i/256, i%256))
	}
	mem := &memoryLimiters{m: map[string]*rate.Limiter{}}
	now := time.Now()

	stop := cpuProfile(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if !mem.allow(names[i%keys], n, window, now) {
			b.Fatal("the in-memory bucket refused")
		}
	}
	memory := time.Since(start)
	start = time.Now()
	for i := range b.N {
		ok, _, err := st.Allow(ctx, names[i%keys], n, window, now)
		if err != nil || !ok {
			b.Fatalf("the shared bucket: ok=%v err=%v", ok, err)
		}
	}
	sharedTime := time.Since(start)
	b.StopTimer()
	stop()

	perShared := float64(sharedTime.Nanoseconds()) / float64(b.N)
	perMemory := float64(memory.Nanoseconds()) / float64(b.N)
	b.ReportMetric(perShared, "ns/op")
	b.ReportMetric(perMemory, "memory-ns/op")
	b.ReportMetric(perShared/perMemory, "shared/memory")
	b.Logf("%d checks: shared %.1f µs each, in memory %.3f µs: ratio %.0f (goal: shared ≤ 1 ms)", b.N, perShared/1e3, perMemory/1e3, perShared/perMemory)
}
