package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jfguard/jfguard/events"
)

// passkeySettings turn passkeys on for http://localhost, and let the tests speak
// for clients at several addresses through a trusted proxy on loopback.
var passkeySettings = map[string]string{
	"webauthn.rp_id":               "localhost",
	"webauthn.origins":             "http://localhost",
	"security.trust_forwarded_for": "true",
	"security.trusted_proxies":     "127.0.0.1",
}

// forgedAssertion is what an attacker without the authenticator can send to finish
// a passwordless sign-in: a well-formed assertion for the ceremony's challenge that
// names a user by its (public) id, signed by nothing.
func forgedAssertion(t *testing.T, options json.RawMessage, userID string) json.RawMessage {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.Challenge == "" {
		t.Fatalf("sign-in options without a challenge: %s", options)
	}
	b64 := base64.RawURLEncoding
	clientData, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": o.Challenge, "origin": "http://localhost", "crossOrigin": false})
	rpHash := sha256.Sum256([]byte("localhost"))
	authData := binary.BigEndian.AppendUint32(append(rpHash[:], 0x05), 1) // user present and verified, counter 1
	id, sig := make([]byte, 16), make([]byte, 72)
	_, _ = rand.Read(id)
	_, _ = rand.Read(sig)
	cred, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(clientData), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString([]byte(userID)),
		},
	})
	return cred
}

// forgePasskeySignIn begins a passwordless sign-in from an address and finishes it
// with a forged assertion naming userID.
func (g *testGateway) forgePasskeySignIn(t *testing.T, from, userID string) reply {
	t.Helper()
	req := g.newRequest(t, http.MethodPost, "/jfguard/api/passkey/begin", struct{}{})
	req.Header.Set("X-Forwarded-For", from)
	begin := send(t, req)
	var opts struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	begin.json(t, &opts)
	cookies := (&http.Response{Header: begin.header}).Cookies()
	if begin.status != http.StatusOK || len(cookies) == 0 {
		t.Fatalf("begin a passkey sign-in from %s: status %d: %s", from, begin.status, begin.body)
	}
	req = g.newRequest(t, http.MethodPost, "/jfguard/api/passkey/finish", forgedAssertion(t, opts.PublicKey, userID))
	req.Header.Set("X-Forwarded-For", from)
	req.Header.Set("Authorization", clientHeader("attacker-"+from, ""))
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return send(t, req)
}

// TestForgedPasskeysDoNotRateLimitTheUser: user ids are public, so anyone can post
// passwordless sign-ins whose assertions name alice. They prove nothing about her and
// are charged to the addresses that sent them, never to alice: after as many of them
// as her own rate limit allows, her real second-factor step still goes through.
func TestForgedPasskeysDoNotRateLimitTheUser(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: passkeySettings})
	f := g.enrollAlice(t)

	// Fifteen forged assertions, all the second-factor attempts a user gets in fifteen
	// minutes, from two addresses that each stay within their own limit of ten a
	// minute.
	for from, n := range map[string]int{"203.0.113.1": 8, "203.0.113.2": 7} {
		for i := range n {
			if res := g.forgePasskeySignIn(t, from, g.alice.ID); res.status != http.StatusUnauthorized || res.errorCode() != "invalid_passkey" {
				t.Fatalf("forged assertion %d from %s: status %d: %s", i+1, from, res.status, res.body)
			}
		}
	}

	alice := []string{"X-Forwarded-For", "198.51.100.7"}
	c := g.challenged(t, "alice-phone", alice...)
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret)}, alice...)
	if res.status != http.StatusOK {
		t.Fatalf("alice's own second factor after the forged assertions: status %d: %s", res.status, res.body)
	}
	for _, p := range payloads[*events.SignInFailed](t, g, "sign_in_failed") {
		if p.Reason != "bad_passkey" {
			t.Errorf("sign_in_failed reason %q, want bad_passkey", p.Reason)
		}
	}
	if got := g.eventTypes(t)["factor_failed"]; got != 0 {
		t.Errorf("%d factor_failed events: the forged assertions counted against alice", got)
	}
}
