package gateway

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// newStoreDeps starts what a gateway needs below it: an embedded event store with
// file storage, a sealer with a random master key and running projections (with the
// given clock, or the real one). The key also serves as the trust-cookie key.
func newStoreDeps(t testing.TB, clock projections.Clock) (*store.Store, *projections.Projector, *seal.Sealer, []byte) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := seal.NewSealer(ctx, st.JetStream(), key, 1)
	if err != nil {
		t.Fatal(err)
	}
	proj := projections.New(st, projections.Options{SnapshotDir: dir + "/snapshots", Clock: clock})
	if err := proj.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proj.Stop() })
	return st, proj, sealer, key
}

// sharedFor opens the shared buckets on a test's event store.
func sharedFor(t testing.TB, st *store.Store) *shared.Store {
	t.Helper()
	sh, err := shared.Open(context.Background(), st.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// turnsFor are the password step's turns in the shared buckets of a test's event
// store, as jfguard wires them.
func turnsFor(t testing.TB, st *store.Store) usecase.Turns {
	t.Helper()
	return usecase.SharedTurns(sharedFor(t, st))
}
