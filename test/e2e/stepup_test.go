package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/sj14/jellyfin-go/api"
)

// tokenHash names a token as jfguard's events and API do.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// attack is an account-changing request an attacker sends with a weak session.
type attack struct {
	name, method, path string
	body               any
}

// accountChanges are the self-service changes that need a recent second factor.
// Rows whose body carries a factor are left out: a factor in the request is itself
// recent (tested on their own below).
func accountChanges(browserHash string) []attack {
	return []attack{
		{"mint an app password", http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": "mine now"}},
		{"revoke an app password", http.MethodDelete, "/jfguard/api/me/app-passwords/0123456789ab", nil},
		{"add an email address", http.MethodPost, "/jfguard/api/me/email", map[string]string{"address": "attacker@example.net"}},
		{"confirm an email address", http.MethodPost, "/jfguard/api/me/email/confirm", map[string]string{"code": "123456"}},
		{"start another authenticator", http.MethodPost, "/jfguard/api/me/totp", nil},
		{"read a pending authenticator's secret", http.MethodGet, "/jfguard/api/me/totp/qr", nil},
		{"confirm an authenticator", http.MethodPost, "/jfguard/api/me/totp/confirm", map[string]string{"code": "123456"}},
		{"register a passkey", http.MethodPost, "/jfguard/api/me/passkeys/register", nil},
		{"finish a passkey", http.MethodPost, "/jfguard/api/me/passkeys", map[string]any{"ceremony": "x", "credential": map[string]string{}}},
		{"rename a passkey", http.MethodPatch, "/jfguard/api/me/passkeys/abc", map[string]string{"label": "x"}},
		{"revoke a trusted browser", http.MethodDelete, "/jfguard/api/me/browsers/abc", nil},
		{"approve a pairing", http.MethodPost, "/jfguard/api/me/pairings/abc/approve", nil},
		{"deny a pairing", http.MethodPost, "/jfguard/api/me/pairings/abc/deny", nil},
		{"revoke a paired device", http.MethodDelete, "/jfguard/api/me/devices/abc", nil},
		{"approve a Quick Connect code", http.MethodPost, "/jfguard/api/me/quick-connect", map[string]string{"code": "123456"}},
		{"sign the browser out", http.MethodDelete, "/jfguard/api/me/sessions/" + browserHash, nil},
		{"sign out everywhere", http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{}},
	}
}

// refusedCleanly fails unless a refusal recorded nothing but step_up_required.
func (g *testGateway) refusedCleanly(t *testing.T, what string, before map[events.Type]int) {
	t.Helper()
	after := g.eventTypes(t)
	for typ, n := range after {
		if n != before[typ] && typ != events.TypeStepUpRequired {
			t.Errorf("%s: the refusal recorded %s (%d → %d)", what, typ, before[typ], n)
		}
	}
}

// TestWeakSessionsCannotChangeTheAccount is the step-up rule from the attacker's
// side. Alice has an authenticator, a browser session that passed it, an app
// password on her TV and the session she enrolled from (signed in before she had a
// factor). Whoever holds the TV's app password, the old session, or the browser
// once its factor is more than five minutes old, cannot change her account: every
// change answers 403 with a clear error and records only the refusal. The browser
// makes the same changes after proving the factor again.
func TestWeakSessionsCannotChangeTheAccount(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	g := startGateway(t, options{settings: mb.settings()})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	_, appPassword := g.appPassword(t, browser, "Living room TV")
	tv := tvApp{androidID: "a1b2c3d4e5f60718", device: "SHIELD Android TV", version: "0.18.0"}
	tvToken := g.tvSignedIn(t, tv, "alice", appPassword)
	g.clock.Advance(6 * time.Minute) // the browser's factor is no longer recent

	for _, weak := range []struct {
		name, token, wantErr string
	}{
		{"the TV's app password", tvToken, "device_session"},
		{"the session from before enrolment", f.token, "step_up_required"},
		{"the browser six minutes later", browser, "step_up_required"},
	} {
		for _, a := range accountChanges(tokenHash(browser)) {
			if weak.token == browser && a.name == "sign the browser out" {
				continue // a session may always end itself
			}
			before := g.eventTypes(t)
			res := g.do(t, a.method, a.path, a.body, "Authorization", tokenHeader(weak.token))
			if res.status != http.StatusForbidden || res.errorCode() != weak.wantErr {
				t.Errorf("%s: %s: status %d: %s", weak.name, a.name, res.status, res.body)
				continue
			}
			var body struct {
				Message string   `json:"message"`
				Methods []string `json:"methods"`
			}
			res.json(t, &body)
			if body.Message == "" || (weak.wantErr == "step_up_required" && len(body.Methods) == 0) {
				t.Errorf("%s: %s: the refusal does not say what to do: %s", weak.name, a.name, res.body)
			}
			g.refusedCleanly(t, weak.name+": "+a.name, before)
		}
	}

	// A sign-in held at its second step has no session: its token changes nothing.
	held := g.challenged(t, "password-thief")
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": "mine"}, "Authorization", tokenHeader(held.held)); res.status != http.StatusUnauthorized {
		t.Errorf("a held token mints an app password: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/step-up", map[string]string{"method": "totp", "code": g.code(t, f.secret)}, "Authorization", tokenHeader(held.held)); res.status != http.StatusUnauthorized {
		t.Errorf("a held token steps up: status %d: %s", res.status, res.body)
	}

	// A factor in the request does not help a device's session: with a phished code
	// the TV's app password still cannot turn two-factor off or step up.
	for _, a := range []attack{
		{"disable two-factor with a right code", http.MethodPost, "/jfguard/api/me/disable", map[string]string{"method": "totp", "code": g.code(t, f.secret)}},
		{"new recovery codes with a right code", http.MethodPost, "/jfguard/api/me/recovery-codes", map[string]string{"method": "totp", "code": g.code(t, f.secret)}},
		{"step up with a right code", http.MethodPost, "/jfguard/api/me/step-up", map[string]string{"method": "totp", "code": g.code(t, f.secret)}},
		{"sign out everywhere with a right code", http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{"method": "totp", "code": g.code(t, f.secret)}},
		{"ask for an emailed code", http.MethodPost, "/jfguard/api/me/email/code", nil},
	} {
		before := g.eventTypes(t)
		if res := g.do(t, a.method, a.path, a.body, "Authorization", tokenHeader(tvToken)); res.status != http.StatusForbidden || res.errorCode() != "device_session" {
			t.Errorf("the TV: %s: status %d: %s", a.name, res.status, res.body)
		}
		g.refusedCleanly(t, "the TV: "+a.name, before)
	}
	refused := payloads[*events.StepUpRequired](t, g, "step_up_required")
	if len(refused) < 3*len(accountChanges("")) {
		t.Errorf("%d step_up_required events, want one per refusal", len(refused))
	}

	// The same changes succeed once the browser proved the factor again.
	g.stepUp(t, browser, f.secret)
	if _, pw := g.appPassword(t, browser, "Bedroom TV"); pw == "" {
		t.Fatal("no app password after the step-up")
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email", map[string]string{"address": "alice@example.com"}, "Authorization", tokenHeader(browser)); res.status != http.StatusOK {
		t.Errorf("add the address after the step-up: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/email/confirm", map[string]string{"code": mb.lastCode(t, "alice@example.com")}, "Authorization", tokenHeader(browser)); res.status != http.StatusOK {
		t.Errorf("confirm the address after the step-up: status %d: %s", res.status, res.body)
	}
	var me struct {
		Session struct {
			Assurance   string    `json:"assurance"`
			StepUpUntil time.Time `json:"step_up_until"`
		} `json:"session"`
	}
	g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(browser)).json(t, &me)
	if me.Session.Assurance != "aal2-recent" || !me.Session.StepUpUntil.After(g.clock.Now()) {
		t.Errorf("the browser's session after the step-up: %+v", me.Session)
	}
	// The old session may use a factor in the request itself.
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/recovery-codes", map[string]string{"method": "totp", "code": g.code(t, f.secret)}, "Authorization", tokenHeader(f.token)); res.status != http.StatusOK {
		t.Errorf("new recovery codes with a code in the request: status %d: %s", res.status, res.body)
	}
	// And any session, even a device's, may sign itself out.
	if res := g.do(t, http.MethodDelete, "/jfguard/api/me/sessions/"+tokenHash(tvToken), nil, "Authorization", tokenHeader(tvToken)); res.status != http.StatusOK {
		t.Errorf("the TV signs itself out: status %d: %s", res.status, res.body)
	}
	if status, gate := g.tvCurrentUser(t, tv, g.alice.ID, tvToken); status != http.StatusUnauthorized || !gate {
		t.Errorf("the signed-out TV token: status %d, refused by the gate %v", status, gate)
	}
}

// TestQuickConnectNeedsARecentFactor: authorizing a Quick Connect code lets a device
// in. An app password's session approving a code in Jellyfin's own page is refused
// before Jellyfin sees it, and the TV never gets a session; so is a browser whose
// factor is old. After a step-up, the same approval works, in Jellyfin's page and on
// jfguard's security page.
func TestQuickConnectNeedsARecentFactor(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	_, appPassword := g.appPassword(t, browser, "Phone app")
	phone := tvApp{androidID: "5566778899aabbcc", device: "Pixel", version: "0.18.0"}
	phoneToken := g.tvSignedIn(t, phone, "alice", appPassword)
	g.clock.Advance(6 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	initiate := func(deviceID string) (*api.QuickConnectResult, *api.APIClient) {
		tv := g.jellyfinClient(`MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="` + deviceID + `", Version="0.18.0"`)
		qc, _, err := tv.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
		if err != nil {
			t.Fatalf("InitiateQuickConnect: %v", err)
		}
		return qc, tv
	}
	authorize := func(token, code string) reply {
		return g.do(t, http.MethodPost, "/QuickConnect/Authorize?code="+code, nil, "Authorization", clientHeader("alice-browser", token))
	}
	for _, weak := range []struct{ name, token, wantErr string }{
		{"the phone's app password", phoneToken, "device_session"},
		{"the browser six minutes later", browser, "step_up_required"},
	} {
		qc, tv := initiate("tv-" + weak.name)
		res := authorize(weak.token, qc.GetCode())
		if res.status != http.StatusForbidden || res.errorCode() != weak.wantErr {
			t.Errorf("%s approves a code: status %d: %s", weak.name, res.status, res.body)
		}
		if state, _, err := tv.QuickConnectAPI.GetQuickConnectState(ctx).Secret(qc.GetSecret()).Execute(); err != nil || state.GetAuthenticated() {
			t.Errorf("%s: Jellyfin authorized the code anyway (%v)", weak.name, err)
		}
		_, httpRes, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
		if err == nil || httpRes == nil || httpRes.StatusCode == http.StatusOK {
			t.Errorf("%s: the TV signed in with a code approved by a weak session", weak.name)
		}
	}

	g.stepUp(t, browser, f.secret)
	qc, tv := initiate("tv-after-step-up")
	if res := authorize(browser, qc.GetCode()); res.status != http.StatusOK {
		t.Fatalf("approve after the step-up: status %d: %s", res.status, res.body)
	}
	auth, _, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
	if err != nil {
		t.Fatalf("AuthenticateWithQuickConnect after the approval: %v", err)
	}
	// jfguard's security page approves codes too (for browsers outside the web app).
	qc2, tv2 := initiate("tv-setup-page")
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/quick-connect", map[string]string{"code": qc2.GetCode()}, "Authorization", tokenHeader(browser)); res.status != http.StatusOK {
		t.Fatalf("approve on the security page: status %d: %s", res.status, res.body)
	}
	auth2, _, err := tv2.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc2.GetSecret())).Execute()
	if err != nil {
		t.Fatalf("AuthenticateWithQuickConnect after the security page's approval: %v", err)
	}
	for _, tok := range []string{auth.GetAccessToken(), auth2.GetAccessToken()} {
		if status, _ := g.tvCurrentUser(t, phone, g.alice.ID, tok); status != http.StatusOK {
			t.Errorf("the Quick Connect token: status %d", status)
		}
	}
	if n := len(g.eventsOf(t, "quick_connect_authorized")); n != 2 {
		t.Errorf("%d quick_connect_authorized events, want 2", n)
	}
}

// TestAdminWeakSessionCannotChangeState: the control API's state changes follow the
// same rule. An administrator's app password cannot use the control API at all; an
// administrator's browser session whose factor is old reads but cannot reset
// anyone, until it proves the factor again. jfguard's admin token is the root
// credential of the CLI and scripts and is not asked.
func TestAdminWeakSessionCannotChangeState(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.signedIn(t, "bob", bobPassword, "bob-phone")
	admin := g.enroll(t, "admin", adminPassword)
	res := g.signIn(t, "admin", adminPassword, "admin-browser", "X-Jfguard-Client", "web")
	c, ok := g.challengeOf(t, res)
	if !ok {
		t.Fatalf("the administrator was not challenged: %d %s", res.status, res.body)
	}
	browser := g.verified(t, c, "totp", g.code(t, admin.secret))
	_, appPassword := g.appPassword(t, browser, "Admin's TV")
	tv := tvApp{androidID: "ffeeddccbbaa9988", device: "Admin's TV", version: "0.18.0"}
	tvToken := g.tvSignedIn(t, tv, "admin", appPassword)
	g.clock.Advance(6 * time.Minute)

	call := func(token, method string, params any) (reply, *rpcError) {
		res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
			"Authorization", tokenHeader(token))
		var out struct {
			Error *struct {
				Code    int             `json:"code"`
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			} `json:"error"`
		}
		_ = json.Unmarshal(res.body, &out)
		if out.Error == nil {
			return res, nil
		}
		var data struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(out.Error.Data, &data)
		return res, &rpcError{Code: out.Error.Code, Message: data.Error}
	}

	if res, _ := call(tvToken, "users.list", nil); res.status != http.StatusForbidden {
		t.Errorf("the admin's app password reads the users: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodGet, "/jfguard/api/events", nil, "Authorization", tokenHeader(tvToken)); res.status != http.StatusForbidden {
		t.Errorf("the admin's app password reads the event feed: status %d", res.status)
	}
	// No credential, or a forged admin token, reaches nothing.
	for name, header := range map[string][]string{
		"no token":       nil,
		"a forged token": {"Authorization", "Bearer " + strings.Repeat("0", 64)},
	} {
		res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "keys.rotate", "params": map[string]any{"trust": true}}, header...)
		if res.status != http.StatusForbidden {
			t.Errorf("%s calls keys.rotate: status %d: %s", name, res.status, res.body)
		}
	}
	before := g.eventTypes(t)
	if res, _ := call(tvToken, "users.reset", map[string]string{"user": "alice"}); res.status != http.StatusForbidden {
		t.Errorf("the admin's app password resets alice: status %d: %s", res.status, res.body)
	}
	if res, rerr := call(browser, "users.list", nil); res.status != http.StatusOK || rerr != nil {
		t.Errorf("the admin's old browser session reads the users: status %d: %s", res.status, res.body)
	}
	for _, m := range []struct {
		method string
		params any
	}{
		{"users.reset", map[string]string{"user": "bob"}},
		{"users.revoke_all", map[string]string{"user": "bob"}},
		{"users.forget", map[string]string{"user": "bob"}},
		{"settings.set", map[string]string{"key": "security.enabled", "value": "false"}},
		{"bans.add", map[string]string{"ip": "192.0.2.1"}},
		{"devices.preapprove", map[string]string{"user": "bob", "device_id": "d", "client": "c"}},
		{"passwords.release", map[string]string{"user": "bob"}},
		{"keys.rotate", map[string]any{"trust": true}},
		{"subscribers.add", map[string]string{"name": "siem", "public_key": "UCXDNUJ4TSZVG6KXVHDOX3P5OCLFSD4JCMXNRMTJFX6YUSPRTMLHSHTM"}},
	} {
		res, rerr := call(browser, m.method, m.params)
		if res.status != http.StatusForbidden || rerr == nil || rerr.Code != -32001 || rerr.Message != "step_up_required" {
			t.Errorf("the admin's old browser session calls %s: status %d: %s", m.method, res.status, res.body)
		}
	}
	g.refusedCleanly(t, "the administrator's weak sessions", before)

	g.stepUp(t, browser, admin.secret)
	if res, rerr := call(browser, "users.revoke_all", map[string]string{"user": "bob"}); res.status != http.StatusOK || rerr != nil {
		t.Errorf("users.revoke_all after the step-up: status %d: %s", res.status, res.body)
	}
	if _, rerr := g.rpc(t, "users.reset", map[string]string{"user": "bob"}); rerr != nil {
		t.Errorf("users.reset with the admin token: %+v", rerr)
	}
}

// TestSignOutEverywhere is the lost phone: alice's phone (an app password), a paired
// TV, a trusted browser, another browser session and a sign-in still waiting for its
// second step are all live. From a new browser she signs in with a recovery code
// and signs out everywhere: every one of them is refused at the gate and logged out
// at Jellyfin, the app password and the trust cookie no longer work, and her new
// session keeps working.
func TestSignOutEverywhere(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	web := []string{"X-Jfguard-Client", "web"}

	// A trusted browser.
	c := g.challenged(t, "trusted-browser", web...)
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret), "trust_browser": true, "device_id": "trusted-browser"}, web...)
	cookie := trustCookie(res)
	if res.status != http.StatusOK || cookie == nil {
		t.Fatalf("trust the browser: status %d: %s", res.status, res.body)
	}
	var trusted struct {
		Auth authResult `json:"auth"`
	}
	res.json(t, &trusted)
	// Another browser session, the phone's app password, a paired TV.
	other := g.browserSession(t, f)
	_, appPassword := g.appPassword(t, other, "Phone")
	phone := tvApp{androidID: "0102030405060708", device: "Phone", version: "0.18.0"}
	phoneToken := g.tvSignedIn(t, phone, "alice", appPassword)
	tv := tvApp{androidID: "1112131415161718", device: "Living room TV", version: "0.18.0"}
	g.tvChallenged(t, tv)
	pending, _ := g.pairings(t, other)
	if len(pending) != 1 {
		t.Fatalf("pending pairings %+v", pending)
	}
	if res := g.answerPairing(t, other, pending[0].ID, "approve"); res.status != http.StatusOK {
		t.Fatalf("approve the TV: status %d: %s", res.status, res.body)
	}
	tvToken := g.tvSignedIn(t, tv, "alice", alicePassword)
	// The lost phone: a new browser, her password and a recovery code. Meanwhile
	// someone who knows her password waits at the second step.
	g.clock.Advance(10 * time.Minute)
	held := g.challenged(t, "stolen-password-browser")
	c = g.challenged(t, "new-browser", web...)
	fresh := g.verified(t, c, "recovery", f.recovery[0])
	res = g.do(t, http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{}, "Authorization", tokenHeader(fresh))
	if res.status != http.StatusOK {
		t.Fatalf("sign out everywhere: status %d: %s", res.status, res.body)
	}
	var out struct {
		Revoked map[string]int `json:"revoked"`
	}
	res.json(t, &out)
	want := map[string]int{"sessions": 5, "held_sign_ins": 1, "app_passwords": 1, "devices": 1, "trusted_browsers": 1}
	if !maps.Equal(out.Revoked, want) {
		t.Errorf("revoked %v, want %v", out.Revoked, want)
	}

	for name, tok := range map[string]string{
		"the trusted browser's session": trusted.Auth.AccessToken, "the other browser": other, "the phone": phoneToken,
		"the paired TV": tvToken, "the held sign-in": held.held, "the session from enrolment": f.token,
	} {
		if g.jf.TokenActive(tok) {
			t.Errorf("%s is still live at Jellyfin", name)
		}
		res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(tok))
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s after signing out everywhere: status %d", name, res.status)
		}
	}
	if token, _ := g.tvSignIn(t, phone, "alice", appPassword); token != "" {
		t.Error("the app password still signs in")
	}
	if _, ok := g.challengeOf(t, g.signIn(t, "alice", alicePassword, "trusted-browser", append(web, "Cookie", "jfguard_trust="+cookie.Value)...)); !ok {
		t.Error("the trust cookie still skips the challenge")
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(fresh)); res.status != http.StatusOK {
		t.Errorf("the session that signed out everywhere: status %d", res.status)
	}
	g.expectEvents(t, "signed_out_everywhere")
}

// TestResetAndForgetRevokeEverything: an administrator's account reset and forget
// leave nothing of the account working: sessions, app passwords, held sign-ins are
// revoked and logged out at Jellyfin (for forget, before the data key that seals the
// held tokens is destroyed).
func TestResetAndForgetRevokeEverything(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	_, appPassword := g.appPassword(t, browser, "TV")
	tv := tvApp{androidID: "2122232425262728", device: "TV", version: "0.18.0"}
	tvToken := g.tvSignedIn(t, tv, "alice", appPassword)
	held := g.challenged(t, "held-browser")

	if _, rerr := g.rpc(t, "users.reset", map[string]string{"user": "alice", "reason": "stolen phone"}); rerr != nil {
		t.Fatalf("users.reset: %+v", rerr)
	}
	for name, tok := range map[string]string{"browser": browser, "TV": tvToken, "held sign-in": held.held, "enrolment session": f.token} {
		if g.jf.TokenActive(tok) {
			t.Errorf("after the reset, %s is live at Jellyfin", name)
		}
		if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(tok)); res.status != http.StatusUnauthorized {
			t.Errorf("after the reset, %s: status %d", name, res.status)
		}
	}
	if token, _ := g.tvSignIn(t, tv, "alice", appPassword); token != "" {
		t.Error("the app password works after the reset")
	}

	// Forget: a held token of the (now factor-less) user is logged out before the key goes.
	bob := g.enroll(t, "bob", bobPassword)
	res := g.signIn(t, "bob", bobPassword, "bob-held")
	if _, ok := g.challengeOf(t, res); !ok {
		t.Fatalf("bob was not challenged: %d %s", res.status, res.body)
	}
	var bobHeld string
	for _, s := range g.jf.Sessions() {
		if s.UserID == g.bob.ID && s.DeviceID == "bob-held" {
			bobHeld = s.Token
		}
	}
	if _, rerr := g.rpc(t, "users.forget", map[string]string{"user": "bob"}); rerr != nil {
		t.Fatalf("users.forget: %+v", rerr)
	}
	for name, tok := range map[string]string{"held": bobHeld, "enrolment session": bob.token} {
		if tok == "" || g.jf.TokenActive(tok) {
			t.Errorf("after forget, bob's %s token is live at Jellyfin", name)
		}
	}
}
