package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go"
)

// BenchmarkRawDelivery reads the shared stream without decoding a single event:
// the ceiling of every fold over it (rebuild, replay, verify). Three readers:
//
//   - ScanRaw: store.Store.ScanRaw, the pipelined ordered consumer that Scan,
//     Replay and Verify use;
//   - SubscribeRaw: store.Store.SubscribeRaw, what the Projector and the Notary
//     follow the stream with (a callback per message on the client's goroutine);
//   - PushOrdered: nats.go's legacy push-based ordered consumer, for comparison.
func BenchmarkRawDelivery(b *testing.B) {
	st := bigStore(b)
	ctx := context.Background()
	readers := []struct {
		name string
		read func(upTo uint64) (uint64, error)
	}{
		{"ScanRaw", func(upTo uint64) (uint64, error) {
			c := uint64(0)
			_, err := st.ScanRaw(ctx, 1, func(store.RawMsg) error { c++; return nil })
			return c, err
		}},
		{"ScanRawServer", func(upTo uint64) (uint64, error) {
			c := uint64(0)
			_, err := remoteStore(b).ScanRaw(ctx, 1, func(store.RawMsg) error { c++; return nil })
			return c, err
		}},
		{"SubscribeRaw", func(upTo uint64) (uint64, error) {
			c := uint64(0)
			done := make(chan struct{})
			sub, err := st.SubscribeRaw(ctx, 1, nil, func(m store.RawMsg) {
				c++
				if m.Seq == upTo {
					close(done)
				}
			})
			if err != nil {
				return 0, err
			}
			<-done
			sub.Stop()
			return c, nil
		}},
		{"PushOrdered", func(upTo uint64) (uint64, error) {
			js, err := st.Conn().JetStream()
			if err != nil {
				return 0, err
			}
			c := uint64(0)
			done := make(chan struct{})
			sub, err := js.Subscribe(events.SubjectPrefix+".>", func(m *nats.Msg) {
				c++
				if c == upTo {
					close(done)
				}
			}, nats.OrderedConsumer(), nats.DeliverAll())
			if err != nil {
				return 0, err
			}
			_ = sub.SetPendingLimits(-1, -1)
			<-done
			_ = sub.Unsubscribe()
			return c, nil
		}},
	}
	for _, r := range readers {
		b.Run(r.name, func(b *testing.B) {
			var took, cpu time.Duration
			var n uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				upTo := lastSeq(b, st)
				runtime.GC()
				stop := cpuProfile(b)
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				c, err := r.read(upTo)
				took += time.Since(start)
				cpu += cpuTime() - cpu0
				b.StopTimer()
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if c != upTo {
					b.Fatalf("delivered %d of %d", c, upTo)
				}
				n += c
				b.StartTimer()
			}
			b.ReportMetric(float64(n)/took.Seconds(), "events/s")
			// Process CPU per event (the NATS server and client included): on a
			// shared machine a steadier figure than the rate.
			b.ReportMetric(us(cpu)/float64(n), "cpu-µs/event")
		})
	}
}
