package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go"
)

// TestStoreChecksEveryEventItReads: a store with an authenticator signs what it
// appends and marks what it reads, by every read path (block files, the server,
// live subscription), including messages written around it with a plain NATS
// connection.
func TestStoreChecksEveryEventItReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir, Sync: broker.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	auth := eventstest.Authenticator(t, "1", 7)
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, 0, eventstest.Discovered(t, "u1", "alice")); err != nil {
		t.Fatal(err)
	}
	// Written around jfguard: a valid envelope without a MAC, one with a wrong MAC,
	// and bytes that are no event at all.
	forged := eventstest.Discovered(t, "u1", "mallory")
	data, _ := json.Marshal(forged)
	publish := func(subject string, data []byte, mac string) {
		m := nats.NewMsg(subject)
		m.Data = data
		if mac != "" {
			m.Header.Set(events.MACHeader, mac)
		}
		if _, err := st.JetStream().PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publish(forged.PublishSubject(), data, "")
	publish(forged.PublishSubject(), data, eventstest.Authenticator(t, "1", 8).Sign(data))
	publish("jfguard.events.user.u1.garbage", []byte("not json"), "")
	// An authentic event (jfguard's MAC) moved to another subject.
	moved := eventstest.Discovered(t, "u1", "alice")
	movedData, _ := json.Marshal(moved)
	publish("jfguard.events.user.u2.user_discovered", movedData, auth.Sign(movedData))
	if _, err := st.Append(ctx, store.AnySeq, eventstest.Discovered(t, "u2", "bob")); err != nil {
		t.Fatal(err)
	}
	want := []events.Auth{events.AuthValid, events.AuthMissing, events.AuthInvalid, events.AuthMissing, events.AuthInvalid, events.AuthValid}

	var scanned []events.Auth
	if _, err := st.Scan(ctx, 1, func(ev events.Event) error {
		scanned = append(scanned, ev.Auth)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scanned, want) {
		t.Errorf("scan: %v, want %v", scanned, want)
	}
	live := make(chan events.Auth, 10)
	sub, err := st.Subscribe(ctx, 1, nil, func(ev events.Event) { live <- ev.Auth })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	var got []events.Auth
	for range want {
		select {
		case a := <-live:
			got = append(got, a)
		case <-time.After(10 * time.Second):
			t.Fatalf("subscription delivered %v", got)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("subscription: %v, want %v", got, want)
	}
	if _, err := audit.OpenStream(ctx, st.JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !rep.MACsChecked || len(rep.Forged) != 4 || rep.Forged[0] != 2 || rep.FirstBad != 2 {
		t.Errorf("verify: %+v, want events 2 to 5 named", rep)
	}
}
