package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"strings"
	"sync"
)

// MACHeader is the message header that carries an event's MAC.
const MACHeader = "Jfguard-Mac"

// Auth is what the store found about an event's MAC when it read it.
type Auth uint8

// Results of checking an event's MAC.
const (
	// AuthUnchecked: the store has no authenticator (tools reading a copy, tests).
	AuthUnchecked Auth = iota
	// AuthValid: the MAC is right; a node holding the master key wrote the event.
	AuthValid
	// AuthMissing: the event carries no MAC: it was written around jfguard.
	AuthMissing
	// AuthInvalid: the MAC is wrong, under an unknown key, or the event was altered.
	AuthInvalid
)

func (a Auth) String() string {
	switch a {
	case AuthValid:
		return "valid"
	case AuthMissing:
		return "missing"
	case AuthInvalid:
		return "invalid"
	}
	return "unchecked"
}

// Authenticator signs and checks the MAC every event jfguard appends carries:
// HMAC-SHA256 over the subject and the stored data, keyed by a key derived from the
// master key, so every node of a cluster can write and verify events and nothing
// without the master key can. A forged event therefore never changes a decision,
// even when someone obtains write access to the stream: the fold refuses it.
//
// The header value is "<key id>:<base64url MAC>"; the key id lets a key be replaced
// while events under the previous one stay verifiable.
type Authenticator struct {
	current string
	keys    map[string]*macKey
}

// macKey is one key with a pool of its keyed HMAC states: a fold checks hundreds of
// thousands of events a second, and keying HMAC-SHA256 anew costs two compressions
// and several allocations each time.
type macKey struct {
	pool sync.Pool
}

func newMACKey(key []byte) *macKey {
	k := append([]byte(nil), key...)
	return &macKey{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// sum writes the MAC of subject and data into out (32 bytes) and returns it.
func (k *macKey) sum(out []byte, subject string, data []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	_, _ = io.WriteString(h, subject)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(data)
	out = h.Sum(out[:0])
	k.pool.Put(h)
	return out
}

// ErrMACKey: a MAC key is too short or its id is unusable.
var ErrMACKey = errors.New("event MAC key: need at least 32 bytes and an id without ':'")

// NewAuthenticator signs with the key named current and verifies with every key
// given (by id).
func NewAuthenticator(current string, keys map[string][]byte) (*Authenticator, error) {
	if len(keys[current]) < 32 {
		return nil, ErrMACKey
	}
	out := &Authenticator{current: current, keys: map[string]*macKey{}}
	for id, k := range keys {
		if len(k) < 32 || id == "" || strings.Contains(id, ":") {
			return nil, ErrMACKey
		}
		out.keys[id] = newMACKey(k)
	}
	return out, nil
}

// Sign returns the header value for a message on subject with data.
func (a *Authenticator) Sign(subject string, data []byte) string {
	var sum [sha256.Size]byte
	return a.current + ":" + base64.RawURLEncoding.EncodeToString(a.keys[a.current].sum(sum[:], subject, data))
}

// Verify checks the header value of a stored message.
func (a *Authenticator) Verify(subject string, data []byte, header string) Auth {
	if header == "" {
		return AuthMissing
	}
	id, b64, ok := strings.Cut(header, ":")
	key := a.keys[id]
	if !ok || key == nil || base64.RawURLEncoding.DecodedLen(len(b64)) != sha256.Size {
		return AuthInvalid
	}
	var got, want [sha256.Size]byte
	n, err := base64.RawURLEncoding.Decode(got[:], []byte(b64))
	if err != nil || n != sha256.Size || !hmac.Equal(got[:], key.sum(want[:], subject, data)) {
		return AuthInvalid
	}
	return AuthValid
}

// check is Verify for a store that may have no authenticator.
func (a *Authenticator) check(subject string, data []byte, header string) Auth {
	if a == nil {
		return AuthUnchecked
	}
	return a.Verify(subject, data, header)
}
