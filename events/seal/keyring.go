package seal

import (
	"bufio"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/keyfile"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrMasterKeyInClear: the master key was given in clear (master_key or
// JFGUARD_MASTER_KEY), so jfguard has no file to write a new key to.
var ErrMasterKeyInClear = errors.New("the master key is given in clear (master_key or JFGUARD_MASTER_KEY), which jfguard cannot rewrite; fix: put it in a file only jfguard can read, point master_key_file at it (or leave it as data_dir/master.key), unset the clear value, then rotate")

// keyringHeader starts a keyring file; a file without it holds one bare key, the
// format of before keyrings.
const keyringHeader = "jfguard master keyring v1"

// MasterKey is one key of the master keyring.
type MasterKey struct {
	// ID names the key in wrapped data keys and in events; it is derived from the
	// key (see MasterKeyID), so it cannot name the wrong key.
	ID  string
	Key []byte
	// Until is when a previous key stops being used; zero for the current key.
	Until time.Time

	aead cipher.AEAD
}

// MasterKeyID is the id of a master key: the first 8 bytes of a SHA-256 of it, in
// hex. It identifies the key without revealing anything about it.
func MasterKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("jfguard master key id\n"), key...))
	return hex.EncodeToString(sum[:8])
}

// MasterKeyring is the master key and the previous ones still in their grace. The
// current key wraps new data keys; during a rotation's grace every data key is
// wrapped under both, so a node that still has only the previous key keeps opening
// values. Other keys are derived from the ring by key id (Derive), so something
// derived under a previous key stays derivable while that key is in the ring.
//
// The file (data_dir/master.key, or master_key_file) is a few lines of text:
//
//	jfguard master keyring v1
//	<id> <base64 key>
//	<id> <base64 key> until <RFC 3339 time>
//
// the current key first. A file holding only a base64 or hex key (the format of
// before keyrings) is read as a ring of that one key.
type MasterKeyring struct {
	mu   sync.RWMutex
	path string // "" when the key was given in clear
	keys []MasterKey
	// macs are the event MAC keys, the current one first. Unlike master keys they
	// are never dropped: every event ever written stays verifiable. A ring without
	// one derives its first from the current master key (id "1"), which every node
	// of a cluster does alike; a rotation writes it to the file, so it outlives the
	// master key it came from.
	macs []macEntry
}

// macEntry is one event MAC key of the ring ("mac <id> <base64 key>" in the file).
type macEntry struct {
	ID  string
	Key []byte
}

// firstMACID names the event MAC key derived from the first master key.
const firstMACID = "1"

// ensureMAC derives the first event MAC key when the ring has none.
func (r *MasterKeyring) ensureMAC() {
	if len(r.macs) > 0 {
		return
	}
	k, err := hkdf.Key(sha256.New, r.keys[0].Key, nil, "jfguard event mac v1", 32)
	if err != nil {
		panic(err)
	}
	r.macs = []macEntry{{ID: firstMACID, Key: k}}
}

// EventAuthenticator is the authenticator of the events this node writes and
// reads, from the ring's event MAC keys.
func (r *MasterKeyring) EventAuthenticator() (*events.Authenticator, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	keys := map[string][]byte{}
	for _, m := range r.macs {
		keys[m.ID] = m.Key
	}
	return events.NewAuthenticator(r.macs[0].ID, keys)
}

// NewMasterKeyring returns a ring of one key that is kept nowhere (tests, and keys
// given in clear).
func NewMasterKeyring(key []byte) (*MasterKeyring, error) {
	mk, err := newMasterKey(key, time.Time{})
	if err != nil {
		return nil, err
	}
	r := &MasterKeyring{keys: []MasterKey{mk}}
	r.ensureMAC()
	return r, nil
}

func newMasterKey(key []byte, until time.Time) (MasterKey, error) {
	if len(key) != 32 {
		return MasterKey{}, errors.New("master key must be 32 bytes")
	}
	aead, err := newGCM(key)
	if err != nil {
		return MasterKey{}, err
	}
	return MasterKey{ID: MasterKeyID(key), Key: append([]byte(nil), key...), Until: until, aead: aead}, nil
}

// LoadMasterKeyring reads the master keyring. A key given in clear (value, from
// master_key or JFGUARD_MASTER_KEY) wins and cannot be rotated; otherwise the ring
// is read from path, which is created with a new random key on first start.
func LoadMasterKeyring(value, path string) (*MasterKeyring, error) {
	if value != "" {
		keys, macs, err := parseKeyring(value, "JFGUARD_MASTER_KEY")
		if err != nil {
			return nil, err
		}
		r := &MasterKeyring{keys: keys, macs: macs}
		r.ensureMAC()
		return r, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := keyfile.WriteExclusive(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n")); err != nil {
			if errors.Is(err, os.ErrExist) {
				return LoadMasterKeyring("", path)
			}
			return nil, fmt.Errorf("create master key %s: %w", path, err)
		}
		mk, err := newMasterKey(key, time.Time{})
		if err != nil {
			return nil, err
		}
		r := &MasterKeyring{path: path, keys: []MasterKey{mk}}
		r.ensureMAC()
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	keys, macs, err := parseKeyring(string(b), path)
	if err != nil {
		return nil, err
	}
	r := &MasterKeyring{path: path, keys: keys, macs: macs}
	r.ensureMAC()
	return r, nil
}

// parseKeyring reads a keyring file, or a bare key: the master keys and the event
// MAC keys it holds.
func parseKeyring(s, where string) ([]MasterKey, []macEntry, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), keyringHeader) {
		key, err := decodeKey(s, where)
		if err != nil {
			return nil, nil, err
		}
		mk, err := newMasterKey(key, time.Time{})
		if err != nil {
			return nil, nil, err
		}
		return []MasterKey{mk}, nil, nil
	}
	bad := func(line int, problem string) error {
		return fmt.Errorf("%s line %d: %s; fix: restore the file from the node where the key was rotated, or from a backup", where, line, problem)
	}
	var keys []MasterKey
	var macs []macEntry
	sc := bufio.NewScanner(strings.NewReader(s))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || line == keyringHeader {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "mac" {
			if len(f) != 3 || f[1] == "" || strings.Contains(f[1], ":") {
				return nil, nil, bad(n, "want mac <id> <base64 key>")
			}
			key, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil || len(key) != 32 {
				return nil, nil, bad(n, "not a 32-byte event MAC key in base64")
			}
			macs = append(macs, macEntry{ID: f[1], Key: key})
			continue
		}
		if len(f) != 2 && (len(f) != 4 || f[2] != "until") {
			return nil, nil, bad(n, "want <id> <base64 key> [until <time>]")
		}
		key, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil || len(key) != 32 {
			return nil, nil, bad(n, "not a 32-byte key in base64")
		}
		var until time.Time
		if len(f) == 4 {
			if until, err = time.Parse(time.RFC3339, f[3]); err != nil {
				return nil, nil, bad(n, "until is not an RFC 3339 time")
			}
		}
		if (len(keys) == 0) != until.IsZero() {
			return nil, nil, bad(n, "the first key is the current one, without until; every other key has one")
		}
		mk, err := newMasterKey(key, until)
		if err != nil {
			return nil, nil, bad(n, err.Error())
		}
		if mk.ID != f[0] {
			return nil, nil, bad(n, "the id does not match the key")
		}
		keys = append(keys, mk)
	}
	if len(keys) == 0 {
		return nil, nil, bad(1, "no key")
	}
	return keys, macs, nil
}

// Current is the key that wraps new data keys.
func (r *MasterKeyring) Current() MasterKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0]
}

// Key returns a key of the ring by id, current or previous (expired or not: a
// previous key leaves the ring only when it is dropped).
func (r *MasterKeyring) Key(id string) (MasterKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		if k.ID == id {
			return k, true
		}
	}
	return MasterKey{}, false
}

// Keys returns every key of the ring, the current one first.
func (r *MasterKeyring) Keys() []MasterKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]MasterKey(nil), r.keys...)
}

// usable returns the keys that wrap data keys at now: the current one and the
// previous ones still in their grace.
func (r *MasterKeyring) usable(now time.Time) []MasterKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []MasterKey{r.keys[0]}
	for _, k := range r.keys[1:] {
		if now.Before(k.Until) {
			out = append(out, k)
		}
	}
	return out
}

// expired reports whether some previous key's grace is over at now.
func (r *MasterKeyring) expired(now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys[1:] {
		if !now.Before(k.Until) {
			return true
		}
	}
	return false
}

// Derive returns a key for a purpose derived (HKDF-SHA256) from the master key
// with the given id, or false when the ring does not hold that key.
func (r *MasterKeyring) Derive(id, purpose string) ([]byte, bool) {
	k, ok := r.Key(id)
	if !ok {
		return nil, false
	}
	out, err := hkdf.Key(sha256.New, k.Key, nil, purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot produce
	}
	return out, true
}

// Rotate makes a new random key current and keeps the current one as a previous
// key until now+grace, writing the ring to its file before using it.
func (r *MasterKeyring) Rotate(now time.Time, grace time.Duration, random io.Reader) (MasterKey, error) {
	if r.path == "" {
		return MasterKey{}, ErrMasterKeyInClear
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(random, raw); err != nil {
		return MasterKey{}, err
	}
	next, err := newMasterKey(raw, time.Time{})
	if err != nil {
		return MasterKey{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.keys[0]
	prev.Until = now.Add(grace).UTC().Truncate(time.Second)
	keys := append([]MasterKey{next, prev}, r.keys[1:]...)
	if err := writeKeyring(r.path, keys, r.macs); err != nil {
		return MasterKey{}, err
	}
	r.keys = keys
	return next, nil
}

// dropExpired removes the previous keys whose grace is over at now, from the file
// first. It returns their ids.
func (r *MasterKeyring) dropExpired(now time.Time) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := []MasterKey{r.keys[0]}
	var dropped []string
	for _, k := range r.keys[1:] {
		if now.Before(k.Until) {
			keep = append(keep, k)
		} else {
			dropped = append(dropped, k.ID)
		}
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	if r.path != "" {
		if err := writeKeyring(r.path, keep, r.macs); err != nil {
			return nil, err
		}
	}
	r.keys = keep
	return dropped, nil
}

// writeKeyring replaces the keyring file atomically: a crash leaves either the old
// file or the new one, never a mix.
func writeKeyring(path string, keys []MasterKey, macs []macEntry) error {
	var b strings.Builder
	b.WriteString(keyringHeader + "\n")
	b.WriteString("# The first key wraps new data keys; the others still open them until their time.\n")
	b.WriteString("# Keep this file secret (mode 0600) and the same on every node.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s", k.ID, base64.StdEncoding.EncodeToString(k.Key))
		if !k.Until.IsZero() {
			fmt.Fprintf(&b, " until %s", k.Until.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n")
	}
	b.WriteString("# Event MAC keys: never remove one, every event written under it needs it.\n")
	for _, m := range macs {
		fmt.Fprintf(&b, "mac %s %s\n", m.ID, base64.StdEncoding.EncodeToString(m.Key))
	}
	return keyfile.WriteAtomic(path, []byte(b.String()))
}
