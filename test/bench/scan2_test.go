package bench

import (
	"context"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/nats-io/nats.go"
)

func BenchmarkPushScan(b *testing.B) {
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
	js, _ := conn.NC.JetStream()
	if f := os.Getenv("JFGUARD_BENCH_CPUPROFILE"); f != "" {
		out, _ := os.Create(f)
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		done := make(chan struct{})
		c := 0
		sub, err := js.Subscribe("jfguard.events.>", func(m *nats.Msg) {
			c++
			if c == n {
				close(done)
			}
		}, nats.OrderedConsumer(), nats.DeliverAll())
		if err != nil {
			b.Fatal(err)
		}
		sub.SetPendingLimits(-1, -1)
		<-done
		sub.Unsubscribe()
		b.ReportMetric(float64(c)/time.Since(start).Seconds(), "msgs/s")
	}
}

func BenchmarkPullScan(b *testing.B) {
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
		done := make(chan struct{})
		c := 0
		sub, err := st.SubscribeRaw(ctx, 1, nil, func(m events.RawMsg) {
			c++
			if c == n {
				close(done)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		<-done
		sub.Stop()
		b.ReportMetric(float64(c)/time.Since(start).Seconds(), "msgs/s")
	}
}
