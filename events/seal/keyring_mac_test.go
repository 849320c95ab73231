package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestEventMACKeysOutliveMasterKeys: an event written under the first master key
// still verifies after the master key was rotated and the old one dropped, after a
// restart that reads the keyring file again; and every node that holds the same
// pre-keyring key file derives the same MAC key.
func TestEventMACKeysOutliveMasterKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	key := bytes.Repeat([]byte{3}, 32)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ring, err := LoadMasterKeyring("", path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ring.EventAuthenticator()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewMasterKeyring(key) // another node with the same key, in clear
	second, _ := other.EventAuthenticator()
	data := []byte(`{"id":"e1"}`)
	mac := first.Sign(data)
	if second.Verify(data, mac) != events.AuthValid {
		t.Fatal("two nodes with the same master key derive different event MAC keys")
	}

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := ring.Rotate(now, time.Hour, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.dropExpired(now.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(ring.Keys()) != 1 {
		t.Fatalf("the old master key is still in the ring: %d keys", len(ring.Keys()))
	}
	reread, err := LoadMasterKeyring("", path)
	if err != nil {
		t.Fatal(err)
	}
	after, err := reread.EventAuthenticator()
	if err != nil {
		t.Fatal(err)
	}
	if after.Verify(data, mac) != events.AuthValid {
		t.Error("an event written before the master key rotation no longer verifies")
	}
	if first.Verify(data, after.Sign(data)) != events.AuthValid {
		t.Error("the event MAC key changed with the master key")
	}
}
