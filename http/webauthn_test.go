package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/jfguard/jfguard/test/testkit"
)

// The gateway in these tests is jfguard.example at https, with passkeys on.
const (
	testOrigin = "https://jfguard.example"
	testRPID   = "jfguard.example"
	testPeer   = "198.51.100.20:40000"
	webAuth    = `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="web-device-1", Version="12.0.0"`
)

// movableClock is the gateway's and the projection's time: real time plus an offset
// a test moves forward.
type movableClock struct{ offset atomic.Int64 }

func (c *movableClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *movableClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// passkeyGateway is a gateway in front of the stand-in Jellyfin, with alice (no
// second factor yet) signed in through it.
type passkeyGateway struct {
	s     *Server
	jf    *jellyfin.Server
	clock *movableClock
	alice jellyfin.User
	token string // alice's verified session
}

func newPasskeyGateway(t *testing.T, edits ...func(*Options)) *passkeyGateway {
	t.Helper()
	clock := &movableClock{}
	store, proj, sealer, key := newStoreDeps(t, clock.now)

	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	g := &passkeyGateway{jf: jf, clock: clock, alice: jf.AddUser("alice", "alice-password", false)}
	up := httptest.NewServer(jf)
	t.Cleanup(func() { up.Close(); jf.Close() })
	upURL, _ := url.Parse(up.URL)
	public, _ := url.Parse(testOrigin)
	// Challenges outlive ceremonies here, so a ceremony can expire on a live one.
	pol := domain.DefaultPolicy()
	pol.ChallengeTTL = time.Hour
	opts := Options{
		Upstream: upURL, PublicURL: public, Store: store, Projector: proj, Sealer: sealer, Shared: sharedFor(t, store), Turns: turnsFor(t, store),
		BasePolicy: pol, TrustKeys: domain.TrustKeys{Current: key},
		AdminAPIKey: jf.CreateAPIKey("jfguard"), Clock: clock.now,
		HashParams: domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Limits:     Limits{VerifyPerIP: 1000, VerifyPerUser: 1000},
		WebAuthn:   WebAuthnSettings{RPID: testRPID, Origins: []string{testOrigin}},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, edit := range edits {
		edit(&opts)
	}
	g.s = New(opts)
	var res struct{ AccessToken string }
	if code := g.call(t, "POST", "/Users/AuthenticateByName", webAuth, map[string]string{"Username": "alice", "Pw": "alice-password"}, &res); code != 200 {
		t.Fatalf("alice's sign-in: %d", code)
	}
	g.token = res.AccessToken
	return g
}

// node is another gateway on the same event store, projections and shared buckets:
// a second node of a cluster behind a load balancer without sticky sessions. The
// returned gateway shares the stand-in Jellyfin, the clock and alice's session.
func (g *passkeyGateway) node(edits ...func(*Options)) *passkeyGateway {
	opts := g.s.opts
	opts.Registry = nil // each node has its own metrics
	for _, edit := range edits {
		edit(&opts)
	}
	other := *g
	other.s = New(opts)
	return &other
}

// call sends a JSON request through the gateway and decodes a 2xx answer into out.
func (g *passkeyGateway) call(t *testing.T, method, path, auth string, in, out any, cookies ...*http.Cookie) int {
	t.Helper()
	res := g.do(t, method, path, auth, in, cookies...)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
	return res.StatusCode
}

func (g *passkeyGateway) do(t *testing.T, method, path, auth string, in any, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = testPeer
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Jfguard-Client", "web")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	g.s.ServeHTTP(rec, req)
	return rec.Result()
}

func withToken(token string) string { return webAuth + `, Token="` + token + `"` }

// events lists alice's events, oldest first.
func (g *passkeyGateway) events(t *testing.T) []events.Payload {
	t.Helper()
	evs, _, err := g.s.opts.Store.Load(context.Background(), events.AggUser, g.alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.Payload, 0, len(evs))
	for _, ev := range evs {
		p, err := events.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// lastOf returns the newest event of alice of type T.
func lastOf[T events.Payload](t *testing.T, g *passkeyGateway) T {
	t.Helper()
	var zero T
	evs := g.events(t)
	for i := len(evs) - 1; i >= 0; i-- {
		if p, ok := evs[i].(T); ok {
			return p
		}
	}
	t.Fatalf("no %T among alice's events", zero)
	return zero
}

func countOf[T events.Payload](t *testing.T, g *passkeyGateway) int {
	t.Helper()
	n := 0
	for _, p := range g.events(t) {
		if _, ok := p.(T); ok {
			n++
		}
	}
	return n
}

// softKey is one credential of the software authenticator.
type softKey = testkit.Key

// soft is the software authenticator of the tests' relying party.
var soft = testkit.Authenticator{RPID: testRPID, Origin: testOrigin}

// ceremonyAnswer is what a begin route returns.
type ceremonyAnswer struct {
	Ceremony  string          `json:"ceremony"`
	PublicKey json.RawMessage `json:"publicKey"`
}

func b64u(b []byte) string { return b64.EncodeToString(b) }

// softCreate answers a registration ceremony the way an authenticator with user
// verification does, with "none" attestation.
func softCreate(t *testing.T, options json.RawMessage) (*softKey, []byte) {
	t.Helper()
	return soft.Create(t, options)
}

// softGet answers an assertion ceremony with key k and signature counter count.
func softGet(t *testing.T, options json.RawMessage, k *softKey, count uint32) []byte {
	t.Helper()
	return soft.Get(t, options, k, count)
}

// forged is a key that claims k's credential id but signs with another private key.
func forged(t *testing.T, k *softKey) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := *k
	f.Priv = priv
	return &f
}

// register adds a passkey for alice through the setup API.
func (g *passkeyGateway) register(t *testing.T) *softKey {
	t.Helper()
	var begin ceremonyAnswer
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys/register", withToken(g.token), struct{}{}, &begin); code != 200 {
		t.Fatalf("begin registration: %d", code)
	}
	k, cred := softCreate(t, begin.PublicKey)
	var done struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys", withToken(g.token), map[string]any{"ceremony": begin.Ceremony, "label": "Test key", "credential": json.RawMessage(cred)}, &done); code != 200 {
		t.Fatalf("finish registration: %d", code)
	}
	return k
}

// challenge signs alice in with her password and returns the challenge id.
func (g *passkeyGateway) challenge(t *testing.T) string {
	t.Helper()
	res := g.do(t, "POST", "/Users/AuthenticateByName", webAuth, map[string]string{"Username": "alice", "Pw": "alice-password"})
	defer res.Body.Close()
	var body struct {
		Jfguard struct{ Challenge string } `json:"jfguard"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != 401 || body.Jfguard.Challenge == "" {
		t.Fatalf("password step: %d, challenge %q", res.StatusCode, body.Jfguard.Challenge)
	}
	return body.Jfguard.Challenge
}

func (g *passkeyGateway) beginChallenge(t *testing.T, id string) ceremonyAnswer {
	t.Helper()
	var a ceremonyAnswer
	if code := g.call(t, "POST", "/jfguard/api/challenge/"+id+"/passkey", "", struct{}{}, &a); code != 200 {
		t.Fatalf("begin challenge assertion: %d", code)
	}
	return a
}

// verify sends a passkey answer for a challenge and returns the status and error.
func (g *passkeyGateway) verify(t *testing.T, id, ceremonyID string, cred []byte) (int, string) {
	t.Helper()
	res := g.do(t, "POST", "/jfguard/api/challenge/"+id+"/verify", "", map[string]any{"method": "passkey", "ceremony": ceremonyID, "credential": json.RawMessage(cred)})
	defer res.Body.Close()
	var body struct {
		Error string `json:"error"`
		Auth  struct{ AccessToken string }
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Error
}

// TestCeremonyStore: a ceremony is used once, whatever the outcome; it expires after
// five minutes of the gateway's clock; and it finishes only for the purpose and
// binding it began with.
func TestCeremonyStore(t *testing.T) {
	t.Parallel()
	clock := &movableClock{}
	st, _, _, _ := newStoreDeps(t, clock.now)
	cs := newCeremonies(sharedFor(t, st), clock.now)
	put := func(id string, kind ceremonyKind, binding string) {
		if err := cs.put(id, &ceremony{Kind: kind, Binding: binding}); err != nil {
			t.Fatal(err)
		}
	}

	put("a", ceremonyChallenge, "challenge-1")
	if _, err := cs.take("a", ceremonyChallenge, "challenge-1"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := cs.take("a", ceremonyChallenge, "challenge-1"); !errors.Is(err, errCeremonyUnknown) {
		t.Errorf("second use: %v; want unknown", err)
	}

	put("b", ceremonyChallenge, "challenge-1")
	if _, err := cs.take("b", ceremonyChallenge, "challenge-2"); !errors.Is(err, errCeremonyMismatch) {
		t.Errorf("another challenge: %v; want mismatch", err)
	}
	if _, err := cs.take("b", ceremonyChallenge, "challenge-1"); !errors.Is(err, errCeremonyUnknown) {
		t.Errorf("after a foreign try the ceremony is still usable: %v", err)
	}

	put("c", ceremonyProof, "token-hash-1")
	if _, err := cs.take("c", ceremonyRegister, "token-hash-1"); !errors.Is(err, errCeremonyMismatch) {
		t.Errorf("another purpose: %v; want mismatch", err)
	}

	put("d", ceremonyRegister, "token-hash-1")
	clock.advance(ceremonyTTL - time.Second)
	put("e", ceremonyRegister, "token-hash-1")
	clock.advance(time.Second)
	if _, err := cs.take("d", ceremonyRegister, "token-hash-1"); !errors.Is(err, errCeremonyExpired) {
		t.Errorf("after five minutes: %v; want expired", err)
	}
	if _, err := cs.take("e", ceremonyRegister, "token-hash-1"); err != nil {
		t.Errorf("a younger ceremony: %v", err)
	}
	if _, err := cs.take("", ceremonySignIn, ""); !errors.Is(err, errCeremonyUnknown) {
		t.Errorf("no ceremony id: %v; want unknown", err)
	}
	if _, err := cs.take(strings.Repeat("f", 4096), ceremonySignIn, ""); !errors.Is(err, errCeremonyUnknown) {
		t.Errorf("an id longer than any jfguard makes: %v; want unknown", err)
	}

	// A sign-in ceremony is bound to nothing: a request that presents a binding
	// does not finish it.
	put("f", ceremonySignIn, "")
	if _, err := cs.take("f", ceremonySignIn, "token-hash-1"); !errors.Is(err, errCeremonyMismatch) {
		t.Errorf("a binding presented to a sign-in ceremony: %v; want mismatch", err)
	}
}

// TestPasskeyRegistrationAPI: a verified session adds a passkey, which records
// passkey_registered with the credential's facts and hands out recovery codes; the
// ceremony is bound to that session; weak sessions cannot add one.
func TestPasskeyRegistrationAPI(t *testing.T) {
	t.Parallel()
	g := newPasskeyGateway(t)

	// A ceremony begun in alice's session does not finish in another of hers.
	var other struct{ AccessToken string }
	otherDevice := strings.Replace(webAuth, "web-device-1", "web-device-2", 1)
	if code := g.call(t, "POST", "/Users/AuthenticateByName", otherDevice, map[string]string{"Username": "alice", "Pw": "alice-password"}, &other); code != 200 {
		t.Fatalf("second session: %d", code)
	}
	var begin ceremonyAnswer
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys/register", withToken(g.token), struct{}{}, &begin); code != 200 {
		t.Fatalf("begin: %d", code)
	}
	var opts struct {
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		User struct{ ID, Name string }
	}
	_ = json.Unmarshal(begin.PublicKey, &opts)
	if opts.AuthenticatorSelection.ResidentKey != "required" || opts.AuthenticatorSelection.UserVerification != "preferred" ||
		opts.User.Name != "alice" || opts.User.ID != b64u([]byte(g.alice.ID)) {
		t.Errorf("creation options %s", begin.PublicKey)
	}
	_, cred := softCreate(t, begin.PublicKey)
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys", withToken(other.AccessToken), map[string]any{"ceremony": begin.Ceremony, "credential": json.RawMessage(cred)}, nil); code != 400 {
		t.Errorf("finishing in another session: %d; want 400", code)
	}
	if n := countOf[*events.PasskeyRegistered](t, g); n != 0 {
		t.Fatalf("%d passkeys registered from a foreign session", n)
	}

	k := g.register(t)
	reg := lastOf[*events.PasskeyRegistered](t, g)
	if reg.CredentialID != b64u(k.ID) || reg.Label != "Test key" || reg.PublicKey == "" || !reg.UserVerified ||
		reg.SignCount != 0 || len(reg.Transports) != 1 || reg.Transports[0] != "internal" || reg.Attestation != "none" {
		t.Errorf("passkey_registered %+v", reg)
	}
	if n := countOf[*events.RecoveryCodesGenerated](t, g); n != 1 {
		t.Errorf("%d recovery code sets with the first passkey; want 1", n)
	}

	// Alice's session dates from before she had a second factor: it may no longer
	// add one. A session that proved the passkey may.
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys/register", withToken(g.token), struct{}{}, nil); code != 403 {
		t.Errorf("a session without the second factor began a registration: %d", code)
	}
	id := g.challenge(t)
	a := g.beginChallenge(t, id)
	res := g.do(t, "POST", "/jfguard/api/challenge/"+id+"/verify", "", map[string]any{"method": "passkey", "ceremony": a.Ceremony, "credential": json.RawMessage(softGet(t, a.PublicKey, k, 1))})
	var done struct{ Auth struct{ AccessToken string } }
	_ = json.NewDecoder(res.Body).Decode(&done)
	res.Body.Close()
	if res.StatusCode != 200 || done.Auth.AccessToken == "" {
		t.Fatalf("challenge with the passkey: %d", res.StatusCode)
	}
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys/register", withToken(done.Auth.AccessToken), struct{}{}, &begin); code != 200 {
		t.Fatalf("begin from a verified session: %d", code)
	}
	var excluded struct {
		Exclude []struct{ ID string } `json:"excludeCredentials"`
	}
	_ = json.Unmarshal(begin.PublicKey, &excluded)
	if len(excluded.Exclude) != 1 || excluded.Exclude[0].ID != b64u(k.ID) {
		t.Errorf("the options do not exclude the registered passkey: %s", begin.PublicKey)
	}

	// A second passkey without a name is named after where it was made; the user
	// has recovery codes already, so none are handed out.
	_, cred = softCreate(t, begin.PublicKey)
	var second struct {
		Passkey       passkeyView `json:"passkey"`
		RecoveryCodes []string    `json:"recovery_codes"`
	}
	if code := g.call(t, "POST", "/jfguard/api/me/passkeys", withToken(done.Auth.AccessToken), map[string]any{"ceremony": begin.Ceremony, "label": "  ", "credential": json.RawMessage(cred)}, &second); code != 200 {
		t.Fatalf("second passkey: %d", code)
	}
	if second.Passkey.Label != "Passkey in Browser" || len(second.RecoveryCodes) != 0 {
		t.Errorf("second passkey %+v, %d recovery codes", second.Passkey, len(second.RecoveryCodes))
	}
}

// TestChallengePasskeyAPI: a passkey completes a challenge once; its ceremony cannot
// be replayed, used for another challenge, or used after five minutes; a bad
// signature is a failed factor; a counter that goes backwards is refused as a
// suspected clone.
func TestChallengePasskeyAPI(t *testing.T) {
	t.Parallel()
	g := newPasskeyGateway(t)
	k := g.register(t)

	id := g.challenge(t)
	a := g.beginChallenge(t, id)
	var allow struct {
		Allow []struct{ ID string } `json:"allowCredentials"`
		RPID  string                `json:"rpId"`
	}
	_ = json.Unmarshal(a.PublicKey, &allow)
	if len(allow.Allow) != 1 || allow.Allow[0].ID != b64u(k.ID) || allow.RPID != testRPID {
		t.Errorf("request options %s", a.PublicKey)
	}
	answer := softGet(t, a.PublicKey, k, 7)
	if code, _ := g.verify(t, id, a.Ceremony, answer); code != 200 {
		t.Fatalf("passkey for the challenge: %d", code)
	}
	if v := lastOf[*events.FactorVerified](t, g); v.Method != domain.MethodPasskey || v.CredentialID != b64u(k.ID) || v.ChallengeID != id {
		t.Errorf("factor_verified %+v", v)
	}
	if u := lastOf[*events.PasskeyUsed](t, g); u.SignCount != 7 {
		t.Errorf("passkey_used %+v", u)
	}
	if sv := lastOf[*events.SessionVerified](t, g); sv.ChallengeID != id || sv.Reason != domain.ReasonChallenge {
		t.Errorf("session_verified %+v", sv)
	}

	// The same answer again finds nothing to complete.
	if code, _ := g.verify(t, id, a.Ceremony, answer); code == 200 {
		t.Error("a replayed assertion completed the challenge again")
	}

	// A ceremony is spent by its first answer, even one that fails: a good answer
	// after a bad one on the same ceremony is refused.
	id = g.challenge(t)
	a = g.beginChallenge(t, id)
	if code, e := g.verify(t, id, a.Ceremony, softGet(t, a.PublicKey, forged(t, k), 8)); code != 401 || e != "invalid_passkey" {
		t.Errorf("forged signature: %d %s", code, e)
	}
	if code, e := g.verify(t, id, a.Ceremony, softGet(t, a.PublicKey, k, 8)); code != 400 || e != "passkey_expired" {
		t.Errorf("second answer to one ceremony: %d %s", code, e)
	}
	if f := lastOf[*events.FactorFailed](t, g); f.Method != domain.MethodPasskey || f.Reason != "invalid_assertion" || f.ChallengeID != id {
		t.Errorf("factor_failed %+v", f)
	}
	failedBefore := countOf[*events.FactorFailed](t, g)

	// A ceremony of one challenge does not complete another.
	first, second := g.challenge(t), g.challenge(t)
	a = g.beginChallenge(t, first)
	if code, e := g.verify(t, second, a.Ceremony, softGet(t, a.PublicKey, k, 8)); code != 400 || e != "passkey_expired" {
		t.Errorf("ceremony of another challenge: %d %s", code, e)
	}
	if code, _ := g.verify(t, first, a.Ceremony, softGet(t, a.PublicKey, k, 8)); code != 400 {
		t.Errorf("a ceremony tried on another challenge still works on its own: %d", code)
	}

	// An expired ceremony.
	a = g.beginChallenge(t, second)
	g.clock.advance(ceremonyTTL)
	if code, e := g.verify(t, second, a.Ceremony, softGet(t, a.PublicKey, k, 8)); code != 400 || e != "passkey_expired" {
		t.Errorf("expired ceremony: %d %s", code, e)
	}
	if n := countOf[*events.FactorFailed](t, g); n != failedBefore {
		t.Errorf("ceremony errors counted as %d failed factors", n-failedBefore)
	}

	// A counter behind the stored one: refused, and the clone suspicion recorded.
	a = g.beginChallenge(t, id)
	if code, e := g.verify(t, id, a.Ceremony, softGet(t, a.PublicKey, k, 3)); code != 401 || e != "passkey_refused" {
		t.Errorf("counter gone backwards: %d %s", code, e)
	}
	clone := lastOf[*events.PasskeyCloneSuspected](t, g)
	if clone.CredentialID != b64u(k.ID) || clone.Stored != 7 || clone.Presented != 3 {
		t.Errorf("passkey_clone_suspected %+v", clone)
	}
	if f := lastOf[*events.FactorFailed](t, g); f.Reason != "clone_suspected" {
		t.Errorf("factor_failed %+v", f)
	}
	if n := countOf[*events.PasskeyUsed](t, g); n != 1 {
		t.Errorf("%d passkey_used events; want only the first use", n)
	}
}

// TestPasswordlessSignInAPI: a passkey alone signs alice in: the answer is a real
// Jellyfin session minted through Quick Connect with the web app's headers, and the
// log shows factor_verified (passwordless), passkey_used and session_verified
// (passkey_sign_in). The ceremony lives in a strict cookie and is single use;
// Quick Connect off is a clear refusal; a locked user is refused.
func TestPasswordlessSignInAPI(t *testing.T) {
	t.Parallel()
	g := newPasskeyGateway(t)
	k := g.register(t)

	begin := func() (json.RawMessage, *http.Cookie) {
		t.Helper()
		res := g.do(t, "POST", "/jfguard/api/passkey/begin", "", struct{}{})
		defer res.Body.Close()
		var body struct {
			PublicKey json.RawMessage `json:"publicKey"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		var cookie *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == passkeyCookie {
				cookie = c
			}
		}
		if res.StatusCode != 200 || cookie == nil {
			t.Fatalf("begin: %d, cookie %v", res.StatusCode, cookie)
		}
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != passkeyCookiePath || !cookie.Secure {
			t.Errorf("ceremony cookie %+v", cookie)
		}
		return body.PublicKey, cookie
	}
	finish := func(cred []byte, cookies ...*http.Cookie) (int, string, string) {
		t.Helper()
		res := g.do(t, "POST", "/jfguard/api/passkey/finish", webAuth, cred, cookies...)
		defer res.Body.Close()
		var body struct {
			Error string `json:"error"`
			Auth  struct {
				AccessToken string
				User        struct{ ID string }
			} `json:"auth"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		if res.StatusCode == 200 && body.Auth.User.ID != g.alice.ID {
			t.Errorf("signed in as %q; want alice", body.Auth.User.ID)
		}
		return res.StatusCode, body.Error, body.Auth.AccessToken
	}

	opts, cookie := begin()
	var o struct {
		UserVerification string `json:"userVerification"`
		Allow            []any  `json:"allowCredentials"`
	}
	_ = json.Unmarshal(opts, &o)
	if o.UserVerification != "required" || len(o.Allow) != 0 {
		t.Errorf("sign-in options %s", opts)
	}
	answer := softGet(t, opts, k, 4)
	code, _, token := finish(answer, cookie)
	if code != 200 || token == "" {
		t.Fatalf("passkey sign-in: %d", code)
	}
	if v := lastOf[*events.FactorVerified](t, g); v.Purpose != domain.PurposePasswordless || v.CredentialID != b64u(k.ID) {
		t.Errorf("factor_verified %+v", v)
	}
	if sv := lastOf[*events.SessionVerified](t, g); sv.Reason != domain.ReasonPasskey || sv.TokenHash != tokenHash(token) {
		t.Errorf("session_verified %+v", sv)
	}
	var minted jellyfin.Session
	for _, s := range g.jf.Sessions() {
		if s.Token == token {
			minted = s
		}
	}
	if minted.DeviceID != "web-device-1" || minted.Client != "Jellyfin Web" {
		t.Errorf("the minted session is %+v; want the web app's device", minted)
	}
	var ref projections.TokenRef
	g.s.read(func(st *projections.State) { ref = st.Tokens[tokenHash(token)] })
	if ref.Status != projections.TokenVerified || ref.UserID != g.alice.ID {
		t.Errorf("the gate knows the passkey's session as %+v; want verified for alice", ref)
	}

	// The same answer and cookie again: the ceremony is gone.
	if code, e, _ := finish(answer, cookie); code != 400 || e != "passkey_expired" {
		t.Errorf("replayed sign-in: %d %s", code, e)
	}
	// Without the cookie nothing is checked.
	opts, _ = begin()
	if code, e, _ := finish(softGet(t, opts, k, 5)); code != 400 || e != "passkey_expired" {
		t.Errorf("sign-in without the cookie: %d %s", code, e)
	}
	// An expired ceremony.
	opts, cookie = begin()
	g.clock.advance(ceremonyTTL + time.Second)
	if code, e, _ := finish(softGet(t, opts, k, 5), cookie); code != 400 || e != "passkey_expired" {
		t.Errorf("expired sign-in: %d %s", code, e)
	}
	// A counter that went backwards.
	opts, cookie = begin()
	if code, e, _ := finish(softGet(t, opts, k, 2), cookie); code != 401 || e != "passkey_refused" {
		t.Errorf("cloned counter: %d %s", code, e)
	}
	if c := lastOf[*events.PasskeyCloneSuspected](t, g); c.Stored != 4 || c.Presented != 2 {
		t.Errorf("passkey_clone_suspected %+v", c)
	}
	// A signature that does not verify counts against the address, not alice.
	opts, cookie = begin()
	userFailures := countOf[*events.FactorFailed](t, g)
	if code, e, _ := finish(softGet(t, opts, forged(t, k), 6), cookie); code != 401 || e != "invalid_passkey" {
		t.Errorf("bad signature: %d %s", code, e)
	}
	var failed int
	g.s.read(func(st *projections.State) {
		if a := st.Addresses[events.IPAggregateID("198.51.100.20")]; a != nil {
			failed = len(a.Failures)
		}
	})
	if failed != 1 || countOf[*events.FactorFailed](t, g) != userFailures {
		t.Errorf("%d failed sign-ins against the address, %d more against alice; want 1 and 0", failed, countOf[*events.FactorFailed](t, g)-userFailures)
	}

	// A locked user is refused, before Jellyfin is asked for a session.
	until := g.clock.now().Add(time.Hour)
	if _, err := g.s.opts.Projector.ExecUser(context.Background(), g.alice.ID, events.Context{}, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.LockoutStarted{Until: until, Failures: 5}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	sessions := len(g.jf.Sessions())
	opts, cookie = begin()
	if code, e, _ := finish(softGet(t, opts, k, 7), cookie); code != 429 || e != "locked" {
		t.Errorf("locked user: %d %s", code, e)
	}
	if len(g.jf.Sessions()) != sessions {
		t.Error("a session was minted for a locked user")
	}

	// Quick Connect off: refused before the authenticator is touched.
	g.jf.SetQuickConnect(false)
	res := g.do(t, "POST", "/jfguard/api/passkey/begin", "", struct{}{})
	var off struct{ Error, Message string }
	_ = json.NewDecoder(res.Body).Decode(&off)
	res.Body.Close()
	if res.StatusCode != 503 || off.Error != "passkey_sign_in_unavailable" || !strings.Contains(off.Message, "Quick Connect") {
		t.Errorf("Quick Connect off: %d %+v", res.StatusCode, off)
	}
}

// TestPasskeysOff: without WebAuthn settings every passkey route says so.
func TestPasskeysOff(t *testing.T) {
	t.Parallel()
	s := newPageServer(t)
	for _, path := range []string{"/jfguard/api/passkey/begin", "/jfguard/api/challenge/unknown/passkey"} {
		res := httptest.NewRecorder()
		req := httptest.NewRequest("POST", path, strings.NewReader("{}"))
		s.ServeHTTP(res, req)
		if res.Code != 503 || !strings.Contains(res.Body.String(), msgPasskeysOff) {
			t.Errorf("%s: %d %s", path, res.Code, res.Body)
		}
	}
	_, body := get(t, s, "/jfguard/api/passkey")
	if !strings.Contains(body, `"enabled":false`) {
		t.Errorf("status %s", body)
	}
}
