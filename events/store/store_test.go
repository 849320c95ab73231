package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go/jetstream"
)

func TestAppendLoadAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	ctx := context.Background()
	seq, err := st.Append(ctx, 0, eventstest.Discovered(t, "u1", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, seq, eventstest.Discovered(t, "u1", "alice2")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u2", "bob")); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	conn, st = eventstest.StartStore(t, dir)
	defer conn.Close()
	evs, last, err := st.Load(ctx, events.AggUser, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || last != 2 {
		t.Fatalf("after restart: %d events, last %d; want 2 events, last 2", len(evs), last)
	}
	p, err := events.Data[*events.UserDiscovered](evs[1])
	if err != nil || p.Name != "alice2" {
		t.Fatalf("payload = %+v, %v", p, err)
	}
	if evs[0].Seq != 1 || evs[0].Subject != "jfguard.events.user.u1.user_discovered" {
		t.Fatalf("envelope position = %d %s", evs[0].Seq, evs[0].Subject)
	}
}

func TestAppendConflictAndBatchAtomicity(t *testing.T) {
	t.Parallel()
	conn, st := eventstest.StartStore(t, t.TempDir())
	defer conn.Close()
	ctx := context.Background()
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u1", "a")); err != nil {
		t.Fatal(err)
	}
	// A stale expectation loses, for a single event and for a batch.
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u1", "b")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale single append: err = %v, want ErrConflict", err)
	}
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u1", "c"), eventstest.Discovered(t, "u1", "d")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale batch append: err = %v, want ErrConflict", err)
	}
	evs, last, _ := st.Load(ctx, events.AggUser, "u1")
	if len(evs) != 1 {
		t.Fatalf("a refused batch left %d events, want 1", len(evs))
	}
	// A fresh batch lands whole, in order.
	seq, err := st.Append(ctx, last, eventstest.Discovered(t, "u1", "e"), eventstest.Discovered(t, "u1", "f"), eventstest.Discovered(t, "u1", "g"))
	if err != nil {
		t.Fatal(err)
	}
	evs, last, _ = st.Load(ctx, events.AggUser, "u1")
	if len(evs) != 4 || last != seq {
		t.Fatalf("batch: %d events, last %d (append said %d)", len(evs), last, seq)
	}
	// Another aggregate is not affected by u1's sequence.
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u2", "x")); err != nil {
		t.Fatalf("independent aggregate: %v", err)
	}
}

func TestIdempotentPublish(t *testing.T) {
	t.Parallel()
	conn, st := eventstest.StartStore(t, t.TempDir())
	defer conn.Close()
	ctx := context.Background()
	ev := eventstest.Discovered(t, "u1", "a")
	if _, err := st.Append(ctx, store.AnySeq, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, store.AnySeq, ev); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second publish of the same event: %v, want ErrDuplicate", err)
	}
	a, b := eventstest.Discovered(t, "u1", "b"), eventstest.Discovered(t, "u1", "c")
	if _, err := st.Append(ctx, store.AnySeq, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, store.AnySeq, a, b); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second publish of the same batch: %v, want ErrDuplicate", err)
	}
	evs, _, _ := st.Load(ctx, events.AggUser, "u1")
	if len(evs) != 3 {
		t.Fatalf("%d events stored, want 3", len(evs))
	}
}

// TestParallelWritersNoLostUpdates: writers race on one aggregate, each re-deciding on
// fresh state after a conflict; every decision lands exactly once.
func TestParallelWritersNoLostUpdates(t *testing.T) {
	t.Parallel()
	conn, st := eventstest.StartStore(t, t.TempDir())
	defer conn.Close()
	ctx := context.Background()
	const writers, each = 8, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for attempt := 0; ; attempt++ {
					if attempt > 200 {
						t.Errorf("writer %d: no progress after 200 attempts", w)
						return
					}
					evs, last, err := st.Load(ctx, events.AggUser, "shared")
					if err != nil {
						t.Error(err)
						return
					}
					name := fmt.Sprintf("v%d", len(evs)+1) // decision depends on state
					_, err = st.Append(ctx, last, eventstest.Discovered(t, "shared", name))
					if errors.Is(err, store.ErrConflict) {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		}(w)
	}
	wg.Wait()
	evs, _, _ := st.Load(ctx, events.AggUser, "shared")
	if len(evs) != writers*each {
		t.Fatalf("%d events, want %d", len(evs), writers*each)
	}
	for i, ev := range evs {
		p, _ := events.Data[*events.UserDiscovered](ev)
		if want := fmt.Sprintf("v%d", i+1); p.Name != want {
			t.Fatalf("event %d decided on stale state: %s, want %s", i, p.Name, want)
		}
	}
	t.Logf("%d conflicts resolved by re-deciding", conflicts)
}

func TestWeakStreamRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, _ := jetstream.New(conn.NC)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: store.StreamName, Subjects: []string{"jfguard.events.>"}, Storage: jetstream.FileStorage,
		MaxAge: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(context.Background(), conn.NC, store.Options{})
	if !errors.Is(err, store.ErrWeakStream) {
		t.Fatalf("err = %v, want ErrWeakStream", err)
	}
	for _, want := range []string{"deny_delete is off", "deny_purge is off", "max_age is set", "Fix:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestStreamRefusesDeleteAndPurge(t *testing.T) {
	t.Parallel()
	conn, st := eventstest.StartStore(t, t.TempDir())
	defer conn.Close()
	ctx := context.Background()
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u1", "a")); err != nil {
		t.Fatal(err)
	}
	s, _ := st.JetStream().Stream(ctx, store.StreamName)
	if err := s.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("deleting an event succeeded")
	}
	if err := s.Purge(ctx); err == nil {
		t.Fatal("purging the stream succeeded")
	}
}
