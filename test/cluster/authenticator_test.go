//go:build slow

package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// The nodes' relying party: passkeys for http://localhost, as the e2e suite sets
// them up.
const (
	passkeyRPID   = "localhost"
	passkeyOrigin = "http://localhost"
)

var b64u = base64.RawURLEncoding

// softKey is one credential of a software authenticator (the one http's WebAuthn
// tests use): a P-256 key, its id, its user handle.
type softKey struct {
	id         []byte
	priv       *ecdsa.PrivateKey
	userHandle []byte
}

// ceremony is what a begin route returns: the ceremony's id and the options for the
// browser's WebAuthn call.
type ceremony struct {
	ID        string          `json:"ceremony"`
	PublicKey json.RawMessage `json:"publicKey"`
}

func clientData(t *testing.T, typ string, options json.RawMessage) []byte {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.Challenge == "" {
		t.Fatalf("options without a challenge: %s", options)
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": o.Challenge, "origin": passkeyOrigin, "crossOrigin": false})
	return b
}

// softCreate answers a registration ceremony the way an authenticator with user
// verification does, with "none" attestation.
func softCreate(t *testing.T, options json.RawMessage) (*softKey, []byte) {
	t.Helper()
	var o struct {
		RP   struct{ ID string } `json:"rp"`
		User struct{ ID string } `json:"user"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.RP.ID != passkeyRPID {
		t.Fatalf("creation options %s", options)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &softKey{id: make([]byte, 16), priv: priv}
	_, _ = rand.Read(k.id)
	k.userHandle, _ = b64u.DecodeString(o.User.ID)
	raw, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:]})
	if err != nil {
		t.Fatal(err)
	}
	rpHash := sha256.Sum256([]byte(passkeyRPID))
	auth := append(rpHash[:], 0x45, 0, 0, 0, 0) // UP, UV, attested credential data; counter 0
	auth = append(auth, make([]byte, 16)...)    // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(k.id)))
	auth = append(append(auth, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(clientData(t, "webauthn.create", options)),
			"attestationObject": b64u.EncodeToString(att), "transports": []string{"internal"},
		},
	})
	return k, cred
}

// softGet answers an assertion ceremony with key at the given signature counter.
func softGet(t *testing.T, options json.RawMessage, k *softKey, count uint32) []byte {
	t.Helper()
	cd := clientData(t, "webauthn.get", options)
	rpHash := sha256.Sum256([]byte(passkeyRPID))
	auth := binary.BigEndian.AppendUint32(append(rpHash[:], 0x05), count) // UP, UV
	cdHash := sha256.Sum256(cd)
	sum := sha256.Sum256(append(append([]byte(nil), auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(auth),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(k.userHandle),
		},
	})
	return cred
}
