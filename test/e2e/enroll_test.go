package e2e

import (
	"net/http"
	"slices"
	"testing"
)

// TestRequireAllEnrollsAtSignIn: with security.require_all, a user without a second
// factor is challenged to set one up; the challenge (which proves the password) is
// where they add an authenticator app, and its code completes the sign-in. Without
// it the held token stays useless.
func TestRequireAllEnrollsAtSignIn(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: map[string]string{"security.require_all": "true"}})
	c := g.challenged(t, "alice-phone")
	if !slices.Equal(c.methods, []string{"enroll_totp"}) {
		t.Fatalf("methods %v, want [enroll_totp]", c.methods)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", clientHeader("alice-phone", c.held)); res.status != http.StatusUnauthorized || g.reachedJellyfin(c.held) {
		t.Fatalf("the held token of a user who must enroll: %d, reached Jellyfin %v", res.status, g.reachedJellyfin(c.held))
	}
	// The self-service API is not open to the held token.
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/totp", nil, "Authorization", clientHeader("alice-phone", c.held)); res.status != http.StatusUnauthorized {
		t.Fatalf("self-service with a held token: %d", res.status)
	}
	res := g.do(t, http.MethodPost, "/jfguard/api/challenge/"+c.id+"/enroll", nil)
	var begin struct {
		Secret string `json:"secret"`
		QR     string `json:"qr"`
	}
	res.json(t, &begin)
	if res.status != http.StatusOK || begin.Secret == "" || len(begin.QR) < 100 {
		t.Fatalf("begin enrolment at sign-in: %d %s", res.status, res.body)
	}
	// A wrong code counts like any failed factor.
	res = g.do(t, http.MethodPost, "/jfguard/api/challenge/"+c.id+"/enroll/confirm", map[string]string{"code": g.wrongCode(t, begin.Secret)})
	if res.status != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d %s", res.status, res.body)
	}
	res = g.do(t, http.MethodPost, "/jfguard/api/challenge/"+c.id+"/enroll/confirm", map[string]string{"code": g.code(t, begin.Secret)})
	var done struct {
		OK    bool       `json:"ok"`
		Auth  authResult `json:"auth"`
		Codes []string   `json:"recovery_codes"`
	}
	res.json(t, &done)
	if res.status != http.StatusOK || done.Auth.AccessToken != c.held || len(done.Codes) != 10 {
		t.Fatalf("confirm at sign-in: %d %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", clientHeader("alice-phone", c.held)); res.status != http.StatusOK {
		t.Fatalf("the token after enrolling: %d", res.status)
	}
	g.expectEvents(t, "totp_enrollment_started", "totp_enrolled", "recovery_codes_generated", "factor_verified", "session_verified", "factor_failed")

	// Now alice has a factor: the next sign-in asks for it, and enrolling at sign-in
	// is no longer offered.
	next := g.challenged(t, "alice-laptop")
	if slices.Contains(next.methods, "enroll_totp") || !slices.Contains(next.methods, "totp") {
		t.Fatalf("methods after enrolling: %v", next.methods)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/challenge/"+next.id+"/enroll", nil); res.status != http.StatusConflict {
		t.Fatalf("enrolling again at sign-in: %d %s", res.status, res.body)
	}
	g.verified(t, next, "totp", g.code(t, begin.Secret))
}
