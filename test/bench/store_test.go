package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkAppend: one event per Store.Append with the per-aggregate expectation
// (expected last sequence of the writer's aggregate), sequentially and from 8
// writers on distinct aggregates, with the embedded server fsyncing every write
// (sync=always) or on a timer (sync=interval, the default). For comparison,
// writers=1,batch=2 appends two events per call, as a sign-in decision does
// (factor_verified + session_verified): Store.Append then uses JetStream's atomic
// batch publish. events/s counts events; p50/p99 are per Append call.
func BenchmarkAppend(b *testing.B) {
	total := envInt("JFGUARD_BENCH_APPENDS", 3000)
	for _, mode := range []string{broker.SyncAlways, broker.SyncInterval} {
		b.Run("sync="+mode, func(b *testing.B) {
			conn, err := broker.Start(broker.Options{StoreDir: b.TempDir(), Sync: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			ctx := context.Background()
			st, err := store.Open(ctx, conn.NC, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			for _, writers := range []int{1, 8} {
				b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
					benchAppend(b, st, writers, total, 1)
				})
			}
			b.Run("writers=1,batch=2", func(b *testing.B) {
				benchAppend(b, st, 1, min(total, 300), 2)
			})
		})
	}
}

func benchAppend(b *testing.B, st *store.Store, writers, total, batch int) {
	ctx := context.Background()
	per := total / writers
	var lat []time.Duration
	var wall time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		// Events are built up front: the timed part is the append alone.
		evs := make([][]events.Event, writers)
		now := time.Now()
		for w := range evs {
			agg := events.NewID() // a fresh aggregate per writer and iteration
			evs[w] = make([]events.Event, per*batch)
			for i := range evs[w] {
				evs[w][i] = events.Must(agg, now, events.Context{Actor: agg, IP: "203.0.113.7",
					Device: &events.Device{ID: "dev", Name: "Chrome", Client: "Jellyfin Web", Version: "12.0.0"}},
					&events.ChallengeIssued{ChallengeID: events.NewID(), TokenHash: fmt.Sprintf("%064x", i),
						Token: "v1.0123456789ab.dG9rZW4gYnl0ZXM", Methods: []string{"totp", "recovery"}, ExpiresAt: now.Add(5 * time.Minute)})
			}
		}
		lats := make([][]time.Duration, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				expected := uint64(0) // a new aggregate
				l := make([]time.Duration, 0, per)
				for k := 0; k+batch <= len(evs[w]); k += batch {
					t0 := time.Now()
					seq, err := st.Append(ctx, expected, evs[w][k:k+batch]...)
					l = append(l, time.Since(t0))
					if err != nil {
						errs[w] = err
						return
					}
					expected = seq
				}
				lats[w] = l
			}(w)
		}
		wg.Wait()
		wall += time.Since(start)
		b.StopTimer()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		for _, l := range lats {
			lat = append(lat, l...)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(len(lat)*batch)/wall.Seconds(), "events/s")
	b.ReportMetric(us(percentile(lat, 0.50)), "p50-µs")
	b.ReportMetric(us(percentile(lat, 0.99)), "p99-µs")
}

// BenchmarkProjectionRebuild folds the whole shared stream into a fresh
// projections.State (Store.Scan + State.Apply); goal ≥ 200,000 events/s. In the same
// run, untimed, it reads the same stream without decoding (Store.ScanRaw): the
// delivery rate the fold cannot exceed.
func BenchmarkProjectionRebuild(b *testing.B) {
	st := bigStore(b)
	ctx := context.Background()
	var rebuilt, raw, cpu, rawCPU time.Duration
	var n, rawN uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		want := lastSeq(b, st)
		runtime.GC()
		t0, c0 := time.Now(), cpuTime()
		// The baseline: delivering the same stream through the NATS server, without
		// decoding (what a replay from an external cluster is bounded by).
		c := uint64(0)
		if _, err := remoteStore(b).ScanRaw(ctx, 1, func(store.RawMsg) error { c++; return nil }); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
		rawCPU += cpuTime() - c0
		rawN += c
		runtime.GC()
		stop := cpuProfile(b)
		b.StartTimer()

		start, cpu0 := time.Now(), cpuTime()
		state := projections.NewState()
		if _, err := st.Scan(ctx, 1, func(ev events.Event) error { state.Apply(ev); return nil }); err != nil {
			b.Fatal(err)
		}
		rebuilt += time.Since(start)
		cpu += cpuTime() - cpu0

		b.StopTimer()
		stop()
		if state.LastSeq != want || state.Skipped != 0 {
			b.Fatalf("folded to %d (want %d), %d skipped", state.LastSeq, want, state.Skipped)
		}
		n += want
		b.StartTimer()
	}
	rate, rawRate := float64(n)/rebuilt.Seconds(), float64(rawN)/raw.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rawRate, "raw-events/s")
	b.ReportMetric(rate/rawRate, "fold/raw")
	b.ReportMetric(us(cpu)/float64(n), "cpu-µs/event")
	b.ReportMetric(us(rawCPU)/float64(rawN), "raw-cpu-µs/event")
	b.Logf("%d events: fold %.0f events/s (goal ≥ 200000), raw delivery through the server %.0f events/s; process CPU per event: fold %.1f µs, raw %.1f µs",
		n/uint64(b.N), rate, rawRate, us(cpu)/float64(n), us(rawCPU)/float64(rawN))
}

// BenchmarkColdStartWithSnapshot: a Projector with a snapshot directory catches up
// with the shared stream and writes its snapshot; then, with a tail of events
// appended after the snapshot, a fresh Projector.Start (load the snapshot, catch up
// the tail) is timed; goal ≤ 1 s.
func BenchmarkColdStartWithSnapshot(b *testing.B) {
	st := bigStore(b)
	ctx := context.Background()
	tail := envInt("JFGUARD_BENCH_TAIL", 1000)
	b.StopTimer()
	opts := projections.Options{SnapshotDir: b.TempDir(), Logger: discardLog}
	fromScratch := primeSnapshot(b, st, opts)
	var started, cpu time.Duration
	var snapBytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		snapBytes = dirSize(opts.SnapshotDir)
		if err := appendTail(ctx, st, i, tail); err != nil {
			b.Fatal(err)
		}
		want := lastSeq(b, st)
		settleMemory()
		stop := cpuProfile(b)
		b.StartTimer()

		start, cpu0 := time.Now(), cpuTime()
		p := projections.New(st, opts)
		if err := p.Start(ctx); err != nil {
			b.Fatal(err)
		}
		started += time.Since(start)
		cpu += cpuTime() - cpu0

		b.StopTimer()
		stop()
		if got := p.Applied(); got < want {
			b.Fatalf("started at %d, want %d", got, want)
		}
		if err := p.Stop(); err != nil { // writes the snapshot the next iteration starts from
			b.Fatal(err)
		}
		b.StartTimer()
	}
	sec := started.Seconds() / float64(b.N)
	b.ReportMetric(sec, "s")
	b.ReportMetric(float64(snapBytes)/mib, "snapshot-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
	b.ReportMetric(fromScratch.Seconds(), "no-snapshot-s")
	b.Logf("start with snapshot + %d-event tail: %.3f s (goal ≤ 1 s), %.3f s of CPU; snapshot %.1f MiB; first start without snapshot %.1f s",
		tail, sec, cpu.Seconds()/float64(b.N), float64(snapBytes)/mib, fromScratch.Seconds())
}

// primeSnapshot starts a Projector on the whole stream (no snapshot yet), writes
// its snapshot and stops it, returning how long the start took. Its state is
// garbage once this returns, so it does not weigh on the timed start.
func primeSnapshot(b *testing.B, st *store.Store, opts projections.Options) time.Duration {
	b.Helper()
	first := projections.New(st, opts)
	t0 := time.Now()
	if err := first.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	if err := first.Snapshot(); err != nil {
		b.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		b.Fatal(err)
	}
	return took
}

// appendTail appends n events of the seed's mix (challenges, factors, sessions,
// revocations, failed sign-ins) for the seed's users, through Store.Append.
func appendTail(ctx context.Context, st *store.Store, round, n int) error {
	base, err := st.LastSeq(ctx)
	if err != nil {
		return err
	}
	ec := events.Context{IP: "203.0.113.7", Device: &events.Device{ID: "dev", Name: "Chrome", Client: "Jellyfin Web", Version: "12.0.0"}}
	for i := 0; i < n; i++ {
		// The tail continues the seed's timeline, so it does not age the seeded
		// history past what the projections keep.
		now := SeedStart.Add(time.Duration(base+uint64(i)) * 10 * time.Millisecond)
		uid := fmt.Sprintf("%032x", (i/5)%seedUsers+1)
		cid := fmt.Sprintf("tail%d-%d", round, i/5)
		th := fmt.Sprintf("%064x", uint64(round+1)<<40|uint64(i/5))
		agg := uid
		var p events.Payload
		switch i % 5 {
		case 0:
			p = &events.ChallengeIssued{ChallengeID: cid, TokenHash: th, Token: "v1.0123456789ab.dG9rZW4gYnl0ZXM", Methods: []string{"totp"}, ExpiresAt: now.Add(5 * time.Minute)}
		case 1:
			p = &events.FactorVerified{ChallengeID: cid, Method: "totp"}
		case 2:
			p = &events.SessionVerified{TokenHash: th, Reason: "challenge", ChallengeID: cid}
		case 3:
			p = &events.SessionRevoked{TokenHash: th, Reason: "signed_out"}
		case 4:
			agg = events.IPAggregateID(fmt.Sprintf("198.51.%d.%d", (i/256)%256, i%256))
			p = &events.SignInFailed{Username: "someone", Reason: "bad_password"}
		}
		ec.Actor = uid
		ev, err := events.New(agg, now, ec, p)
		if err != nil {
			return err
		}
		if _, err := st.Append(ctx, store.AnySeq, ev); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkAuditVerify: the shared stream sealed by a Notary (a checkpoint every
// 1000 events), then audit.Verify over all of it; goal ≥ 200,000 events/s.
func BenchmarkAuditVerify(b *testing.B) {
	st := bigStore(b)
	ctx := context.Background()
	b.StopTimer()
	key := auditKey()
	t0 := time.Now()
	sealed, err := sealAll(ctx, st, key)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("notary sealed through %d in %s", sealed, time.Since(t0).Round(time.Millisecond))
	pub := key.Public().(ed25519.PublicKey)
	var took, cpu time.Duration
	var n uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		stop := cpuProfile(b)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{pub}})
		took += time.Since(start)
		cpu += cpuTime() - cpu0
		b.StopTimer()
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Unsealed != 0 || rep.Events < sealed {
			b.Fatalf("verify: %+v", rep)
		}
		n += rep.Events
		b.StartTimer()
	}
	rate := float64(n) / took.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(us(cpu)/float64(n), "cpu-µs/event")
	b.Logf("verified %d events: %.0f events/s (goal ≥ 200000); process CPU %.1f µs per event", n/uint64(b.N), rate, us(cpu)/float64(n))
}

// sealAll runs a Notary until its checkpoints cover the whole stream.
func sealAll(ctx context.Context, st *store.Store, key ed25519.PrivateKey) (uint64, error) {
	target, err := st.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	n := audit.NewNotary(st, key, audit.NotaryOptions{Every: 1000, Interval: time.Second, Logger: discardLog})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(rctx) }()
	deadline := time.Now().Add(30 * time.Minute)
	for {
		to, err := lastCheckpoint(ctx, st.JetStream())
		if err == nil && to >= target {
			break
		}
		select {
		case err := <-done:
			cancel()
			return 0, fmt.Errorf("notary stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			return 0, fmt.Errorf("notary did not seal through %d (at %d)", target, to)
		}
	}
	cancel()
	return target, <-done
}

// lastCheckpoint is the last event sequence the audit stream's newest checkpoint covers.
func lastCheckpoint(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, audit.StreamName)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.LastSeq == 0 {
		return 0, err
	}
	m, err := s.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return 0, err
	}
	var cp audit.Checkpoint
	if err := json.Unmarshal(m.Data, &cp); err != nil {
		return 0, err
	}
	return cp.ToSeq, nil
}

// BenchmarkProjectionRSS: memory held by the projections of the shared stream:
// the growth of the process's RSS (VmRSS) from before the fold, and the Go heap in
// use, both after a collection, right after the fold and again once NATS has
// dropped its block cache (JFGUARD_BENCH_SETTLE).
func BenchmarkProjectionRSS(b *testing.B) {
	st := bigStore(b)
	ctx := context.Background()
	settle := envDuration("JFGUARD_BENCH_SETTLE", 11*time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		settleMemory()
		rss0, heap0 := rss(), heapInuse()
		b.StartTimer()
		state := projections.NewState()
		if _, err := st.Scan(ctx, 1, func(ev events.Event) error { state.Apply(ev); return nil }); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		settleMemory()
		rssNow, heapNow := rss(), heapInuse()
		time.Sleep(settle)
		settleMemory()
		rss1, heap1 := rss(), heapInuse()
		runtime.KeepAlive(state)
		if i == b.N-1 {
			b.ReportMetric(float64(rss1-rss0)/mib, "rss-MiB")
			b.ReportMetric(float64(int64(heap1)-int64(heap0))/mib, "heap-MiB")
			b.ReportMetric(float64(heap1)/mib, "heap-total-MiB")
			b.ReportMetric(float64(rssNow-rss0)/mib, "rss-unsettled-MiB")
			challenges, sessions := 0, 0
			for _, u := range state.Users {
				challenges += len(u.Challenges)
				sessions += len(u.Sessions)
			}
			b.Logf("%d events, %d users, %d challenges and %d sessions kept in them, %d tokens, %d addresses: RSS +%.1f MiB (+%.1f MiB before NATS's cache expired), heap in use +%.1f MiB (%.1f MiB total; %.1f MiB right after the fold)",
				state.LastSeq, len(state.Users), challenges, sessions, len(state.Tokens), len(state.Addresses),
				float64(rss1-rss0)/mib, float64(rssNow-rss0)/mib, float64(int64(heap1)-int64(heap0))/mib, float64(heap1)/mib, float64(heapNow)/mib)
		}
		b.StartTimer()
	}
}

// BenchmarkEventMAC measures what authenticating events costs, side by side in one
// run: appends (8 writers, sync=interval) to a store that signs every event against
// one that does not, on the same server, alternating; and the fold of the shared
// stream reading it with MAC checks against without. Goal: each ratio ≥ 0.95 (the
// MAC costs at most 5 %).
func BenchmarkEventMAC(b *testing.B) {
	total := envInt("JFGUARD_BENCH_APPENDS", 3000)
	b.Run("append", func(b *testing.B) {
		conn, err := broker.Start(broker.Options{StoreDir: b.TempDir(), Sync: broker.SyncInterval})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		ctx := context.Background()
		signed, err := store.Open(ctx, conn.NC, store.Options{Auth: benchAuth})
		if err != nil {
			b.Fatal(err)
		}
		plain, err := store.Open(ctx, conn.NC, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var with, without float64
		for i := 0; i < b.N; i++ {
			for round := 0; round < 3; round++ {
				without += appendRate(b, plain, 8, total)
				with += appendRate(b, signed, 8, total)
			}
		}
		rounds := float64(3 * b.N)
		b.ReportMetric(with/rounds, "mac-events/s")
		b.ReportMetric(without/rounds, "plain-events/s")
		b.ReportMetric(with/without, "mac/plain")
		b.Logf("append, 8 writers: %.0f events/s with MACs, %.0f without: ratio %.3f (goal ≥ 0.95)", with/rounds, without/rounds, with/without)
	})
	b.Run("rebuild", func(b *testing.B) {
		checked := bigStore(b)
		unchecked := shared.unchecked
		ctx := context.Background()
		// Each fold reports its rate and the process CPU it spent per event: on a
		// shared machine the CPU figure is the steadier one.
		fold := func(st *store.Store) (float64, float64) {
			runtime.GC()
			state := projections.NewState()
			start, cpu0 := time.Now(), cpuTime()
			if _, err := st.ScanBatches(ctx, 1, func(evs []events.Event) error { state.ApplyAll(evs); return nil }); err != nil {
				b.Fatal(err)
			}
			d, cpu := time.Since(start), cpuTime()-cpu0
			if state.Skipped != 0 || state.ForgedTotal != 0 {
				b.Fatalf("%d skipped, %d refused as forged", state.Skipped, state.ForgedTotal)
			}
			n := float64(state.LastSeq)
			return n / d.Seconds(), us(cpu) / n
		}
		// Each round runs both folds, one right after the other, the first one
		// alternating; the median of the rounds' ratios is the figure least moved
		// by other work on the machine.
		// A first pair, not counted, lets the server finish writing the seeded
		// stream and warms the caches for both.
		fold(unchecked)
		fold(checked)
		var with, without, cpuWith, cpuWithout float64
		var rateRatios, cpuRatios []float64
		for i := 0; i < b.N; i++ {
			for round := 0; round < envInt("JFGUARD_BENCH_ROUNDS", 3); round++ {
				var rw, cw, rc, cc float64
				if round%2 == 0 { // alternate which goes first: neither gains from its place
					rw, cw = fold(unchecked)
					rc, cc = fold(checked)
				} else {
					rc, cc = fold(checked)
					rw, cw = fold(unchecked)
				}
				without, cpuWithout, with, cpuWith = without+rw, cpuWithout+cw, with+rc, cpuWith+cc
				rateRatios, cpuRatios = append(rateRatios, rc/rw), append(cpuRatios, cw/cc)
			}
		}
		n := float64(len(rateRatios))
		b.ReportMetric(with/n, "mac-events/s")
		b.ReportMetric(without/n, "plain-events/s")
		b.ReportMetric(with/without, "mac/plain")
		b.ReportMetric(median(rateRatios), "mac/plain-median")
		b.ReportMetric(cpuWith/n, "mac-cpu-µs/event")
		b.ReportMetric(cpuWithout/n, "plain-cpu-µs/event")
		b.ReportMetric(cpuWithout/cpuWith, "cpu-ratio")
		b.ReportMetric(median(cpuRatios), "cpu-ratio-median")
		b.Logf("rebuild of %d events: %.0f events/s checking MACs and replays, %.0f without: ratio %.3f (rounds %s); process CPU %.2f µs/event against %.2f: ratio %.3f (rounds %s) (goal ≥ 0.95)",
			lastSeq(b, checked), with/n, without/n, with/without, ratios(rateRatios), cpuWith/n, cpuWithout/n, cpuWithout/cpuWith, ratios(cpuRatios))
	})
}

// median is the middle value of xs (the mean of the two middle ones for an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// ratios lists per-round ratios for a log line.
func ratios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 3, 64)
	}
	return strings.Join(parts, " ")
}

// appendRate appends total events from writers writers on fresh aggregates and
// returns the events per second.
func appendRate(b *testing.B, st *store.Store, writers, total int) float64 {
	ctx := context.Background()
	per := total / writers
	now := time.Now()
	evs := make([][]events.Event, writers)
	for w := range evs {
		agg := events.NewID()
		evs[w] = make([]events.Event, per)
		for i := range evs[w] {
			evs[w][i] = events.Must(agg, now, events.Context{Actor: agg, IP: "203.0.113.7"},
				&events.ChallengeIssued{ChallengeID: events.NewID(), TokenHash: fmt.Sprintf("%064x", i),
					Token: "v1.0123456789ab.dG9rZW4gYnl0ZXM", Methods: []string{"totp", "recovery"}, ExpiresAt: now.Add(5 * time.Minute)})
		}
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			expected := uint64(0)
			for _, ev := range evs[w] {
				seq, err := st.Append(ctx, expected, ev)
				if err != nil {
					errs[w] = err
					return
				}
				expected = seq
			}
		}(w)
	}
	wg.Wait()
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return float64(per*writers) / d.Seconds()
}
