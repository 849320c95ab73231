package usecase_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	broker "github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// signedWorld is a store that signs what it appends and checks what it reads, as
// jfguard's does, with running projections and two nodes' use cases on them.
type signedWorld struct {
	t     *testing.T
	store *store.Store
	proj  *projections.Projector
	nodes [2]*usecase.Service
}

func newSignedWorld(t *testing.T) *signedWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	auth, err := events.NewAuthenticator("1", map[string][]byte{"1": key})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir + "/nats", Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	proj := projections.New(st, projections.Options{SnapshotDir: dir + "/snapshots"})
	if err := proj.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proj.Stop() })
	w := &signedWorld{t: t, store: st, proj: proj}
	for i := range w.nodes {
		w.nodes[i] = usecase.New(usecase.Deps{Projector: proj, Store: st, Jellyfin: newFakeJellyfin()})
	}
	return w
}

// forge writes an event around jfguard, without a MAC, and returns its sequence.
func (w *signedWorld) forge(aggID string, p events.Payload) uint64 {
	w.t.Helper()
	return w.forgeMsg(aggID, p, nil)
}

// forgeMsg is forge with the message headers of the forger's choosing.
func (w *signedWorld) forgeMsg(aggID string, p events.Payload, header nats.Header) uint64 {
	w.t.Helper()
	ev := events.Must(aggID, time.Now(), events.Context{Actor: "admin"}, p)
	data, err := json.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	m := nats.NewMsg(ev.PublishSubject())
	m.Data = data
	for k, v := range header {
		m.Header[k] = v
	}
	ack, err := w.store.JetStream().PublishMsg(context.Background(), m)
	if err != nil {
		w.t.Fatal(err)
	}
	return ack.Sequence
}

// detections are the forged_event_detected events in the stream.
func (w *signedWorld) detections() []events.Event {
	w.t.Helper()
	var out []events.Event
	if _, err := w.store.Scan(context.Background(), 1, func(ev events.Event) error {
		if ev.Type == events.TypeForgedEventDetected {
			out = append(out, ev)
		}
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// pendingForgeries are the forged events the projection holds that no detection
// names yet.
func (w *signedWorld) pendingForgeries() int {
	var n int
	w.proj.Read(func(st *projections.State) { n = len(st.Forged) })
	return n
}

func TestForgedEventIsRecordedOnceWhicheverNodesDetectIt(t *testing.T) {
	t.Parallel()
	// given an event written around jfguard (no MAC) that turns jfguard off
	w := newSignedWorld(t)
	seq := w.forge("settings", &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	waitFor(t, func() bool { return w.pendingForgeries() == 1 })
	// when two nodes record the detections they hold at the same moment
	var wg sync.WaitGroup
	for _, node := range w.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); node.RecordForgeries(context.Background()) }()
	}
	wg.Wait()
	// then one forged_event_detected names it, with an id keyed from its sequence
	got := w.detections()
	if len(got) != 1 {
		t.Fatalf("%d detections recorded, want 1", len(got))
	}
	p, err := events.Decode(got[0])
	if err != nil {
		t.Fatal(err)
	}
	d := p.(*events.ForgedEventDetected)
	if d.Seq != seq || d.Type != string(events.TypeSettingsChanged) || d.Reason != "missing" || got[0].ID != w.store.Authenticator().KeyedID("forged_event_detected "+strconv.FormatUint(seq, 10)) {
		t.Fatalf("detection = %+v (id %s), want seq %d", d, got[0].ID, seq)
	}
	// and the projection no longer holds it as pending, so it is not recorded again
	if n := w.pendingForgeries(); n != 0 {
		t.Fatalf("%d forgeries still pending", n)
	}
	w.nodes[0].RecordForgeries(context.Background())
	if n := len(w.detections()); n != 1 {
		t.Fatalf("%d detections after recording again", n)
	}
}

func TestWatchingForgeriesRecordsEachAsItArrives(t *testing.T) {
	t.Parallel()
	// given a node watching for forgeries
	w := newSignedWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.nodes[0].WatchForgeries(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// when events are written around jfguard, one after the other
	w.forge("settings", &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	waitFor(t, func() bool { return len(w.detections()) == 1 })
	w.forge(aliceID, &events.SessionVerified{TokenHash: "stolen", Reason: "challenge", Assurance: "aal2"})
	// then each is recorded as it arrives
	waitFor(t, func() bool { return len(w.detections()) == 2 })
}

func TestForgerCannotSilenceTheDetectionWithItsMessageID(t *testing.T) {
	t.Parallel()
	// given a forger who publishes a forged event under the message id its
	// detection would have if that id were derived from the sequence alone
	w := newSignedWorld(t)
	next, err := w.store.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seq := next + 1
	for _, id := range []string{"forged-" + strconv.FormatUint(seq, 10), strconv.FormatUint(seq, 10)} {
		got := w.forgeMsg("settings", &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"},
			nats.Header{"Nats-Msg-Id": []string{id}})
		if got != seq {
			t.Fatalf("forged at %d, want %d", got, seq)
		}
		seq++
	}
	waitFor(t, func() bool { return w.pendingForgeries() == 2 })
	// when a node records what it detected
	w.nodes[0].RecordForgeries(context.Background())
	// then both detections are in the stream: JetStream dropped neither as a duplicate
	if got := w.detections(); len(got) != 2 {
		t.Fatalf("%d detections recorded, want 2", len(got))
	}
}
