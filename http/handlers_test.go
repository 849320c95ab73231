package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections/usecase"
)

// Handler tests: the handlers translate HTTP into use-case calls and results or
// errors into answers. Here the use cases are fakes of the area's small interface
// (the rest of useCases is embedded and nil, so a call outside the area fails the
// test loudly) and the shared buckets are in memory (memShared): no event store,
// no Jellyfin, no NATS. handlerServer refuses a gateway that could reach NATS.

// fakeChallenges fakes the sign-in area's challenge use cases.
type fakeChallenges struct {
	useCases
	users  map[string]string
	got    []usecase.VerifyRequest
	result usecase.VerifyResult
	err    error
}

func (f *fakeChallenges) ChallengeUser(id string) (string, bool) {
	uid, ok := f.users[id]
	return uid, ok
}

func (f *fakeChallenges) VerifyChallenge(_ context.Context, req usecase.VerifyRequest) (usecase.VerifyResult, error) {
	f.got = append(f.got, req)
	return f.result, f.err
}

// fakeAccounts fakes the self-service area: one verified session, and the step-up
// rule's answer.
type fakeAccounts struct {
	useCases
	token     string
	uid       string
	authorize error
	asked     []usecase.Account
}

func (f *fakeAccounts) VerifiedUser(token string) string {
	if token == f.token {
		return f.uid
	}
	return ""
}

func (f *fakeAccounts) Authorize(_ context.Context, a usecase.Account) error {
	f.asked = append(f.asked, a)
	return f.authorize
}

// handlerServer is a gateway on fake use cases and in-memory shared buckets, with
// the default rate limits: nothing below the handlers.
func handlerServer(t *testing.T, app useCases) *Server {
	t.Helper()
	return fakeNode(t, app, newMemShared(), Limits{})
}

// fakeNode is a gateway on fake use cases, the in-memory shared buckets sh and the
// given rate limits (zero: the defaults). It refuses to hand a test a gateway that
// reaches anything needing NATS: a handler test that needs it tests something else.
func fakeNode(t *testing.T, app useCases, sh *memShared, limits Limits) *Server {
	t.Helper()
	s := handlerNode(t, app, sh, limits)
	if path := natsReachable(s); path != "" {
		t.Fatalf("a handler test's gateway reaches NATS through %s: give it a fake (memShared, a use-case fake)", path)
	}
	return s
}

// handlerNode is a gateway on fake use cases, with its shared buckets in sh and
// the given rate limits (zero: the defaults).
func handlerNode(t *testing.T, app useCases, sh SharedState, limits Limits) *Server {
	t.Helper()
	return newServer(Options{BasePolicy: domain.DefaultPolicy(), TrustKeys: domain.TrustKeys{Current: make([]byte, 32)},
		Shared: sh, Limits: limits, Logger: slog.New(slog.DiscardHandler)}, app)
}

// natsPackages are jfguard's packages whose values stand for a NATS connection or
// server (with every package of github.com/nats-io).
var natsPackages = []string{
	"github.com/jfguard/jfguard/embed",
	"github.com/jfguard/jfguard/events/audit",
	"github.com/jfguard/jfguard/events/seal",
	"github.com/jfguard/jfguard/events/shared",
	"github.com/jfguard/jfguard/events/store",
	"github.com/jfguard/jfguard/projections",
}

// needsNATS reports whether a value of type t stands for NATS.
func needsNATS(t reflect.Type) bool {
	return strings.HasPrefix(t.PkgPath(), "github.com/nats-io/") || slices.Contains(natsPackages, t.PkgPath())
}

// natsReachable walks everything a gateway holds (fields, pointers, interfaces,
// slices, maps) and returns the path of the first value that stands for NATS, or
// "" when there is none.
func natsReachable(s *Server) string {
	type visit struct {
		ptr uintptr
		typ reflect.Type
	}
	seen := map[visit]bool{}
	var walk func(v reflect.Value, path string) string
	walk = func(v reflect.Value, path string) string {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				return ""
			}
			if needsNATS(v.Type().Elem()) {
				return path
			}
			if k := (visit{v.Pointer(), v.Type()}); !seen[k] {
				seen[k] = true
				return walk(v.Elem(), path)
			}
		case reflect.Interface:
			if !v.IsNil() {
				return walk(v.Elem(), path)
			}
		case reflect.Struct:
			if needsNATS(v.Type()) {
				return path
			}
			for i := range v.NumField() {
				if p := walk(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
					return p
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				if p := walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
					return p
				}
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				if p := walk(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key())); p != "" {
					return p
				}
			}
		}
		return ""
	}
	return walk(reflect.ValueOf(s), "Server")
}

// TestHandlerServerNeedsNoNATS: the handler tests' gateway holds nothing that
// needs NATS, and the check finds it wherever a store, the shared buckets or the
// password step's turns would be given to one.
func TestHandlerServerNeedsNoNATS(t *testing.T) {
	fake := &fakeChallenges{users: map[string]string{"c1": "u1"}, err: domain.ErrCodeInvalid}
	s := handlerServer(t, fake)
	if path := natsReachable(s); path != "" {
		t.Fatalf("reaches NATS through %s", path)
	}
	if w := serve(s, "POST", "/jfguard/api/challenge/c1/verify", `{"code":"123456"}`, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for name, opts := range map[string]Options{
		"shared buckets": {Shared: &shared.Store{}},
		"turns":          {Turns: usecase.SharedTurns(&shared.Store{})},
		"event store":    {Store: &store.Store{}},
	} {
		if path := natsReachable(newServer(opts, fake)); path == "" {
			t.Errorf("%s: not found", name)
		}
	}
}

func serve(s *Server, method, path, body string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "203.0.113.5:41000"
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestChallengeVerifyTranslatesTheRequestAndTheResult(t *testing.T) {
	// given a held sign-in the use case completes, trusting the browser
	expires := time.Now().Add(30 * 24 * time.Hour)
	fake := &fakeChallenges{users: map[string]string{"c1": "u1"},
		result: usecase.VerifyResult{AuthResult: []byte(`{"AccessToken":"tok"}`), TrustCookie: "cookie-value", TrustExpiresAt: expires}}
	s := handlerServer(t, fake)
	// when the page posts a six-digit code with "trust this browser"
	w := serve(s, "POST", "/jfguard/api/challenge/c1/verify", `{"code":"123456","trust_browser":true,"device_id":"dev-9"}`, nil)
	// then the use case got the code as a TOTP proof, the caller's address and the device
	if len(fake.got) != 1 {
		t.Fatalf("use case called %d times", len(fake.got))
	}
	req := fake.got[0]
	if req.ChallengeID != "c1" || req.Proof.Method != domain.MethodTOTP || req.Proof.Code != "123456" ||
		!req.TrustBrowser || req.DeviceID != "dev-9" || req.Caller.IP.String() != "203.0.113.5" {
		t.Fatalf("request = %+v", req)
	}
	// and the answer carries the held result and sets the trust cookie
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var body struct {
		OK   bool            `json:"ok"`
		Auth json.RawMessage `json:"auth"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !body.OK || string(body.Auth) != `{"AccessToken":"tok"}` {
		t.Fatalf("body %s (%v)", w.Body, err)
	}
	if c := w.Header().Get("Set-Cookie"); !strings.Contains(c, trustCookieName+"=cookie-value") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
		t.Fatalf("Set-Cookie = %q", c)
	}
}

func TestChallengeVerifyAnswersEachRefusalOnce(t *testing.T) {
	locked := time.Now().Add(90 * time.Second)
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"wrong code", domain.ErrCodeInvalid, http.StatusUnauthorized, "invalid_code"},
		{"burned", domain.ErrChallengeBurned, http.StatusGone, "challenge_burned"},
		{"locked", &domain.LockedError{Until: locked}, http.StatusTooManyRequests, "locked"},
		{"gone", domain.ErrChallengeCompleted, http.StatusNotFound, "challenge_not_found"},
		{"cloned passkey", domain.ErrPasskeyCloned, http.StatusUnauthorized, "passkey_refused"},
		// An error the mapper does not know is still "that code did not work".
		{"anything else", context.DeadlineExceeded, http.StatusUnauthorized, "invalid_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// given a use case that refuses the factor
			s := handlerServer(t, &fakeChallenges{users: map[string]string{"c1": "u1"}, err: tc.err})
			// when a code is posted
			w := serve(s, "POST", "/jfguard/api/challenge/c1/verify", `{"code":"123456"}`, nil)
			// then the answer is the mapper's for that error
			var body struct{ Error string }
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != tc.status || body.Error != tc.code {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if tc.code == "locked" && w.Header().Get("Retry-After") == "" {
				t.Fatal("no Retry-After on a lockout")
			}
		})
	}
}

func TestChallengeVerifyUnknownChallengeNeverReachesTheUseCase(t *testing.T) {
	// given no such challenge
	fake := &fakeChallenges{users: map[string]string{}}
	s := handlerServer(t, fake)
	// when a code is posted for it
	w := serve(s, "POST", "/jfguard/api/challenge/nope/verify", `{"code":"123456"}`, nil)
	// then it is not found and nothing is verified
	if w.Code != http.StatusNotFound || len(fake.got) != 0 {
		t.Fatalf("status %d, use case calls %d", w.Code, len(fake.got))
	}
}

func TestSelfServiceRouteAsksTheStepUpRuleWithItsDeclaredAction(t *testing.T) {
	// given a verified session whose step-up the rule refuses
	fake := &fakeAccounts{token: "tok-weak", uid: "u1",
		authorize: &domain.StepUpError{Action: domain.ActionFactors, Methods: []string{domain.MethodTOTP}}}
	s := handlerServer(t, fake)
	// when it asks to start adding an authenticator app
	w := serve(s, "POST", "/jfguard/api/me/totp", `{}`, http.Header{"X-Emby-Token": {"tok-weak"}})
	// then the rule was asked for that user, session and action
	if len(fake.asked) != 1 {
		t.Fatalf("rule asked %d times", len(fake.asked))
	}
	a := fake.asked[0]
	if a.UserID != "u1" || a.TokenHash != tokenHash("tok-weak") || a.Action != domain.ActionFactors || a.Proof {
		t.Fatalf("account = %+v", a)
	}
	// and its refusal is the step-up answer: 403 with the methods and where to prove one
	var body struct {
		Error   string   `json:"error"`
		Methods []string `json:"methods"`
		StepUp  string   `json:"step_up"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusForbidden ||
		body.Error != "step_up_required" || len(body.Methods) != 1 || body.StepUp != "/jfguard/api/me/step-up" {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

func TestSelfServiceRefusesATokenThatIsNotAVerifiedSession(t *testing.T) {
	// given a token the use cases do not know as a verified session
	fake := &fakeAccounts{token: "tok-weak", uid: "u1"}
	s := handlerServer(t, fake)
	for _, h := range []http.Header{nil, {"X-Emby-Token": {"someone-else"}}} {
		// when it asks for a change
		w := serve(s, "POST", "/jfguard/api/me/totp", `{}`, h)
		// then it is unauthorized, and the step-up rule was never asked
		if w.Code != http.StatusUnauthorized || len(fake.asked) != 0 {
			t.Fatalf("status %d, rule asked %d times", w.Code, len(fake.asked))
		}
	}
}

// Banned: no address is banned in these tests unless a fake says so.
func (f *fakeChallenges) Banned(netip.Addr) bool { return false }
func (f *fakeAccounts) Banned(netip.Addr) bool   { return false }

// answerOf is an answer's status, error code and Retry-After header.
func answerOf(w *httptest.ResponseRecorder) string {
	var body struct{ Error string }
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return fmt.Sprintf("%d %s retry-after=%q", w.Code, body.Error, w.Header().Get("Retry-After"))
}

// codeFrom posts a code for challenge c1 from the address from.
func codeFrom(s *Server, from string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/jfguard/api/challenge/c1/verify", strings.NewReader(`{"code":"123456"}`))
	r.RemoteAddr = from + ":41000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// errStoreDown is a shared bucket out of reach, as NATS says it.
var errStoreDown = errors.New("nats: connection closed")

func TestSignInLimitsAnswerOverALimitAndWhenTheyCannotCount(t *testing.T) {
	perIP := Limits{VerifyPerIP: 1, VerifyIPWindow: time.Hour, VerifyPerUser: 100, VerifyUserWindow: time.Hour}
	perUser := Limits{VerifyPerIP: 100, VerifyIPWindow: time.Hour, VerifyPerUser: 1, VerifyUserWindow: 2 * time.Hour}
	cases := []struct {
		name   string
		limits Limits
		fail   error
		second string // the second code's address
		want   string
		checks int
	}{
		{"over the address's limit", perIP, nil, "203.0.113.5", `429 rate_limited retry-after="3600"`, 1},
		{"over the user's limit", perUser, nil, "198.51.100.7", `429 rate_limited retry-after="7200"`, 1},
		{"limits out of reach", perIP, errStoreDown, "203.0.113.5", `503 unavailable retry-after="30"`, 0},
		{"limits full", perIP, fmt.Errorf("%w: no room", shared.ErrFull), "203.0.113.5", `503 unavailable retry-after="30"`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// given a held sign-in whose codes are wrong, and limits in the state they say
			st := newMemShared()
			st.fail(tc.fail, shared.Limits)
			fake := &fakeChallenges{users: map[string]string{"c1": "u1"}, err: domain.ErrCodeInvalid}
			s := fakeNode(t, fake, st, tc.limits)
			// when two codes are posted
			codeFrom(s, "203.0.113.5")
			w := codeFrom(s, tc.second)
			// then the second is refused with the limit's answer, and no refused code
			// reached the use case
			if got := answerOf(w); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if len(fake.got) != tc.checks {
				t.Fatalf("%d codes checked, want %d", len(fake.got), tc.checks)
			}
		})
	}
}

// fakePasskeys fakes the passkey area: the user a challenge may answer with a
// passkey.
type fakePasskeys struct {
	useCases
	user *domain.User
}

func (f *fakePasskeys) ChallengePasskeyUser(string) (*domain.User, error) { return f.user, nil }
func (f *fakePasskeys) Banned(netip.Addr) bool                            { return false }

func TestChallengePasskeyBeginAnswersWhatTheCeremoniesBucketSays(t *testing.T) {
	alice := &domain.User{ID: "u1", Name: "alice", Passkeys: map[string]*domain.Passkey{"k1": {PasskeyRegistered: events.PasskeyRegistered{
		CredentialID: b64.EncodeToString([]byte("credential-1")), PublicKey: b64.EncodeToString([]byte("public-key"))}}}}
	cases := []struct {
		name string
		fail error
		on   shared.Kind
		want string
	}{
		{"stored", nil, shared.Ceremonies, `200  retry-after=""`},
		{"ceremonies full", fmt.Errorf("%w: no room", shared.ErrFull), shared.Ceremonies, `503 busy retry-after="60"`},
		{"ceremonies out of reach", errStoreDown, shared.Ceremonies, `503 unavailable retry-after=""`},
		{"limits out of reach", errStoreDown, shared.Limits, `503 unavailable retry-after="30"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// given passkeys on, a challenge of a user with a passkey, and the buckets
			// in the state the case says
			st := newMemShared()
			st.fail(tc.fail, tc.on)
			s := fakeNode(t, &fakePasskeys{user: alice}, st, Limits{})
			s.rp, _ = newRelyingParty(WebAuthnSettings{RPID: testRPID, Origins: []string{testOrigin}}, "Jellyfin")
			// when the page asks to answer the challenge with a passkey
			w := serve(s, "POST", "/jfguard/api/challenge/c1/passkey", `{}`, nil)
			// then the answer is the bucket's
			if got := answerOf(w); got != tc.want {
				t.Fatalf("got %s, want %s: %s", got, tc.want, w.Body)
			}
			if tc.fail != nil {
				return
			}
			// and a stored ceremony is this challenge's, good for one answer
			var body struct{ Ceremony string }
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if _, err := s.ceremonies.take(body.Ceremony, ceremonyChallenge, "c1"); err != nil {
				t.Fatalf("ceremony %q: %v", body.Ceremony, err)
			}
			if _, err := s.ceremonies.take(body.Ceremony, ceremonyChallenge, "c1"); !errors.Is(err, errCeremonyUnknown) {
				t.Fatalf("taken twice: %v", err)
			}
		})
	}
}

// fakeOIDC fakes the OIDC sign-in's use case.
type fakeOIDC struct {
	useCases
	got  []usecase.OIDCSignInRequest
	auth []byte
	err  error
}

func (f *fakeOIDC) OIDCSignIn(_ context.Context, req usecase.OIDCSignInRequest) ([]byte, error) {
	f.got = append(f.got, req)
	return f.auth, f.err
}

func (f *fakeOIDC) Banned(netip.Addr) bool { return false }

// oidcFinish posts the page's finish of handoff from the browser holding the flow
// cookie browser.
func oidcFinish(s *Server, handoff, browser string) *httptest.ResponseRecorder {
	return serve(s, "POST", "/jfguard/oidc/finish", `{"handoff":"`+handoff+`"}`, http.Header{
		"Cookie":               {oidcCookie + "=" + browser},
		"X-Emby-Authorization": {`MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="dev-1", Version="10.10.0"`},
	})
}

// handoffFor stores a handoff of alice for the browser holding the flow cookie
// browser, as the callback does.
func handoffFor(t *testing.T, s *Server, id, browser string) {
	t.Helper()
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("POST", "/jfguard/oidc/finish", nil)
	c.Request.AddCookie(&http.Cookie{Name: oidcCookie, Value: browser})
	if err := s.oidc.putHandoff(id, domain.OIDCIdentity{UserName: "alice"}, oidcBinding(c)); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCFinishAnswersEachOutcomeOfTheSignIn(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"signed in", nil, `200  retry-after=""`},
		{"outside the networks", domain.ErrOutsideNetworks, `403 network_not_allowed retry-after=""`},
		{"nobody of that name", usecase.ErrOIDCNoUser, `403 oidc_unmapped retry-after=""`},
		{"a second factor the provider did not check", domain.ErrOIDCSecondFactor, `403 oidc_second_factor retry-after=""`},
		{"no way to mint a session", usecase.ErrMintUnavailable, `503 oidc_unavailable retry-after=""`},
		{"Jellyfin made no session", usecase.ErrMintFailed, `502 upstream_failed retry-after=""`},
		{"anything else", errStoreDown, `503 unavailable retry-after=""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// given a handoff of alice to this browser, and a use case with this outcome
			fake := &fakeOIDC{auth: []byte(`{"AccessToken":"tok"}`), err: tc.err}
			s := handlerServer(t, fake)
			handoffFor(t, s, "h1", "browser-1")
			// when the page finishes it
			w := oidcFinish(s, "h1", "browser-1")
			// then the use case signed alice in for this caller and the app's device
			if len(fake.got) != 1 {
				t.Fatalf("use case called %d times", len(fake.got))
			}
			req := fake.got[0]
			if req.Identity.UserName != "alice" || req.Caller.IP.String() != "203.0.113.5" || req.Caller.Device.ID != "dev-1" {
				t.Fatalf("request = %+v", req)
			}
			// and its outcome has its answer
			if got := answerOf(w); got != tc.want {
				t.Fatalf("got %s, want %s: %s", got, tc.want, w.Body)
			}
			if tc.err == nil && !strings.Contains(w.Body.String(), `"auth":{"AccessToken":"tok"}`) {
				t.Fatalf("body %s", w.Body)
			}
		})
	}
}

func TestOIDCFinishSpendsAHandoffOnceAndFailsClosed(t *testing.T) {
	// given a handoff of alice to one browser
	fake := &fakeOIDC{auth: []byte(`{"AccessToken":"tok"}`)}
	st := newMemShared()
	s := fakeNode(t, fake, st, Limits{})
	handoffFor(t, s, "h1", "browser-1")
	handoffFor(t, s, "h2", "browser-1")
	// when another browser, then this one twice, finish it
	steps := []struct {
		name, handoff, browser, want string
	}{
		{"another browser", "h1", "browser-2", `400 oidc_expired retry-after=""`},
		{"this browser, after another tried", "h1", "browser-1", `400 oidc_expired retry-after=""`},
		{"an unknown handoff", "h3", "browser-1", `400 oidc_expired retry-after=""`},
	}
	for _, step := range steps {
		if got := answerOf(oidcFinish(s, step.handoff, step.browser)); got != step.want {
			t.Fatalf("%s: got %s, want %s", step.name, got, step.want)
		}
	}
	if got := answerOf(oidcFinish(s, "h2", "browser-1")); got != `200  retry-after=""` {
		t.Fatalf("this browser's own: %s", got)
	}
	if got := answerOf(oidcFinish(s, "h2", "browser-1")); got != `400 oidc_expired retry-after=""` {
		t.Fatalf("the same handoff again: %s", got)
	}
	// and when the flows cannot be reached, nobody is signed in
	handoffFor(t, s, "h4", "browser-1")
	st.fail(errStoreDown, shared.Flows)
	if got := answerOf(oidcFinish(s, "h4", "browser-1")); got != `503 unavailable retry-after=""` {
		t.Fatalf("flows out of reach: %s", got)
	}
	if len(fake.got) != 1 {
		t.Fatalf("use case called %d times, want once", len(fake.got))
	}
}

func TestSelfServiceAnswersEachRefusalOfTheRule(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"a paired device's session", domain.ErrDeviceSession, `403 device_session retry-after=""`},
		{"no session", domain.ErrNoSession, `401 unauthorized retry-after=""`},
		{"outside the networks", domain.ErrOutsideNetworks, `403 network_not_allowed retry-after=""`},
		{"a route without its action", usecase.ErrUndeclaredAction, `500 internal retry-after=""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// given a verified session the rule refuses
			s := handlerServer(t, &fakeAccounts{token: "tok", uid: "u1", authorize: tc.err})
			// when it asks for a change
			w := serve(s, "POST", "/jfguard/api/me/totp", `{}`, http.Header{"X-Emby-Token": {"tok"}})
			// then the refusal has its answer
			if got := answerOf(w); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
