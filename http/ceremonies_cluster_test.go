package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oauth2-proxy/mockoidc"
)

// TestPasskeyCeremoniesAcrossNodes: two gateways on one JetStream, behind a load
// balancer without sticky sessions. Every kind of ceremony begun on one finishes on
// the other, and its answer replayed on the first finds nothing: a ceremony is spent
// once in the cluster, not once per node.
func TestPasskeyCeremoniesAcrossNodes(t *testing.T) {
	t.Parallel()
	a := newPasskeyGateway(t)
	b := a.node()

	// Registration: begun on A, finished on B (replayed on A below, once alice's
	// session may add a passkey again).
	var begin ceremonyAnswer
	if code := a.call(t, "POST", "/jfguard/api/me/passkeys/register", withToken(a.token), struct{}{}, &begin); code != 200 {
		t.Fatalf("begin registration on A: %d", code)
	}
	k, cred := softCreate(t, begin.PublicKey)
	finish := map[string]any{"ceremony": begin.Ceremony, "label": "Test key", "credential": json.RawMessage(cred)}
	if code := b.call(t, "POST", "/jfguard/api/me/passkeys", withToken(b.token), finish, nil); code != 200 {
		t.Fatalf("finish registration on B: %d", code)
	}

	// A proof for a step-up: begun on A, answered on B, replayed on A.
	if code := a.call(t, "POST", "/jfguard/api/me/passkeys/proof", withToken(a.token), struct{}{}, &begin); code != 200 {
		t.Fatalf("begin proof on A: %d", code)
	}
	proof := map[string]any{"method": "passkey", "ceremony": begin.Ceremony, "credential": json.RawMessage(softGet(t, begin.PublicKey, k, 1))}
	if code := b.call(t, "POST", "/jfguard/api/me/step-up", withToken(b.token), proof, nil); code != 200 {
		t.Fatalf("step-up with the passkey on B: %d", code)
	}
	res := a.do(t, "POST", "/jfguard/api/me/step-up", withToken(a.token), proof)
	if e := errorOf(t, res); res.StatusCode != 400 || e != "passkey_expired" {
		t.Errorf("proof replayed on A: %d %s; want 400 passkey_expired", res.StatusCode, e)
	}
	res = a.do(t, "POST", "/jfguard/api/me/passkeys", withToken(a.token), finish)
	if e := errorOf(t, res); res.StatusCode != 400 || e != "passkey_expired" {
		t.Errorf("registration replayed on A: %d %s; want 400 passkey_expired", res.StatusCode, e)
	}

	// A second factor: the challenge is made on A, its ceremony begun on B, the
	// answer sent to A, then replayed on B.
	id := a.challenge(t)
	c := b.beginChallenge(t, id)
	answer := softGet(t, c.PublicKey, k, 2)
	if code, e := a.verify(t, id, c.Ceremony, answer); code != 200 {
		t.Fatalf("passkey for the challenge on A: %d %s", code, e)
	}
	if code, e := b.verify(t, id, c.Ceremony, answer); code == 200 {
		t.Errorf("challenge answer replayed on B: %d %s", code, e)
	}
	if _, err := b.s.ceremonies.take(c.Ceremony, ceremonyChallenge, id); !errors.Is(err, errCeremonyUnknown) {
		t.Errorf("the challenge's ceremony on B after its use on A: %v; want unknown", err)
	}
	// A ceremony spent by a wrong answer on one node is spent on the other.
	id = a.challenge(t)
	c = a.beginChallenge(t, id)
	if code, e := b.verify(t, id, c.Ceremony, softGet(t, c.PublicKey, forged(t, k), 3)); code != 401 || e != "invalid_passkey" {
		t.Errorf("forged answer on B: %d %s", code, e)
	}
	if code, e := a.verify(t, id, c.Ceremony, softGet(t, c.PublicKey, k, 3)); code != 400 || e != "passkey_expired" {
		t.Errorf("good answer on A after a bad one on B: %d %s; want 400 passkey_expired", code, e)
	}

	// Passwordless sign-in: begun on B (the ceremony's id in the cookie), finished on
	// A, replayed on B.
	res = b.do(t, "POST", "/jfguard/api/passkey/begin", "", struct{}{})
	var opts struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	_ = json.NewDecoder(res.Body).Decode(&opts)
	res.Body.Close()
	cookie := cookieNamed(res, passkeyCookie)
	if res.StatusCode != 200 || cookie == nil {
		t.Fatalf("begin sign-in on B: %d, cookie %v", res.StatusCode, cookie)
	}
	answer = softGet(t, opts.PublicKey, k, 4)
	res = a.do(t, "POST", "/jfguard/api/passkey/finish", webAuth, answer, cookie)
	if res.StatusCode != 200 {
		t.Fatalf("finish sign-in on A: %d %s", res.StatusCode, errorOf(t, res))
	}
	res.Body.Close()
	res = b.do(t, "POST", "/jfguard/api/passkey/finish", webAuth, answer, cookie)
	if e := errorOf(t, res); res.StatusCode != 400 || e != "passkey_expired" {
		t.Errorf("sign-in replayed on B: %d %s; want 400 passkey_expired", res.StatusCode, e)
	}

	// The expiry is the gateway's clock, whichever node reads it.
	id = a.challenge(t)
	c = a.beginChallenge(t, id)
	a.clock.advance(ceremonyTTL)
	if code, e := b.verify(t, id, c.Ceremony, softGet(t, c.PublicKey, k, 5)); code != 400 || e != "passkey_expired" {
		t.Errorf("expired ceremony on B: %d %s; want 400 passkey_expired", code, e)
	}
}

// TestOIDCSignInAcrossNodes: a sign-in with a provider starts on one gateway, comes
// back from the provider to the other, and finishes on the first; the callback and
// the handoff replayed on the other node are refused.
func TestOIDCSignInAcrossNodes(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	withOIDC := func(o *Options) {
		o.OIDC = []OIDCProvider{{
			ID: "test", Name: "Test Provider", Issuer: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
			Scopes: []string{"openid", "profile"}, Rule: domain.OIDCRule{UserClaim: "preferred_username"},
		}}
	}
	a := newPasskeyGateway(t, withOIDC)
	b := a.node()

	res := a.do(t, "GET", "/jfguard/oidc/test/start", "", nil)
	res.Body.Close()
	cookie := cookieNamed(res, oidcCookie)
	if res.StatusCode != http.StatusFound || cookie == nil {
		t.Fatalf("start on A: %d, cookie %v", res.StatusCode, cookie)
	}
	idp.QueueUser(providerUser("alice"))
	callback := atProvider(t, res.Header.Get("Location"))

	res = b.do(t, "GET", callback, "", nil, cookie)
	page := readBody(t, res)
	m := regexp.MustCompile(`data-handoff="([^"]+)"`).FindStringSubmatch(page)
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("callback on B: %d, no handoff: %s", res.StatusCode, page)
	}
	if res := a.do(t, "GET", callback, "", nil, cookie); res.StatusCode != http.StatusBadRequest {
		t.Errorf("callback replayed on A: %d; want 400", res.StatusCode)
	}

	handoff := map[string]string{"handoff": m[1]}
	res = a.do(t, "POST", "/jfguard/oidc/finish", webAuth, handoff, cookie)
	var done struct {
		Auth struct{ AccessToken string } `json:"auth"`
	}
	_ = json.NewDecoder(res.Body).Decode(&done)
	res.Body.Close()
	if res.StatusCode != 200 || done.Auth.AccessToken == "" {
		t.Fatalf("finish on A: %d", res.StatusCode)
	}
	res = b.do(t, "POST", "/jfguard/oidc/finish", webAuth, handoff, cookie)
	if e := errorOf(t, res); res.StatusCode != http.StatusBadRequest || e != "oidc_expired" {
		t.Errorf("handoff replayed on B: %d %s; want 400 oidc_expired", res.StatusCode, e)
	}
}

// TestCeremoniesFailClosed: when the shared store cannot be reached, no ceremony,
// flow or handoff is begun or finished: each is refused with the unavailable answer
// and nothing is let through unchecked.
func TestCeremoniesFailClosed(t *testing.T) {
	t.Parallel()
	down := unreachableShared(t)
	g := newPasskeyGateway(t)
	n := g.node(func(o *Options) { o.Shared = down })

	res := n.do(t, "POST", "/jfguard/api/me/passkeys/register", withToken(n.token), struct{}{})
	if e := errorOf(t, res); res.StatusCode != http.StatusServiceUnavailable || e != "unavailable" {
		t.Errorf("registration begun without the store: %d %s; want 503 unavailable", res.StatusCode, e)
	}

	cs := newCeremonies(down, g.clock.now)
	if err := cs.put("a", &ceremony{Kind: ceremonyChallenge, Binding: "challenge-1"}); !errors.Is(err, errAnsUnavailable) {
		t.Errorf("put without the store: %v; want unavailable", err)
	}
	if _, err := cs.take("a", ceremonyChallenge, "challenge-1"); !errors.Is(err, errAnsUnavailable) {
		t.Errorf("take without the store: %v; want unavailable", err)
	}
	st := newOIDCState(nil, down, g.clock.now)
	if err := st.putFlow("state", &oidcFlow{Provider: "test", Binding: "b"}); !errors.Is(err, errOIDCUnavailable) {
		t.Errorf("flow put without the store: %v; want unavailable", err)
	}
	if _, err := st.takeFlow("state", "test", "b"); !errors.Is(err, errOIDCUnavailable) {
		t.Errorf("flow taken without the store: %v; want unavailable", err)
	}
	if err := st.putHandoff("h", domain.OIDCIdentity{UserName: "alice"}, "b"); !errors.Is(err, errOIDCUnavailable) {
		t.Errorf("handoff put without the store: %v; want unavailable", err)
	}
	if _, err := st.takeHandoff("h", "b"); !errors.Is(err, errOIDCUnavailable) {
		t.Errorf("handoff taken without the store: %v; want unavailable", err)
	}

	// The answers people get.
	if a := g.s.errorAnswer(ceremonyStoreErr(errors.New("no responders")), nil); a.Status != http.StatusServiceUnavailable || a.Code != "unavailable" {
		t.Errorf("store error answered %d %s; want 503 unavailable", a.Status, a.Code)
	}
	if a := g.s.errorAnswer(ceremonyStoreErr(shared.ErrFull), nil); a.Status != http.StatusServiceUnavailable || a.Code != "busy" {
		t.Errorf("full bucket answered %d %s; want 503 busy", a.Status, a.Code)
	}
	rec := httptest.NewRecorder()
	ctx, _ := gin.CreateTestContext(rec)
	ctx.Request = httptest.NewRequest("GET", "/jfguard/oidc/test/callback", nil)
	g.s.oidcRefused(ctx, errOIDCUnavailable)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("OIDC page without the store: %d; want 503", rec.Code)
	}
}

// unreachableShared is a shared store whose NATS server has gone away.
func unreachableShared(t *testing.T) *shared.Store {
	t.Helper()
	conn, err := broker.Start(broker.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := shared.Open(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	return sh
}

// providerUser is an account at the local provider whose preferred_username is name.
type providerUser string

func (u providerUser) ID() string { return "sub-" + string(u) }

func (u providerUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.ID()})
}

func (u providerUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &struct {
		*mockoidc.IDTokenClaims
		PreferredUsername string `json:"preferred_username"`
	}{c, string(u)}, nil
}

// atProvider follows the gateway's redirect to the provider, which signs in the
// queued user at once, and returns the path and query of the callback it sends
// the browser back to.
func atProvider(t *testing.T, authURL string) string {
	t.Helper()
	client := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || back.Query().Get("code") == "" {
		t.Fatalf("provider: %d, redirect %q", res.StatusCode, res.Header.Get("Location"))
	}
	return back.Path + "?" + back.RawQuery
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}

// errorOf reads and closes an answer and returns its "error" field.
func errorOf(t *testing.T, res *http.Response) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(readBody(t, res)), &body)
	return body.Error
}

// readBody reads and closes an answer's body.
func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
