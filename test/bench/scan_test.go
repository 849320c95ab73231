package bench

import (
	"context"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
)

func BenchmarkRawScan(b *testing.B) {
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
	if err := Seed(ctx, st.JetStream(), n, 1000); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c := 0
		if _, err := st.ScanRaw(ctx, 1, func(m events.RawMsg) error { c++; return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(c)/time.Since(start).Seconds(), "msgs/s")
	}
}
