package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/http"
	"github.com/sj14/jellyfin-go/api"
)

// TestNoSecondFactorPasses: a user without a second factor signs in through jfguard
// with the real Jellyfin client, and the token works through jfguard.
func TestNoSecondFactorPasses(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	device := `MediaBrowser Client="jellyfin-go", Device="CI", DeviceId="bob-cli", Version="0.4.4"`
	auth, _, err := g.jellyfinClient(device).UserAPI.AuthenticateUserByName(ctx).AuthenticateUserByName(byName("bob", bobPassword)).Execute()
	if err != nil {
		t.Fatalf("AuthenticateUserByName through jfguard: %v", err)
	}
	bob := g.jellyfinClient(device + `, Token="` + auth.GetAccessToken() + `"`)
	me, _, err := bob.UserAPI.GetCurrentUser(ctx).Execute()
	if err != nil || me.GetName() != "bob" {
		t.Fatalf("GetCurrentUser through jfguard: %v", err)
	}
	g.expectEvents(t, "user_discovered", "session_verified")
}

// TestSecondFactorChallenge: a user with a second factor, signing in from an address
// that is not local, gets jfguard's challenge instead of a token; the token Jellyfin
// issued is held (useless, and never shown to Jellyfin) until a code releases it; a
// challenge nobody completes ends with its token logged out at Jellyfin.
func TestSecondFactorChallenge(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	device := `MediaBrowser Client="jellyfin-go", Device="CI", DeviceId="alice-cli", Version="0.4.4"`
	_, httpRes, err := g.jellyfinClient(device).UserAPI.AuthenticateUserByName(ctx).AuthenticateUserByName(byName("alice", alicePassword)).Execute()
	var apiErr *api.GenericOpenAPIError
	if !errors.As(err, &apiErr) || httpRes == nil {
		t.Fatalf("alice's sign-in from 127.0.0.1 was not refused: %v", err)
	}
	c, ok := g.challengeOf(t, reply{status: httpRes.StatusCode, header: httpRes.Header, body: apiErr.Body()})
	if !ok {
		t.Fatalf("no challenge: status %d: %s", httpRes.StatusCode, apiErr.Body())
	}
	if !slices.Equal(c.methods, []string{"totp", "recovery"}) {
		t.Errorf("methods %v, want [totp recovery]", c.methods)
	}
	c.held = g.heldToken(t, "alice-cli")

	// A wrong password is Jellyfin's answer, passed through unchanged (and counted).
	_, httpRes, err = g.jellyfinClient(device).UserAPI.AuthenticateUserByName(ctx).AuthenticateUserByName(byName("alice", "wrong")).Execute()
	if !errors.As(err, &apiErr) || httpRes.StatusCode != http.StatusUnauthorized || string(apiErr.Body()) != "Error processing request." {
		t.Errorf("wrong password: %v", err)
	}

	// The held token: refused by jfguard, never passed on to Jellyfin.
	held := g.jellyfinClient(device + `, Token="` + c.held + `"`)
	_, httpRes, err = held.UserAPI.GetCurrentUser(ctx).Execute()
	if !errors.As(err, &apiErr) || httpRes.StatusCode != http.StatusUnauthorized || !(reply{body: apiErr.Body()}).fromGate() {
		t.Fatalf("GetCurrentUser with the held token: %v", err)
	}
	if res := g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(c.held)); res.status != http.StatusUnauthorized {
		t.Errorf("self-service with the held token: status %d", res.status)
	}
	if g.reachedJellyfin(c.held) {
		t.Fatal("a request with the held token reached Jellyfin")
	}

	token := g.verified(t, c, "totp", g.code(t, f.secret))
	if token != c.held {
		t.Errorf("the challenge released another token than the one held")
	}
	me, _, err := held.UserAPI.GetCurrentUser(ctx).Execute()
	if err != nil || me.GetName() != "alice" {
		t.Fatalf("GetCurrentUser after the second factor: %v", err)
	}
	if res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret)}); res.status != http.StatusNotFound {
		t.Errorf("a completed challenge verified again: status %d: %s", res.status, res.body)
	}

	// A challenge left alone past its lifetime (five minutes) ends at Jellyfin too.
	abandoned := g.challenged(t, "alice-tv")
	g.clock.Advance(6 * time.Minute)
	eventually(t, "the abandoned challenge's token is logged out at Jellyfin", func() bool { return !g.jf.TokenActive(abandoned.held) })
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(abandoned.held)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("the expired challenge's token: status %d: %s", res.status, res.body)
	}
	if res := g.verify(t, abandoned.id, map[string]any{"method": "totp", "code": g.code(t, f.secret)}); res.status != http.StatusNotFound {
		t.Errorf("verifying an expired challenge: status %d: %s", res.status, res.body)
	}
	g.expectEvents(t, "user_discovered", "totp_enrollment_started", "totp_enrolled", "recovery_codes_generated",
		"challenge_issued", "sign_in_failed", "factor_verified", "session_verified", "challenge_expired")
}

// TestRecoveryCodeWorksOnce: a recovery code completes a challenge once; the same
// code is refused the second time while another one still works.
func TestRecoveryCodeWorksOnce(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)

	token := g.verified(t, g.challenged(t, "alice-phone"), "recovery", f.recovery[0])
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(token)); res.status != http.StatusOK {
		t.Fatalf("token released by a recovery code: status %d", res.status)
	}
	again := g.challenged(t, "alice-laptop")
	res := g.verify(t, again.id, map[string]any{"method": "recovery", "code": f.recovery[0]})
	if res.status != http.StatusUnauthorized || res.errorCode() != "invalid_code" {
		t.Fatalf("a used recovery code: status %d: %s", res.status, res.body)
	}
	// Recovery codes are forgiving about case and separators.
	g.verified(t, again, "recovery", strings.ToLower(strings.ReplaceAll(f.recovery[1], "-", " ")))

	var me struct {
		Left int `json:"recovery_codes_left"`
	}
	g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(f.token)).json(t, &me)
	if me.Left != 8 {
		t.Errorf("recovery codes left: %d, want 8", me.Left)
	}
	got := g.eventTypes(t)
	if got["recovery_code_used"] != 2 || got["factor_failed"] != 1 {
		t.Errorf("recovery_code_used %d (want 2), factor_failed %d (want 1)", got["recovery_code_used"], got["factor_failed"])
	}
}

// TestTrustedBrowser: "trust this browser" on the device that signed in sets an
// HttpOnly, SameSite=Strict cookie (Secure behind an https public URL) that lets the
// next sign-in from that device skip the challenge, and only from that device; once
// the user revokes the browser, the cookie no longer helps.
func TestTrustedBrowser(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: map[string]string{"public_url": "https://jellyfin.example.com"}})
	f := g.enrollAlice(t)
	web := []string{"X-Jfguard-Client", "web"}

	// Trust is only ever bound to the device that signed in.
	c := g.challenged(t, "browser-1", web...)
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret), "trust_browser": true, "device_id": "browser-2"})
	if res.status != http.StatusOK || trustCookie(res) != nil {
		t.Fatalf("trust for another device: status %d, cookie %v", res.status, trustCookie(res))
	}

	c = g.challenged(t, "browser-1", web...)
	res = g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret), "trust_browser": true, "device_id": "browser-1"})
	cookie := trustCookie(res)
	if res.status != http.StatusOK || cookie == nil {
		t.Fatalf("trust this browser: status %d, no cookie: %s", res.status, res.body)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || !cookie.Secure || cookie.Path != "/" {
		t.Errorf("cookie attributes: HttpOnly %v SameSite %v Secure %v Path %q", cookie.HttpOnly, cookie.SameSite, cookie.Secure, cookie.Path)
	}
	if res.header.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security behind an https public URL")
	}
	if days := time.Until(cookie.Expires).Hours() / 24; days < 29 || days > 31 {
		t.Errorf("cookie lasts %.1f days, want 30", days)
	}

	res = g.signIn(t, "alice", alicePassword, "browser-1", append(web, "Cookie", "jfguard_trust="+cookie.Value)...)
	if res.status != http.StatusOK {
		t.Fatalf("sign-in with the trust cookie: status %d: %s", res.status, res.body)
	}
	if rotated := trustCookie(res); rotated != nil {
		cookie = rotated
	}
	if _, ok := g.challengeOf(t, g.signIn(t, "alice", alicePassword, "browser-3", append(web, "Cookie", "jfguard_trust="+cookie.Value)...)); !ok {
		t.Error("the cookie let another device skip the challenge")
	}

	var me struct {
		Browsers []struct {
			ID string `json:"id"`
		} `json:"trusted_browsers"`
	}
	g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(f.token)).json(t, &me)
	if len(me.Browsers) != 1 {
		t.Fatalf("trusted browsers: %+v", me.Browsers)
	}
	g.stepUp(t, f.token, f.secret)
	if res := g.do(t, http.MethodDelete, "/jfguard/api/me/browsers/"+me.Browsers[0].ID, nil, "Authorization", tokenHeader(f.token)); res.status != http.StatusOK {
		t.Fatalf("revoke the browser: status %d: %s", res.status, res.body)
	}
	g.challenged(t, "browser-1", append(web, "Cookie", "jfguard_trust="+cookie.Value)...)
	g.expectEvents(t, "browser_trusted", "trusted_browser_used", "browser_trust_revoked")
}

// TestScriptLogin: POST /jfguard/api/login does password and code in one call, and
// answers an unknown user, a wrong password and a wrong code with the same bytes.
func TestScriptLogin(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	login := func(user, password, code string) reply {
		return g.do(t, http.MethodPost, "/jfguard/api/login", map[string]string{"username": user, "password": password, "code": code})
	}
	answers := map[string]reply{
		"unknown user":   login("mallory", "whatever", g.code(t, f.secret)),
		"wrong password": login("alice", "wrong", g.code(t, f.secret)),
		"wrong code":     login("alice", alicePassword, g.wrongCode(t, f.secret)),
	}
	first := answers["unknown user"]
	if first.status != http.StatusUnauthorized {
		t.Fatalf("unknown user: status %d: %s", first.status, first.body)
	}
	for name, res := range answers {
		if res.status != first.status || !bytes.Equal(res.body, first.body) {
			t.Errorf("%s answers %d %s; unknown user answers %d %s", name, res.status, res.body, first.status, first.body)
		}
	}

	res := login("alice", alicePassword, g.code(t, f.secret))
	var a authResult
	res.json(t, &a)
	if res.status != http.StatusOK || a.User.Name != "alice" {
		t.Fatalf("login with the right code: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(a.AccessToken)); res.status != http.StatusOK {
		t.Errorf("the script's token: status %d", res.status)
	}
	// A user without a second factor needs no code.
	if res := login("bob", bobPassword, ""); res.status != http.StatusOK {
		t.Errorf("bob without a code: status %d: %s", res.status, res.body)
	}
	g.expectEvents(t, "sign_in_failed", "factor_failed", "challenge_expired", "factor_verified")
}

// TestOneCodeOneSession: one valid code sent 100 times at once to one challenge
// completes it exactly once.
func TestOneCodeOneSession(t *testing.T) {
	t.Parallel()
	// Rate limits high enough that every submission reaches the decision.
	g := startGateway(t, options{limits: gateway.Limits{VerifyPerIP: 1000, VerifyPerUser: 1000}})
	f := g.enrollAlice(t)
	c := g.challenged(t, "alice-race")
	body, _ := json.Marshal(map[string]string{"method": "totp", "code": g.code(t, f.secret)})

	const n = 100
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url()+"/jfguard/api/challenge/"+c.id+"/verify", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses[i] = -1
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if counts[http.StatusOK] != 1 || counts[-1] != 0 {
		t.Fatalf("answers by status: %v, want exactly one 200", counts)
	}

	verifiedSessions := 0
	for _, ev := range g.eventsOf(t, "session_verified") {
		var d struct {
			ChallengeID string `json:"challenge_id"`
		}
		if json.Unmarshal(ev.Data, &d) == nil && d.ChallengeID == c.id {
			verifiedSessions++
		}
	}
	if verifiedSessions != 1 {
		t.Errorf("%d sessions verified by the challenge, want 1", verifiedSessions)
	}
}

// TestSignOutEndsTheSession: the web app's "Sign out" goes through jfguard to
// Jellyfin; jfguard records the end of the session and refuses the token from then on,
// even where Jellyfin would not be asked.
func TestSignOutEndsTheSession(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	token := g.browserSession(t, f)
	if res := g.do(t, http.MethodPost, "/Sessions/Logout", nil, "Authorization", clientHeader("alice-browser", token)); res.status != http.StatusNoContent {
		t.Fatalf("sign out: status %d: %s", res.status, res.body)
	}
	if g.jf.TokenActive(token) {
		t.Error("the token is live at Jellyfin after signing out")
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(token)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("the signed-out token: status %d, from the gate %v", res.status, res.fromGate())
	}
	g.expectEvents(t, "session_revoked")
}

// TestAdminTokensDifferPerInstall: the control API's token is generated for each data
// directory, never a default, and readable by its owner only.
func TestAdminTokensDifferPerInstall(t *testing.T) {
	t.Parallel()
	a, b := startGateway(t, options{}), startGateway(t, options{})
	ta, tb := a.main.AdminToken(), b.main.AdminToken()
	if len(ta) < 32 || ta == tb {
		t.Fatalf("admin tokens %q and %q", ta, tb)
	}
	info, err := os.Stat(filepath.Join(a.settings["data_dir"], "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("admin.token mode %v, want readable by its owner only", info.Mode().Perm())
	}
}
