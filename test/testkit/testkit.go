// Package testkit holds what jfguard's test suites share across packages: the rule
// for a test whose tool is missing, and a software WebAuthn authenticator.
package testkit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// SkipOrFail skips a test whose tool is missing on a developer's machine, and fails
// it where every tool must be there (.ci/run sets JFGUARD_TEST_REQUIRE_ALL=1 after
// installing them): CI never passes on a skipped check.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("JFGUARD_TEST_REQUIRE_ALL") != "" {
		t.Fatalf("%s (JFGUARD_TEST_REQUIRE_ALL is set: this check must run)", msg)
	}
	t.Skip(msg)
}

var b64u = base64.RawURLEncoding

// Authenticator answers WebAuthn ceremonies of one relying party the way a platform
// authenticator with user verification does.
type Authenticator struct {
	RPID, Origin string
}

// Key is one credential of the authenticator: a P-256 key, its id, its user handle.
type Key struct {
	ID         []byte
	Priv       *ecdsa.PrivateKey
	UserHandle []byte
}

func clientData(t testing.TB, typ, origin string, options json.RawMessage) []byte {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.Challenge == "" {
		t.Fatalf("options without a challenge: %s", options)
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": o.Challenge, "origin": origin, "crossOrigin": false})
	return b
}

// Create answers a registration ceremony's options with a new key and "none"
// attestation; it returns the key and the credential JSON the browser would send.
func (a Authenticator) Create(t testing.TB, options json.RawMessage) (*Key, []byte) {
	t.Helper()
	var o struct {
		RP   struct{ ID string } `json:"rp"`
		User struct{ ID string } `json:"user"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.RP.ID != a.RPID {
		t.Fatalf("creation options %s", options)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &Key{ID: make([]byte, 16), Priv: priv}
	_, _ = rand.Read(k.ID)
	k.UserHandle, _ = b64u.DecodeString(o.User.ID)
	raw, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:]})
	if err != nil {
		t.Fatal(err)
	}
	rpHash := sha256.Sum256([]byte(a.RPID))
	auth := append(rpHash[:], 0x45, 0, 0, 0, 0) // UP, UV, attested credential data; counter 0
	auth = append(auth, make([]byte, 16)...)    // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(k.ID)))
	auth = append(append(auth, k.ID...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.ID), "rawId": b64u.EncodeToString(k.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(clientData(t, "webauthn.create", a.Origin, options)),
			"attestationObject": b64u.EncodeToString(att), "transports": []string{"internal"},
		},
	})
	return k, cred
}

// Get answers an assertion ceremony's options with key k and signature counter
// count; it returns the credential JSON the browser would send.
func (a Authenticator) Get(t testing.TB, options json.RawMessage, k *Key, count uint32) []byte {
	t.Helper()
	cd := clientData(t, "webauthn.get", a.Origin, options)
	rpHash := sha256.Sum256([]byte(a.RPID))
	auth := binary.BigEndian.AppendUint32(append(rpHash[:], 0x05), count) // UP, UV
	cdHash := sha256.Sum256(cd)
	sum := sha256.Sum256(append(append([]byte(nil), auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.ID), "rawId": b64u.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(auth),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(k.UserHandle),
		},
	})
	return cred
}

// Output collects a child process's output while the test reads it: os/exec copies
// into it from its own goroutine.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
