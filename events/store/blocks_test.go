package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/jfguard/jfguard/events/store"
)

// collect reads the whole stream (or a part) through a store.
func collect(t *testing.T, st *store.Store, from uint64, filter string) []store.RawMsg {
	t.Helper()
	var out []store.RawMsg
	var err error
	if filter == "" {
		_, err = st.ScanRaw(context.Background(), from, func(m store.RawMsg) error {
			m.Header = nil
			m.Data = append([]byte(nil), m.Data...)
			out = append(out, m)
			return nil
		})
	} else {
		var evs []events.Event
		evs, _, err = st.Load(context.Background(), events.AggUser, filter)
		for _, ev := range evs {
			out = append(out, store.RawMsg{Seq: ev.Seq, Subject: ev.Subject, MsgID: ev.ID})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBlockReadsMatchTheServer: reading the embedded store's block files gives
// exactly what the server delivers: same sequences, subjects, ids, times and bytes,
// from any starting point and with a subject filter.
func TestBlockReadsMatchTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	direct, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	server, _ := store.Open(ctx, conn.NC, store.Options{})
	for i := 0; i < 3000; i++ {
		if _, err := direct.Append(ctx, store.AnySeq, eventstest.Discovered(t, fmt.Sprintf("u%d", i%5), fmt.Sprintf("n%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []uint64{1, 2, 1500, 3000} {
		a, b := collect(t, direct, from, ""), collect(t, server, from, "")
		if len(a) != 3001-int(from) || !reflect.DeepEqual(a, b) {
			t.Fatalf("from %d: block read %d messages, server %d, equal %v", from, len(a), len(b), reflect.DeepEqual(a, b))
		}
	}
	a, b := collect(t, direct, 1, "u3"), collect(t, server, 1, "u3")
	if len(a) != 600 || !reflect.DeepEqual(a, b) {
		t.Fatalf("filtered: block read %d, server %d", len(a), len(b))
	}
	_, lastA, _ := direct.Load(ctx, events.AggUser, "u3")
	_, lastB, _ := server.Load(ctx, events.AggUser, "u3")
	if lastA != lastB || lastA != 2999 {
		t.Fatalf("aggregate's last sequence: block read %d, server %d, want 2999", lastA, lastB)
	}
}

// TestBlockReadsAcrossBlocks: with enough events for several block files, reading
// from a late sequence skips the earlier blocks and still matches the server.
func TestBlockReadsAcrossBlocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	direct, _ := store.Open(ctx, conn.NC, store.Options{LocalDir: dir})
	server, _ := store.Open(ctx, conn.NC, store.Options{})
	js := direct.JetStream()
	pad := strings.Repeat("x", 900)
	for i := 0; i < 12000; i++ {
		ev := eventstest.Discovered(t, fmt.Sprintf("u%d", i%7), pad)
		data, _ := json.Marshal(ev)
		if _, err := js.PublishAsync(ev.PublishSubject(), data); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	files, _ := filepath.Glob(filepath.Join(dir, "jetstream", "$G", "streams", store.StreamName, "msgs", "*.blk"))
	if len(files) < 2 {
		t.Fatalf("%d block files; the test needs several", len(files))
	}
	for _, from := range []uint64{1, 6000, 11999} {
		a, b := collect(t, direct, from, ""), collect(t, server, from, "")
		if len(a) != 12001-int(from) || !reflect.DeepEqual(a, b) {
			t.Fatalf("from %d: block read %d messages, server %d", from, len(a), len(b))
		}
	}
}
