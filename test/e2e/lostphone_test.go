package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// aliceAddress is the address alice confirms for emailed codes.
const aliceAddress = "alice@example.com"

// withEmail adds and confirms alice's address from a session with a recent factor.
func (g *testGateway) withEmail(t *testing.T, mb *mailbox, token string) {
	t.Helper()
	self := []string{"Authorization", tokenHeader(token)}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email", map[string]string{"address": aliceAddress}, self...); res.status != http.StatusOK {
		t.Fatalf("add the address: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/confirm", map[string]string{"code": mb.lastCode(t, aliceAddress)}, self...); res.status != http.StatusOK {
		t.Fatalf("confirm the address: status %d: %s", res.status, res.body)
	}
}

// emailedCode asks for a code for a change to the account, from a session, and
// returns the code the mailbox got.
func (g *testGateway) emailedCode(t *testing.T, mb *mailbox, token string) string {
	t.Helper()
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/code", nil, "Authorization", tokenHeader(token)); res.status != http.StatusOK {
		t.Fatalf("email a code: status %d: %s", res.status, res.body)
	}
	return mb.lastCode(t, aliceAddress)
}

// TestLostPhoneSignOutEverywhereFromAnOldSession: alice's phone, with her
// authenticator, is gone. Her laptop's session proved a factor long ago, so signing
// out everywhere from it alone is refused; with a recovery code in the request it
// succeeds, and later, with an emailed code in the request, it succeeds again. Each
// time every other session ends (at the gate and at Jellyfin) and the laptop's
// stays.
func TestLostPhoneSignOutEverywhereFromAnOldSession(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	g := startGateway(t, options{settings: mb.settings()})
	f := g.enrollAlice(t)
	laptop := g.browserSession(t, f)
	g.withEmail(t, mb, laptop)
	self := []string{"Authorization", tokenHeader(laptop)}

	for _, proof := range []struct {
		method string
		code   func() string
	}{
		{"recovery", func() string { return f.recovery[0] }},
		{"email", func() string { return g.emailedCode(t, mb, laptop) }},
	} {
		// The phone: a session that passed the authenticator, then the laptop's
		// factor grows old.
		c := g.challenged(t, "phone-"+proof.method)
		phone := g.verified(t, c, "totp", g.code(t, f.secret))
		g.clock.Advance(10 * time.Minute)

		if res := g.do(t, http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{}, self...); res.status != http.StatusForbidden || res.errorCode() != "step_up_required" {
			t.Fatalf("%s: sign out everywhere from the old session alone: status %d: %s", proof.method, res.status, res.body)
		}
		res := g.do(t, http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{"method": proof.method, "code": proof.code()}, self...)
		if res.status != http.StatusOK {
			t.Fatalf("%s: sign out everywhere with the code: status %d: %s", proof.method, res.status, res.body)
		}
		if g.jf.TokenActive(phone) {
			t.Errorf("%s: the phone is still live at Jellyfin", proof.method)
		}
		if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(phone)); res.status != http.StatusUnauthorized {
			t.Errorf("%s: the phone after signing out everywhere: status %d", proof.method, res.status)
		}
		if res := g.do(t, http.MethodGet, "/Users/Me", nil, self...); res.status != http.StatusOK {
			t.Fatalf("%s: the laptop after signing out everywhere: status %d", proof.method, res.status)
		}
	}
	if g.jf.TokenActive(f.token) {
		t.Error("the session from enrolment is still live at Jellyfin")
	}
	var methods []string
	for _, p := range payloads[*events.FactorVerified](t, g, "factor_verified") {
		methods = append(methods, p.Method)
	}
	if !slices.Contains(methods, "recovery") || !slices.Contains(methods, "email") {
		t.Errorf("factor_verified methods %v, want recovery and email among them", methods)
	}
	if n := len(g.eventsOf(t, "signed_out_everywhere")); n != 2 {
		t.Errorf("%d signed_out_everywhere events, want 2", n)
	}
}

// TestStepUpWithRecoveryCodeAndEmailCode: the step-up endpoint takes every factor,
// not only the authenticator. From a session whose factor is old, a recovery code
// steps up (and is spent: the same code is refused next time), then, once that
// window has passed, an emailed code does; each step-up lets the session make a
// change that needs a recent factor, and the window closes again afterwards.
func TestStepUpWithRecoveryCodeAndEmailCode(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	g := startGateway(t, options{settings: mb.settings()})
	f := g.enrollAlice(t)
	laptop := g.browserSession(t, f)
	g.withEmail(t, mb, laptop)
	self := []string{"Authorization", tokenHeader(laptop)}
	mint := func(label string) reply {
		return g.do(t, http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": label}, self...)
	}

	for _, proof := range []struct {
		method string
		code   func() string
	}{
		{"recovery", func() string { return f.recovery[3] }},
		{"email", func() string { return g.emailedCode(t, mb, laptop) }},
	} {
		g.clock.Advance(10 * time.Minute)
		if res := mint("before " + proof.method); res.status != http.StatusForbidden || res.errorCode() != "step_up_required" {
			t.Fatalf("%s: an app password from the old session: status %d: %s", proof.method, res.status, res.body)
		}
		res := g.do(t, http.MethodPost, "/jfguard/api/me/step-up", map[string]string{"method": proof.method, "code": proof.code()}, self...)
		var out struct {
			OK    bool      `json:"ok"`
			Until time.Time `json:"until"`
		}
		res.json(t, &out)
		if res.status != http.StatusOK || !out.OK || !out.Until.After(g.clock.Now()) {
			t.Fatalf("%s: step up: status %d: %s", proof.method, res.status, res.body)
		}
		if res := mint("after " + proof.method); res.status != http.StatusOK {
			t.Errorf("%s: an app password after the step-up: status %d: %s", proof.method, res.status, res.body)
		}
	}
	var methods []string
	for _, p := range payloads[*events.SessionSteppedUp](t, g, "session_stepped_up") {
		if p.TokenHash == tokenHash(laptop) {
			methods = append(methods, p.Method)
		}
	}
	if !slices.Equal(methods, []string{"recovery", "email"}) {
		t.Errorf("session_stepped_up methods %v, want [recovery email]", methods)
	}

	// A spent recovery code does not step up again.
	g.clock.Advance(10 * time.Minute)
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/step-up", map[string]string{"method": "recovery", "code": f.recovery[3]}, self...); res.status != http.StatusUnauthorized {
		t.Errorf("step up with a spent recovery code: status %d: %s", res.status, res.body)
	}
	if res := mint("after a spent code"); res.status != http.StatusForbidden || res.errorCode() != "step_up_required" {
		t.Errorf("an app password after a refused step-up: status %d: %s", res.status, res.body)
	}
}
