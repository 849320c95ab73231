// Package e2e runs the real jfguard program (cli.Main) in process in front of the
// stand-in Jellyfin and drives it the way clients do: the real Jellyfin Go client
// for Jellyfin's API, plain HTTP where a test needs exact control of headers. Every
// test starts its own gateway (own data directory, own ports, own clock), so tests
// run in parallel and limits or lockouts of one never reach another.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/sj14/jellyfin-go/api"
)

// Passwords of the stand-in's users.
const (
	alicePassword = "alice-password"
	bobPassword   = "bob-password"
	adminPassword = "admin-password"
)

// options are what a test changes about the gateway it starts.
type options struct {
	// settings are settings keys on top of the ones every test needs (list values
	// comma-separated, as on the command line).
	settings map[string]string
	// limits override the second-factor rate limits; zero keeps the defaults.
	limits gateway.Limits
	// configFile is a settings file read under the settings, for what the command
	// line cannot express (the list of webhooks).
	configFile string
	// notifyBackoff shortens the alert retry backoff; zero keeps the default.
	notifyBackoff time.Duration
	// freeNATSPort says settings["nats.listen"] is a loopback port found free just
	// before the start; when another test takes it first, the start tries another.
	freeNATSPort bool
}

// gateway is a running jfguard in front of a stand-in Jellyfin, with the
// stand-in's users alice (who enrolls a second factor in most tests), bob (who
// never does) and an administrator.
type testGateway struct {
	main     *cli.Main
	jf       *jellyfin.Server
	jfURL    string
	upstream *jellyfin.RequestLog
	apiKey   string
	alice    jellyfin.User
	bob      jellyfin.User
	admin    jellyfin.User
	clock    *testClock
	settings map[string]string
	opts     options
}

// testClock is the gateway's clock. Tests move it instead of sleeping: past a
// challenge's lifetime, or on to the next TOTP step (a TOTP step is accepted only
// once, so every code a test sends needs a step of its own).
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startGateway starts the stand-in Jellyfin on a loopback port and the real jfguard
// program in front of it, with its own data directory, and stops both when the test
// ends.
func startGateway(t *testing.T, opts options) *testGateway {
	t.Helper()
	jf := jellyfin.New(jellyfin.Options{
		ServerName:   "E2E",
		QuickConnect: true,
		// Legacy authorization on: every credential form the gate must examine is
		// one Jellyfin would honour, so a form the gate missed would get through.
		LegacyAuthorization: true,
		MediaSize:           1 << 20,
	})
	g := &testGateway{
		jf:       jf,
		upstream: &jellyfin.RequestLog{},
		alice:    jf.AddUser("alice", alicePassword, false),
		bob:      jf.AddUser("bob", bobPassword, false),
		admin:    jf.AddUser("admin", adminPassword, true),
		apiKey:   jf.CreateAPIKey("jfguard"),
		// The clock starts at the real time so that what jfguard derives from it
		// (cookie lifetimes, event times) looks as it would in production.
		clock: &testClock{now: time.Now()},
		opts:  opts,
	}
	jf.OnRequest(g.upstream.Record)
	ts := httptest.NewServer(jf)
	g.jfURL = ts.URL
	t.Cleanup(func() {
		_ = jf.Close()
		ts.Close()
	})
	g.settings = map[string]string{
		"listen":           "127.0.0.1:0",
		"upstream":         ts.URL,
		"data_dir":         t.TempDir(),
		"jellyfin.api_key": g.apiKey,
	}
	maps.Copy(g.settings, opts.settings)
	for attempt := 0; opts.freeNATSPort && attempt < 5; attempt++ {
		err := g.start()
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			if err != nil {
				t.Fatalf("start jfguard: %v", err)
			}
			break
		}
		g.settings["nats.listen"] = freeLoopbackAddr(t)
	}
	if g.main == nil {
		g.run(t)
	}
	t.Cleanup(func() {
		if g.main != nil {
			if err := g.main.Close(); err != nil {
				t.Errorf("close jfguard: %v", err)
			}
		}
	})
	return g
}

// run starts jfguard with the gateway's settings.
func (g *testGateway) run(t *testing.T) {
	t.Helper()
	if err := g.start(); err != nil {
		t.Fatalf("start jfguard: %v", err)
	}
}

// start starts jfguard with the gateway's settings.
func (g *testGateway) start() error {
	s, err := cli.LoadSettings(g.opts.configFile, g.opts.configFile != "", nil, g.settings)
	if err != nil {
		return err
	}
	r, err := s.Resolve()
	if err != nil {
		return err
	}
	m := cli.NewMain(r, nil)
	m.Limits = g.opts.limits
	m.NotifyBackoff = g.opts.notifyBackoff
	// A short sweep period: once the clock passes a challenge's lifetime, the
	// sweep logs its token out within milliseconds.
	m.SweepEvery = 20 * time.Millisecond
	m.Clock = g.clock.Now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		return err
	}
	g.main = m
	return nil
}

// restartAfter stops jfguard and, when the clock has moved on by down, starts it
// again on the same data directory.
func (g *testGateway) restartAfter(t *testing.T, down time.Duration) {
	t.Helper()
	if err := g.main.Close(); err != nil {
		t.Fatalf("stop jfguard: %v", err)
	}
	g.main = nil
	g.clock.Advance(down)
	g.run(t)
}

func (g *testGateway) url() string { return g.main.URL() }

// reply is a finished exchange with jfguard.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// errorCode is the "error" field of a jfguard API error.
func (r reply) errorCode() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// fromGate reports whether a reply is a refusal written by jfguard's gate (Jellyfin
// never answers {"jfguard":{"error":…}}).
func (r reply) fromGate() bool {
	var e struct {
		Jfguard struct {
			Error string `json:"error"`
		} `json:"jfguard"`
	}
	return json.Unmarshal(r.body, &e) == nil && e.Jfguard.Error != ""
}

// jsonBody encodes v as a request body.
func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// newRequest builds a request to jfguard; body, when not nil, is sent as JSON.
func (g *testGateway) newRequest(t *testing.T, method, path string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = jsonBody(t, body)
	}
	req, err := http.NewRequest(method, g.url()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// send sends a request and reads the whole answer.
func send(t *testing.T, req *http.Request) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 20*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// do sends a request to jfguard with header name/value pairs.
func (g *testGateway) do(t *testing.T, method, path string, body any, header ...string) reply {
	t.Helper()
	req := g.newRequest(t, method, path, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return send(t, req)
}

// clientHeader is the Authorization header of Jellyfin's web app on a device,
// with a token when one is given.
func clientHeader(deviceID, token string) string {
	h := `MediaBrowser Client="Jellyfin%20Web", Device="Firefox", DeviceId="` + deviceID + `", Version="12.0.0"`
	if token != "" {
		h += `, Token="` + token + `"`
	}
	return h
}

// tokenHeader is an Authorization header carrying only a token.
func tokenHeader(token string) string { return `MediaBrowser Token="` + token + `"` }

// jellyfinClient is the real Jellyfin Go client pointed at jfguard, sending the
// given Authorization header on every request as Jellyfin clients do.
func (g *testGateway) jellyfinClient(authorization string) *api.APIClient {
	cfg := api.NewConfiguration()
	cfg.Servers = api.ServerConfigurations{{URL: g.url()}}
	cfg.DefaultHeader = map[string]string{"Authorization": authorization}
	return api.NewAPIClient(cfg)
}

// signIn posts a password sign-in through jfguard from a device, with extra
// header name/value pairs.
func (g *testGateway) signIn(t *testing.T, name, password, deviceID string, header ...string) reply {
	t.Helper()
	h := append([]string{"Authorization", clientHeader(deviceID, "")}, header...)
	return g.do(t, http.MethodPost, "/Users/AuthenticateByName", map[string]string{"Username": name, "Pw": password}, h...)
}

// authResult is the part of Jellyfin's AuthenticationResult tests read.
type authResult struct {
	AccessToken string
	User        struct {
		ID   string `json:"Id"`
		Name string
	}
}

// signedIn signs a user in and returns the token, failing unless jfguard let the
// sign-in through.
func (g *testGateway) signedIn(t *testing.T, name, password, deviceID string, header ...string) string {
	t.Helper()
	res := g.signIn(t, name, password, deviceID, header...)
	if res.status != http.StatusOK {
		t.Fatalf("sign-in of %s from %s: status %d: %s", name, deviceID, res.status, res.body)
	}
	var a authResult
	res.json(t, &a)
	if a.AccessToken == "" {
		t.Fatalf("sign-in of %s: no token in %s", name, res.body)
	}
	return a.AccessToken
}

// challenge is jfguard's answer to a sign-in that needs a second factor.
type challenge struct {
	id      string
	methods []string
	held    string // the token Jellyfin issued and jfguard holds
}

// challenged signs alice in from a device and returns the challenge, failing unless
// jfguard held the sign-in. The held token is read from the stand-in: the client
// never sees it.
func (g *testGateway) challenged(t *testing.T, deviceID string, header ...string) challenge {
	t.Helper()
	res := g.signIn(t, "alice", alicePassword, deviceID, header...)
	c, ok := g.challengeOf(t, res)
	if !ok {
		t.Fatalf("sign-in of alice from %s was not challenged: status %d: %s", deviceID, res.status, res.body)
	}
	c.held = g.heldToken(t, deviceID)
	return c
}

// challengeOf reads a challenge answer: 401, the X-Jfguard-Challenge header and the
// {"jfguard":{…}} body naming the same challenge.
func (g *testGateway) challengeOf(t *testing.T, res reply) (challenge, bool) {
	t.Helper()
	if res.status != http.StatusUnauthorized {
		return challenge{}, false
	}
	var body struct {
		Jfguard struct {
			Challenge string   `json:"challenge"`
			URL       string   `json:"url"`
			Methods   []string `json:"methods"`
		} `json:"jfguard"`
	}
	if json.Unmarshal(res.body, &body) != nil || body.Jfguard.Challenge == "" {
		return challenge{}, false
	}
	want := "/jfguard/challenge?c=" + body.Jfguard.Challenge
	if got := res.header.Get("X-Jfguard-Challenge"); got != want || body.Jfguard.URL != want {
		t.Errorf("challenge header %q and url %q, want %q", got, body.Jfguard.URL, want)
	}
	if strings.Contains(string(res.body), "AccessToken") {
		t.Errorf("the challenge answer carries a token: %s", res.body)
	}
	return challenge{id: body.Jfguard.Challenge, methods: body.Jfguard.Methods}, true
}

// heldToken finds, at the stand-in, alice's live token on a device.
func (g *testGateway) heldToken(t *testing.T, deviceID string) string {
	t.Helper()
	for _, s := range g.jf.Sessions() {
		if s.UserID == g.alice.ID && s.DeviceID == deviceID {
			return s.Token
		}
	}
	t.Fatalf("the stand-in has no session of alice on %s", deviceID)
	return ""
}

// verify posts a second factor to a challenge.
func (g *testGateway) verify(t *testing.T, id string, body map[string]any, header ...string) reply {
	t.Helper()
	return g.do(t, http.MethodPost, "/jfguard/api/challenge/"+id+"/verify", body, header...)
}

// verified completes a challenge with a code and returns the token it releases.
func (g *testGateway) verified(t *testing.T, c challenge, method, code string) string {
	t.Helper()
	res := g.verify(t, c.id, map[string]any{"method": method, "code": code})
	if res.status != http.StatusOK {
		t.Fatalf("verify %s: status %d: %s", method, res.status, res.body)
	}
	var out struct {
		OK   bool       `json:"ok"`
		Auth authResult `json:"auth"`
	}
	res.json(t, &out)
	if !out.OK || out.Auth.AccessToken == "" {
		t.Fatalf("verify %s: %s", method, res.body)
	}
	return out.Auth.AccessToken
}

// factor is alice's second factor, enrolled through jfguard's self-service API.
type factor struct {
	secret   string
	recovery []string
	token    string // the verified session she enrolled from
}

// enrollAlice signs alice in (she has no second factor yet, so jfguard lets her
// through) and enrolls an authenticator app with that session.
func (g *testGateway) enrollAlice(t *testing.T) factor {
	t.Helper()
	return g.enroll(t, "alice", alicePassword)
}

// enroll signs a user without a second factor in (from device "<name>-setup") and
// enrolls an authenticator app with that session.
func (g *testGateway) enroll(t *testing.T, name, password string) factor {
	t.Helper()
	token := g.signedIn(t, name, password, name+"-setup")
	auth := []string{"Authorization", clientHeader(name+"-setup", token)}
	res := g.do(t, http.MethodPost, "/jfguard/api/me/totp", nil, auth...)
	var begin struct {
		Secret string `json:"secret"`
		URI    string `json:"uri"`
	}
	res.json(t, &begin)
	if res.status != http.StatusOK || begin.Secret == "" || !strings.HasPrefix(begin.URI, "otpauth://totp/") {
		t.Fatalf("begin TOTP: status %d: %s", res.status, res.body)
	}
	res = g.do(t, http.MethodPost, "/jfguard/api/me/totp/confirm", map[string]string{"code": g.code(t, begin.Secret)}, auth...)
	var confirm struct {
		Codes []string `json:"recovery_codes"`
	}
	res.json(t, &confirm)
	if res.status != http.StatusOK || len(confirm.Codes) != 10 {
		t.Fatalf("confirm TOTP: status %d: %s", res.status, res.body)
	}
	return factor{secret: begin.Secret, recovery: confirm.Codes, token: token}
}

// stepUp proves alice's authenticator again for a session, so it may change her
// account for the next few minutes.
func (g *testGateway) stepUp(t *testing.T, token, secret string) {
	t.Helper()
	res := g.do(t, http.MethodPost, "/jfguard/api/me/step-up", map[string]string{"method": "totp", "code": g.code(t, secret)}, "Authorization", tokenHeader(token))
	if res.status != http.StatusOK {
		t.Fatalf("step up: status %d: %s", res.status, res.body)
	}
}

// code returns a fresh TOTP code: the clock moves on one step first, because a step
// once used is refused.
func (g *testGateway) code(t *testing.T, secret string) string {
	t.Helper()
	g.clock.Advance(30 * time.Second)
	c, err := totp.GenerateCodeCustom(secret, g.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code that is not alice's at any step near now.
func (g *testGateway) wrongCode(t *testing.T, secret string) string {
	t.Helper()
	now := g.clock.Now()
	near := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := totp.GenerateCodeCustom(secret, now.Add(d), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		near[c] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// reachedJellyfin reports whether any request other than jfguard's own carried
// token to the stand-in, in a header or the query.
func (g *testGateway) reachedJellyfin(token string) bool {
	for _, r := range g.upstream.Requests() {
		if strings.Contains(r.Header.Get("Authorization"), `Client="jfguard"`) {
			continue
		}
		if strings.Contains(r.RawQuery, token) {
			return true
		}
		for _, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, token) {
					return true
				}
			}
		}
	}
	return false
}

// eventTypes counts the events in jfguard's stream by type.
func (g *testGateway) eventTypes(t *testing.T) map[events.Type]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := map[events.Type]int{}
	if _, err := g.main.Store().Scan(ctx, 1, func(ev events.Event) error {
		n[ev.Type]++
		return nil
	}); err != nil {
		t.Fatalf("scan the stream: %v", err)
	}
	return n
}

// eventsOf returns the events of one type in the stream, in order.
func (g *testGateway) eventsOf(t *testing.T, typ events.Type) []events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []events.Event
	if _, err := g.main.Store().Scan(ctx, 1, func(ev events.Event) error {
		if ev.Type == typ {
			out = append(out, ev)
		}
		return nil
	}); err != nil {
		t.Fatalf("scan the stream: %v", err)
	}
	return out
}

// sessionReasons lists the reasons of the session_verified events, in order.
func (g *testGateway) sessionReasons(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, ev := range g.eventsOf(t, "session_verified") {
		var d struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("session_verified data %s: %v", ev.Data, err)
		}
		out = append(out, d.Reason)
	}
	return out
}

// expectEvents fails unless the stream holds at least one event of each type.
func (g *testGateway) expectEvents(t *testing.T, types ...events.Type) {
	t.Helper()
	got := g.eventTypes(t)
	for _, typ := range types {
		if got[typ] == 0 {
			t.Errorf("no %s event in the stream (have %v)", typ, got)
		}
	}
}

// eventually waits, for a bounded time, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rpc calls the control API with jfguard's admin token.
func (g *testGateway) rpc(t *testing.T, method string, params any) (json.RawMessage, *rpcError) {
	t.Helper()
	res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
		"Authorization", "Bearer "+g.main.AdminToken())
	if res.status != http.StatusOK {
		t.Fatalf("rpc %s: status %d: %s", method, res.status, res.body)
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	res.json(t, &out)
	return out.Result, out.Error
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// byName is the body of AuthenticateUserByName in the real client.
func byName(name, password string) api.AuthenticateUserByName {
	return api.AuthenticateUserByName{
		Username: *api.NewNullableString(api.PtrString(name)),
		Pw:       *api.NewNullableString(api.PtrString(password)),
	}
}

// trustCookie returns the jfguard_trust cookie a reply sets, if any.
func trustCookie(res reply) *http.Cookie {
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == "jfguard_trust" {
			return c
		}
	}
	return nil
}

// probeHeader marks a test's request so the stand-in's log shows whether that very
// request reached Jellyfin.
const probeHeader = "X-E2e-Probe"

// reachedWith reports whether a request marked with probe reached the stand-in.
func (g *testGateway) reachedWith(probe string) bool {
	for _, r := range g.upstream.Requests() {
		if r.Header.Get(probeHeader) == probe {
			return true
		}
	}
	return false
}

// checkSecurityHeaders fails unless a jfguard answer carries the security headers
// and a strict Content-Security-Policy.
func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	directives := map[string]string{}
	for d := range strings.SplitSeq(h.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
		"form-action":     "'self'",
	} {
		if directives[name] != want {
			t.Errorf("%s: CSP %s %q, want %q (policy %q)", what, name, directives[name], want, h.Get("Content-Security-Policy"))
		}
	}
	for _, loose := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} {
		for name, value := range directives {
			if strings.Contains(" "+value+" ", " "+loose+" ") {
				t.Errorf("%s: CSP %s allows %s", what, name, loose)
			}
		}
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %s %q, want %q", what, name, got, want)
		}
	}
}

// lockedUntil reads the locked_until of a lockout answer.
func lockedUntil(t *testing.T, res reply) time.Time {
	t.Helper()
	var body struct {
		Error       string    `json:"error"`
		LockedUntil time.Time `json:"locked_until"`
	}
	res.json(t, &body)
	if res.status != http.StatusTooManyRequests || body.Error != "locked" || body.LockedUntil.IsZero() {
		t.Fatalf("want a lockout; status %d: %s", res.status, res.body)
	}
	if secs, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q", res.header.Get("Retry-After"))
	}
	return body.LockedUntil
}
