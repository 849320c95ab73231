//go:build slow

package cluster

import (
	"encoding/json"
	"testing"

	"github.com/jfguard/jfguard/test/testkit"
)

// The nodes' relying party: passkeys for http://localhost, as the e2e suite sets
// them up.
const (
	passkeyRPID   = "localhost"
	passkeyOrigin = "http://localhost"
)

// softKey is one credential of the software authenticator the WebAuthn tests share.
type softKey = testkit.Key

var soft = testkit.Authenticator{RPID: passkeyRPID, Origin: passkeyOrigin}

// ceremony is what a begin route returns: the ceremony's id and the options for the
// browser's WebAuthn call.
type ceremony struct {
	ID        string          `json:"ceremony"`
	PublicKey json.RawMessage `json:"publicKey"`
}

func softCreate(t *testing.T, options json.RawMessage) (*softKey, []byte) {
	t.Helper()
	return soft.Create(t, options)
}

func softGet(t *testing.T, options json.RawMessage, k *softKey, count uint32) []byte {
	t.Helper()
	return soft.Get(t, options, k, count)
}
