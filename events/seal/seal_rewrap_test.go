package seal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRewrapIsCrashSafe starts from a data directory of before keyrings (a bare
// master key file, data keys wrapped the first way, a key stream that refused a
// second message per subject), rotates the master key and stops the re-wrap half
// way, as a crash would. Every data key still opens after a restart, from the
// keyring file; finishing the re-wrap and, after the grace, retiring the previous
// key leave every data key wrapped under the new key alone.
func TestRewrapIsCrashSafe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir, Sync: broker.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	js := st.JetStream()

	// Before: one bare key in master.key, and the stream as it was created then.
	oldKey := make([]byte, 32)
	if _, err := rand.Read(oldKey); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "master.key")
	if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString(oldKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: KeysStream, Subjects: []string{keysPrefix + ">"}, Storage: jetstream.FileStorage,
		MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true, AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	oldAEAD, _ := newGCM(oldKey)
	const users = 6
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		raw := make([]byte, 32)
		nonce := make([]byte, oldAEAD.NonceSize())
		_, _ = rand.Read(raw)
		_, _ = rand.Read(nonce)
		wrapped := append([]byte(fmt.Sprintf("%012x.", i)), oldAEAD.Seal(nonce, nonce, raw, []byte(user))...)
		if _, err := js.Publish(ctx, keySubject(user), wrapped, jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	open := func() (*MasterKeyring, *Sealer) {
		t.Helper()
		ring, err := LoadMasterKeyring("", keyPath)
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenSealer(ctx, js, ring, Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		return ring, s
	}
	ring, s := open()
	if info, _ := s.stream.Info(ctx); info.Config.DiscardNewPerSubject {
		t.Fatal("the key stream still refuses a second message per subject")
	}
	values := map[string]events.Sealed{}
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		if values[user], err = s.Seal(ctx, user, []byte("secret of "+user)); err != nil {
			t.Fatal(err)
		}
	}

	// wrappedBy lists, per user, the master key ids a stored data key names ("" for
	// the first format).
	wrappedBy := func() map[string]string {
		out := map[string]string{}
		if _, err := store.ScanStream(ctx, js, KeysStream, "", 1, nil, func(m store.RawMsg) error {
			user := strings.TrimPrefix(m.Subject, keysPrefix)
			_, _, ids, err := s.unwrap(user, m.Data)
			if err != nil {
				t.Errorf("data key of %s opens with no key of the ring: %v", user, err)
			}
			slices.Sort(ids)
			out[user] = strings.Join(ids, ",")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	opensAll := func(what string, s *Sealer) {
		t.Helper()
		for user, v := range values {
			if got, err := s.Open(ctx, user, v); err != nil || string(got) != "secret of "+user {
				t.Errorf("%s: open %s: %q, %v", what, user, got, err)
			}
		}
	}

	// Rotate, then re-wrap three data keys and stop: a crash half way.
	oldID := ring.Current().ID
	next, err := ring.Rotate(now, time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var stored []storedKey
	if _, err := store.ScanStream(ctx, js, KeysStream, "", 1, nil, func(m store.RawMsg) error {
		stored = append(stored, storedKey{m.Subject, m.Seq, append([]byte(nil), m.Data...)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range stored[:3] {
		if _, err := s.rewrapOne(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	_, s = open() // restart: the ring from its file, no cached data keys
	both := strings.Join(slices.Sorted(slices.Values([]string{oldID, next.ID})), ",")
	got := wrappedBy()
	var done, notYet int
	for _, ids := range got {
		switch ids {
		case both:
			done++
		case "":
			notYet++
		}
	}
	if done != 3 || notYet != 3 {
		t.Fatalf("after the crash: %v; want 3 re-wrapped under both keys and 3 as before", got)
	}
	opensAll("after the crash", s)

	// Running the re-wrap again finishes it.
	if n, err := s.Rewrap(ctx); err != nil || n != users {
		t.Fatalf("re-wrap again: %d, %v", n, err)
	}
	for user, ids := range wrappedBy() {
		if ids != both {
			t.Errorf("after finishing, %s is wrapped under %q; want %q", user, ids, both)
		}
	}

	// After the grace the previous key leaves every wrapping, then the ring.
	now = now.Add(time.Hour)
	if dropped, err := s.RetireExpired(ctx); err != nil || len(dropped) != 1 || dropped[0] != oldID {
		t.Fatalf("retire: %v, %v", dropped, err)
	}
	ring, s = open()
	if keys := ring.Keys(); len(keys) != 1 || keys[0].ID != next.ID {
		t.Errorf("keyring after the grace: %+v", keys)
	}
	for user, ids := range wrappedBy() {
		if ids != next.ID {
			t.Errorf("after the grace, %s is wrapped under %q; want %q", user, ids, next.ID)
		}
	}
	opensAll("after the grace", s)
}
