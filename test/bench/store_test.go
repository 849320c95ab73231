package bench

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

func eventCount() int {
	if v, err := strconv.Atoi(os.Getenv("JFGUARD_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

func BenchmarkProjectionRebuild(b *testing.B) {
	dir := b.TempDir()
	conn, err := embed.Start(embed.Options{StoreDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	st, err := events.OpenStore(ctx, conn.NC, events.StoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := eventCount()
	t0 := time.Now()
	if err := Seed(ctx, st.JetStream(), n, 1000); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d events in %s", n, time.Since(t0))
	if f := os.Getenv("JFGUARD_BENCH_CPUPROFILE"); f != "" {
		out, _ := os.Create(f)
		_ = pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		state := projections.NewState()
		if _, err := st.Scan(ctx, 1, func(ev events.Event) error { state.Apply(ev); return nil }); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.ReportMetric(float64(n)/el.Seconds(), "events/s")
		if state.LastSeq != uint64(n) {
			b.Fatalf("folded to %d", state.LastSeq)
		}
	}
}
