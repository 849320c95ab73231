package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/seal"
)

var ringNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMasterKeyringReadsTheSingleKeyFormat(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	for name, content := range map[string]string{
		"base64": base64.StdEncoding.EncodeToString(key) + "\n",
		"hex":    hex.EncodeToString(key),
	} {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		ring, err := seal.LoadMasterKeyring("", path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cur := ring.Current(); !bytes.Equal(cur.Key, key) || cur.ID != seal.MasterKeyID(key) || len(ring.Keys()) != 1 {
			t.Errorf("%s: ring %+v", name, ring.Keys())
		}
	}
}

func TestMasterKeyringRotateKeepsThePreviousKeyByID(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	ring, err := seal.LoadMasterKeyring("", path)
	if err != nil {
		t.Fatal(err)
	}
	old := ring.Current()
	next, err := ring.Rotate(ringNow, 24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == old.ID || ring.Current().ID != next.ID {
		t.Fatalf("current %s after rotating from %s", ring.Current().ID, old.ID)
	}
	if k, ok := ring.Key(old.ID); !ok || !bytes.Equal(k.Key, old.Key) || !k.Until.Equal(ringNow.Add(24*time.Hour)) {
		t.Errorf("previous key by id: %+v, %v", k, ok)
	}
	// Keys derived by id are the same before and after, for as long as the key is
	// in the ring.
	before, _ := seal.NewMasterKeyring(old.Key)
	d1, _ := before.Derive(old.ID, "purpose")
	d2, ok := ring.Derive(old.ID, "purpose")
	if !ok || !bytes.Equal(d1, d2) {
		t.Error("a key derived from the previous master key changed with the rotation")
	}
	if _, ok := ring.Derive("0000000000000000", "purpose"); ok {
		t.Error("derived from a key the ring does not hold")
	}

	// The file is a keyring now; read back, it is the same ring.
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "jfguard master keyring v1\n") || !strings.Contains(string(b), old.ID) {
		t.Errorf("keyring file:\n%s", b)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("keyring file mode %v", info.Mode().Perm())
	}
	again, err := seal.LoadMasterKeyring("", path)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Keys(); len(got) != 2 || got[0].ID != next.ID || got[1].ID != old.ID || !got[1].Until.Equal(ringNow.Add(24*time.Hour)) {
		t.Errorf("keyring read back: %+v", got)
	}
}

func TestMasterKeyringRefusesDamagedFiles(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{9}, 32)
	line := seal.MasterKeyID(key) + " " + base64.StdEncoding.EncodeToString(key)
	for name, content := range map[string]string{
		"id of another key":      "jfguard master keyring v1\n0123456789abcdef " + base64.StdEncoding.EncodeToString(key) + "\n",
		"short key":              "jfguard master keyring v1\n" + seal.MasterKeyID(key) + " AAAA\n",
		"current with an until":  "jfguard master keyring v1\n" + line + " until 2026-01-01T00:00:00Z\n",
		"previous without until": "jfguard master keyring v1\n" + line + "\n" + line + "\n",
		"bad time":               "jfguard master keyring v1\n" + line + "\n" + line + " until tomorrow\n",
		"no key":                 "jfguard master keyring v1\n# nothing\n",
	} {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.LoadMasterKeyring("", path); err == nil || !strings.Contains(err.Error(), "fix:") {
			t.Errorf("%s: %v; want an error that says how to fix it", name, err)
		}
	}
}

func TestMasterKeyInClearCannotBeRotated(t *testing.T) {
	t.Parallel()
	ring, err := seal.LoadMasterKeyring("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Rotate(ringNow, time.Hour, rand.Reader); !errors.Is(err, seal.ErrMasterKeyInClear) {
		t.Errorf("rotating a key given in clear: %v; want ErrMasterKeyInClear", err)
	}
}

func TestTrustKeyGenerations(t *testing.T) {
	t.Parallel()
	ring, err := seal.LoadMasterKeyring("", filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	first := ring.Current().ID
	var st seal.TrustKeyState
	gen0, prev := st.Keys(ring, ringNow)
	if len(gen0) != 32 || len(prev) != 0 {
		t.Fatalf("before any rotation: current %x, previous %d", gen0, len(prev))
	}

	rotated := &events.TrustKeyRotated{Generation: 1, MasterKeyID: first, PreviousGeneration: 0, PreviousMasterKeyID: first, PreviousValidUntil: ringNow.Add(time.Hour)}
	st.Apply(rotated)
	gen1, prev := st.Keys(ring, ringNow)
	if bytes.Equal(gen1, gen0) || len(prev) != 1 || !bytes.Equal(prev[0], gen0) {
		t.Fatalf("after rotating: current is new %v, previous %d", !bytes.Equal(gen1, gen0), len(prev))
	}
	st.Apply(rotated) // recorded twice (two nodes at once): nothing changes
	if again, prev := st.Keys(ring, ringNow); !bytes.Equal(again, gen1) || len(prev) != 1 {
		t.Error("the same generation applied twice changed the keys")
	}
	if _, prev := st.Keys(ring, ringNow.Add(time.Hour)); len(prev) != 0 {
		t.Error("the previous generation is still accepted after its grace")
	}

	// A master key rotation starts a generation under the new key; the previous
	// generation keeps its key, derived from the previous master key.
	if _, err := ring.Rotate(ringNow, time.Hour, rand.Reader); err != nil {
		t.Fatal(err)
	}
	st.Apply(&events.TrustKeyRotated{Generation: 2, MasterKeyID: ring.Current().ID, PreviousGeneration: 1, PreviousMasterKeyID: first, PreviousValidUntil: ringNow.Add(time.Hour)})
	gen2, prev := st.Keys(ring, ringNow)
	if bytes.Equal(gen2, gen1) || len(prev) != 2 || !bytes.Equal(prev[1], gen1) {
		t.Errorf("after a master key rotation: previous %d, current new %v", len(prev), !bytes.Equal(gen2, gen1))
	}
}
