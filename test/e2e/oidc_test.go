package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jfguard/jfguard/http"
	"github.com/oauth2-proxy/mockoidc"
)

// oidcUser is an account at the local provider; edit changes the ID token's
// standard claims before it is signed (a wrong audience, an expired token).
type oidcUser struct {
	name   string
	groups []string
	amr    []string
	edit   func(c *mockoidc.IDTokenClaims)
}

func (u oidcUser) ID() string { return "sub-" + u.name }

func (u oidcUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.ID()})
}

func (u oidcUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.edit != nil {
		u.edit(c)
	}
	return &struct {
		*mockoidc.IDTokenClaims
		PreferredUsername string   `json:"preferred_username,omitempty"`
		Groups            []string `json:"groups,omitempty"`
		AMR               []string `json:"amr,omitempty"`
	}{c, u.name, u.groups, u.amr}, nil
}

// oidcWorld is jfguard with one provider, "test", run by mockoidc on loopback.
type oidcWorld struct {
	*testGateway
	idp *mockoidc.MockOIDC
}

func startOIDC(t *testing.T) oidcWorld {
	t.Helper()
	return startOIDCWith(t, options{limits: gateway.Limits{VerifyPerIP: 1000, VerifyPerUser: 1000}})
}

// startOIDCWith starts the provider and jfguard with opts (its settings file is the
// provider's).
func startOIDCWith(t *testing.T, opts options) oidcWorld {
	t.Helper()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, []byte(idp.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "jfguard.yaml")
	yaml := `public_url: "http://jellyfin.example.com"
oidc:
  providers:
    - id: test
      name: Test Provider
      issuer: "` + idp.Issuer() + `"
      client_id: "` + idp.ClientID + `"
      client_secret_file: "` + secretFile + `"
      groups: [jellyfin]
      second_factor_amr: [otp, mfa]
`
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.configFile = config
	g := startGateway(t, opts)
	return oidcWorld{g, idp}
}

var noRedirects = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get sends a GET without following redirects, with the cookies given.
func get(t *testing.T, u string, cookies ...*http.Cookie) reply {
	t.Helper()
	return getFrom(t, u, "", cookies...)
}

// getFrom is get from a client at an address (X-Forwarded-For) when from is set.
func getFrom(t *testing.T, u, from string, cookies ...*http.Cookie) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	var body strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return reply{status: res.StatusCode, header: res.Header, body: []byte(body.String())}
}

// oidcRound is a browser's trip to the provider: the cookie jfguard set and the
// callback the provider sent the browser back to.
type oidcRound struct {
	cookie   *http.Cookie
	callback string
}

// toProvider starts a sign-in and lets the provider authenticate user.
func (w oidcWorld) toProvider(t *testing.T, user oidcUser) oidcRound {
	t.Helper()
	start := get(t, w.url()+"/jfguard/oidc/test/start")
	if start.status != http.StatusFound {
		t.Fatalf("start: status %d: %s", start.status, start.body)
	}
	cookies := (&http.Response{Header: start.header}).Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].Path != "/jfguard/oidc/" {
		t.Fatalf("start: cookies %+v; want one HttpOnly, SameSite=Lax cookie on /jfguard/oidc/", cookies)
	}
	auth, err := url.Parse(start.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" ||
		q.Get("redirect_uri") != "http://jellyfin.example.com/jfguard/oidc/test/callback" {
		t.Fatalf("start: the provider is asked %s; want PKCE S256, a nonce, a state and the registered redirect URI", auth)
	}
	w.idp.QueueUser(user)
	back := get(t, auth.String())
	if back.status != http.StatusFound {
		t.Fatalf("provider: status %d: %s", back.status, back.body)
	}
	cb, err := url.Parse(back.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return oidcRound{cookie: cookies[0], callback: w.url() + cb.Path + "?" + cb.RawQuery}
}

var handoffRE = regexp.MustCompile(`data-handoff="([^"]+)"`)

// back follows the provider's redirect with the browser's cookie; it returns the
// page and the handoff it carries, if any.
func (w oidcWorld) back(t *testing.T, r oidcRound) (reply, string) {
	t.Helper()
	page := get(t, r.callback, r.cookie)
	if m := handoffRE.FindSubmatch(page.body); m != nil {
		return page, string(m[1])
	}
	return page, ""
}

// finish is the page's script: it hands the handoff in with the web app's headers.
func (w oidcWorld) finish(t *testing.T, r oidcRound, handoff, device string) reply {
	t.Helper()
	req := w.newRequest(t, http.MethodPost, "/jfguard/oidc/finish", map[string]string{"handoff": handoff})
	req.Header.Set("Authorization", clientHeader(device, ""))
	req.AddCookie(r.cookie)
	return send(t, req)
}

// signIn runs the whole flow and returns the finish's answer.
func (w oidcWorld) signIn(t *testing.T, user oidcUser, device string) reply {
	t.Helper()
	r := w.toProvider(t, user)
	page, handoff := w.back(t, r)
	if page.status != http.StatusOK || handoff == "" {
		t.Fatalf("callback: status %d, no handoff: %s", page.status, page.body)
	}
	return w.finish(t, r, handoff, device)
}

func (w oidcWorld) token(t *testing.T, res reply) string {
	t.Helper()
	var out struct {
		Auth authResult `json:"auth"`
	}
	res.json(t, &out)
	if res.status != http.StatusOK || out.Auth.AccessToken == "" {
		t.Fatalf("finish: status %d: %s", res.status, res.body)
	}
	return out.Auth.AccessToken
}

// TestOIDCSignIn: a provider's sign-in yields a working Jellyfin session for the web
// app's device; the provider's amr decides whether it is the second factor.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	w := startOIDC(t)
	inGroup := []string{"staff", "jellyfin"}

	// The providers are listed, names only, for the web app's sign-in form.
	var list struct {
		Providers []map[string]string `json:"providers"`
	}
	w.do(t, http.MethodGet, "/jfguard/api/oidc", nil).json(t, &list)
	if len(list.Providers) != 1 || list.Providers[0]["id"] != "test" || list.Providers[0]["name"] != "Test Provider" || len(list.Providers[0]) != 2 {
		t.Fatalf("providers %v", list.Providers)
	}
	if page := w.do(t, http.MethodGet, "/jfguard/login", nil); !strings.Contains(string(page.body), `href="/jfguard/oidc/test/start"`) ||
		!strings.Contains(string(page.body), "Sign in with Test Provider") {
		t.Fatalf("the sign-in page has no provider button: %s", page.body)
	}

	// bob has no second factor: the password at the provider is enough.
	token := w.token(t, w.signIn(t, oidcUser{name: "bob", groups: inGroup, amr: []string{"pwd"}}, "bob-browser"))
	if res := w.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", clientHeader("bob-browser", token)); res.status != http.StatusOK {
		t.Fatalf("bob's OIDC session at Jellyfin: status %d", res.status)
	}

	// alice has one: a provider that checked only her password is refused...
	w.enrollAlice(t)
	res := w.signIn(t, oidcUser{name: "alice", groups: inGroup, amr: []string{"pwd"}}, "alice-browser")
	if res.status != http.StatusForbidden || res.errorCode() != "oidc_second_factor" {
		t.Fatalf("alice without a second factor at the provider: status %d: %s", res.status, res.body)
	}
	// ...one that checked a second factor signs her in at aal2.
	token = w.token(t, w.signIn(t, oidcUser{name: "alice", groups: inGroup, amr: []string{"pwd", "otp"}}, "alice-browser"))
	if res := w.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", clientHeader("alice-browser", token)); res.status != http.StatusOK {
		t.Fatalf("alice's OIDC session at Jellyfin: status %d", res.status)
	}
	var levels []string
	for _, ev := range w.eventsOf(t, "session_verified") {
		var d struct{ Reason, Assurance string }
		_ = json.Unmarshal(ev.Data, &d)
		if d.Reason == "oidc_sign_in" {
			levels = append(levels, d.Assurance)
		}
	}
	if strings.Join(levels, ",") != "aal1,aal2" {
		t.Fatalf("OIDC sessions at %v; want bob's at aal1, alice's at aal2", levels)
	}
	var oidcFactors int
	for _, ev := range w.eventsOf(t, "factor_verified") {
		var d struct{ Method string }
		_ = json.Unmarshal(ev.Data, &d)
		if d.Method == "oidc" {
			oidcFactors++
		}
	}
	if oidcFactors != 1 {
		t.Fatalf("%d factor_verified with method oidc; want 1", oidcFactors)
	}
}

// TestOIDCRefusals: every check of the flow refuses, and the refusals are recorded.
func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	w := startOIDC(t)
	inGroup := []string{"jellyfin"}
	bob := func(edit func(c *mockoidc.IDTokenClaims)) oidcUser {
		return oidcUser{name: "bob", groups: inGroup, edit: edit}
	}
	atCallback := []struct {
		name   string
		user   oidcUser
		status int
		text   string
	}{
		{"a wrong audience", bob(func(c *mockoidc.IDTokenClaims) { c.Audience = jwt.ClaimStrings{"another-client"} }), http.StatusUnauthorized, "did not verify"},
		{"an expired ID token", bob(func(c *mockoidc.IDTokenClaims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }), http.StatusUnauthorized, "did not verify"},
		{"a wrong nonce", bob(func(c *mockoidc.IDTokenClaims) { c.Nonce = "another-nonce" }), http.StatusUnauthorized, "did not verify"},
		{"another issuer", bob(func(c *mockoidc.IDTokenClaims) { c.Issuer = "https://evil.example" }), http.StatusUnauthorized, "did not verify"},
		{"no user claim", oidcUser{groups: inGroup}, http.StatusForbidden, "not linked to a Jellyfin user"},
		{"outside the allowed groups", oidcUser{name: "bob", groups: []string{"staff"}}, http.StatusForbidden, "may not sign in here"},
	}
	for _, tc := range atCallback {
		r := w.toProvider(t, tc.user)
		page, handoff := w.back(t, r)
		if page.status != tc.status || handoff != "" || !strings.Contains(string(page.body), tc.text) {
			t.Errorf("%s: callback status %d, handoff %q; want %d and %q: %s", tc.name, page.status, handoff, tc.status, tc.text, page.body)
		}
	}

	// A replayed state, and a callback in a browser that did not start the flow.
	r := w.toProvider(t, oidcUser{name: "bob", groups: inGroup})
	if page, _ := w.back(t, oidcRound{callback: r.callback}); page.status != http.StatusBadRequest {
		t.Errorf("a callback without the starting browser's cookie: status %d", page.status)
	}
	if page, _ := w.back(t, r); page.status != http.StatusBadRequest {
		t.Errorf("the state after a refused use: status %d; want it gone", page.status)
	}
	r = w.toProvider(t, oidcUser{name: "bob", groups: inGroup})
	_, handoff := w.back(t, r)
	if page, h := w.back(t, r); page.status != http.StatusBadRequest || h != "" || !strings.Contains(string(page.body), "already used") {
		t.Errorf("a replayed state: status %d, handoff %q", page.status, h)
	}
	// The handoff needs the web app's headers and the browser's cookie, once.
	req := w.newRequest(t, http.MethodPost, "/jfguard/oidc/finish", map[string]string{"handoff": handoff})
	req.Header.Set("Authorization", clientHeader("bob-browser", ""))
	if res := send(t, req); res.status != http.StatusBadRequest || res.errorCode() != "oidc_expired" {
		t.Errorf("a handoff without the cookie: status %d: %s", res.status, res.body)
	}
	if res := w.finish(t, r, handoff, "bob-browser"); res.status != http.StatusBadRequest {
		t.Errorf("a handoff after a refused use: status %d: %s", res.status, res.body)
	}
	r = w.toProvider(t, oidcUser{name: "bob", groups: inGroup})
	_, handoff = w.back(t, r)
	w.token(t, w.finish(t, r, handoff, "bob-browser"))
	if res := w.finish(t, r, handoff, "bob-browser"); res.status != http.StatusBadRequest {
		t.Errorf("a replayed handoff: status %d: %s", res.status, res.body)
	}

	// A name no Jellyfin user has.
	if res := w.signIn(t, oidcUser{name: "mallory", groups: inGroup}, "mallory-browser"); res.status != http.StatusForbidden || res.errorCode() != "oidc_unmapped" {
		t.Errorf("an unknown user: status %d: %s", res.status, res.body)
	}

	var recorded int
	for _, ev := range w.eventsOf(t, "sign_in_failed") {
		var d struct{ Reason string }
		_ = json.Unmarshal(ev.Data, &d)
		if d.Reason == "oidc" {
			recorded++
		}
	}
	// Six refused tokens, two refused states, one replayed state, one unknown user.
	if recorded != 10 {
		t.Errorf("%d sign_in_failed with reason oidc; want 10", recorded)
	}
}

// TestOIDCAttackers: a banned address cannot use any step of the flow, the callback
// is rate-limited like the other sign-in routes, and an unknown provider is no route
// to anything.
func TestOIDCAttackers(t *testing.T) {
	t.Parallel()
	w := startOIDCWith(t, options{settings: proxySettings})
	const banned, other = "203.0.113.9", "198.51.100.7"

	// A flow begun before the ban, from the address that is then banned.
	r := w.toProvider(t, oidcUser{name: "bob", groups: []string{"jellyfin"}})
	if _, rerr := w.rpc(t, "bans.add", map[string]any{"ip": banned}); rerr != nil {
		t.Fatalf("bans.add: %v", rerr)
	}
	if res := getFrom(t, w.url()+"/jfguard/oidc/test/start", banned); res.status != http.StatusForbidden {
		t.Errorf("start from a banned address: status %d", res.status)
	}
	if res := getFrom(t, r.callback, banned, r.cookie); res.status != http.StatusForbidden || handoffRE.Match(res.body) {
		t.Errorf("callback from a banned address: status %d", res.status)
	}
	req := w.newRequest(t, http.MethodPost, "/jfguard/oidc/finish", map[string]string{"handoff": "anything"})
	req.Header.Set("Authorization", clientHeader("bob-browser", ""))
	req.Header.Set("X-Forwarded-For", banned)
	if res := send(t, req); res.status != http.StatusForbidden {
		t.Errorf("finish from a banned address: status %d: %s", res.status, res.body)
	}

	// Forged callbacks (made-up states) from one address: ten a minute, then 429.
	var last int
	for range 11 {
		last = getFrom(t, w.url()+"/jfguard/oidc/test/callback?state=made-up&code=x", other).status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("the eleventh callback in a minute: status %d; want 429", last)
	}

	if res := get(t, w.url()+"/jfguard/oidc/nope/start"); res.status != http.StatusNotFound {
		t.Errorf("an unknown provider: status %d", res.status)
	}
	if res := get(t, w.url()+"/jfguard/oidc/nope/callback?state=x&code=y"); res.status != http.StatusNotFound {
		t.Errorf("an unknown provider's callback: status %d", res.status)
	}
}
