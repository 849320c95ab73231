package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
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
	return newServer(Options{BasePolicy: domain.DefaultPolicy(), TrustKeys: domain.TrustKeys{Current: make([]byte, 32)}, Shared: sh, Limits: limits}, app)
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
