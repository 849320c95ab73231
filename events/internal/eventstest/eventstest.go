// Package eventstest holds what the tests of the store, seal and audit packages
// share: an event store on an embedded server, an event to append and an event
// authenticator.
package eventstest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// StartStore runs an embedded JetStream with file storage in dir and opens the
// event store on it.
func StartStore(t *testing.T, dir string) (*broker.Conn, *store.Store) {
	t.Helper()
	conn, err := broker.Start(broker.Options{StoreDir: dir, Sync: broker.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), conn.NC, store.Options{LocalDir: dir})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return conn, st
}

// Discovered is a user_discovered event of user with name, written now.
func Discovered(t *testing.T, user, name string) events.Event {
	t.Helper()
	ev, err := events.New(user, time.Now(), events.Context{Actor: "test"}, &events.UserDiscovered{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Authenticator signs with a key of 32 fill bytes under the key id id.
func Authenticator(t testing.TB, id string, fill byte) *events.Authenticator {
	t.Helper()
	a, err := events.NewAuthenticator(id, map[string][]byte{id: bytes.Repeat([]byte{fill}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
