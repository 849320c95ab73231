package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
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
	keys    map[string][]byte
}

// ErrMACKey: a MAC key is too short or its id is unusable.
var ErrMACKey = errors.New("event MAC key: need at least 32 bytes and an id without ':'")

// NewAuthenticator signs with the key named current and verifies with every key
// given (by id).
func NewAuthenticator(current string, keys map[string][]byte) (*Authenticator, error) {
	if len(keys[current]) < 32 {
		return nil, ErrMACKey
	}
	out := &Authenticator{current: current, keys: map[string][]byte{}}
	for id, k := range keys {
		if len(k) < 32 || id == "" || strings.Contains(id, ":") {
			return nil, ErrMACKey
		}
		out.keys[id] = append([]byte(nil), k...)
	}
	return out, nil
}

// Sign returns the header value for a message on subject with data.
func (a *Authenticator) Sign(subject string, data []byte) string {
	return a.current + ":" + base64.RawURLEncoding.EncodeToString(eventMAC(a.keys[a.current], subject, data))
}

// Verify checks the header value of a stored message.
func (a *Authenticator) Verify(subject string, data []byte, header string) Auth {
	if header == "" {
		return AuthMissing
	}
	id, b64, ok := strings.Cut(header, ":")
	key := a.keys[id]
	if !ok || key == nil {
		return AuthInvalid
	}
	sum, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || !hmac.Equal(sum, eventMAC(key, subject, data)) {
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

func eventMAC(key []byte, subject string, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(subject))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}
