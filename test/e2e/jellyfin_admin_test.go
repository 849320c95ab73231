package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// jellyfinChange is a request to one of Jellyfin's own routes that runs the server
// or changes an account.
type jellyfinChange struct {
	name, method, path string
	body               any
	action             string // the step-up rule's name for it
}

// jellyfinChanges are the Jellyfin routes the weak sessions of an administrator try:
// listing the API keys (each is a whole administrator credential), minting one,
// and changing the administrator's password by both spellings of the route. The
// list is read with a verified token, so the front's fast path would take it if the
// gate did not guard it; one spelling is in lower case with a trailing slash.
func jellyfinChanges(adminID string) []jellyfinChange {
	pw := map[string]string{"CurrentPw": adminPassword, "NewPw": "taken-over"}
	return []jellyfinChange{
		{"list the API keys", http.MethodGet, "/Auth/Keys", nil, "jellyfin_admin"},
		{"list the API keys, spelled otherwise", http.MethodGet, "/auth/keys/", nil, "jellyfin_admin"},
		{"mint an API key", http.MethodPost, "/Auth/Keys?app=backdoor", nil, "jellyfin_admin"},
		{"change the password", http.MethodPost, "/Users/" + adminID + "/Password", pw, "jellyfin_account"},
		{"change the password by the newer route", http.MethodPost, "/Users/Password?userId=" + adminID, pw, "jellyfin_account"},
	}
}

// reachedJellyfinAt reports whether a request for a path (ignoring case) reached the
// stand-in with token.
func (g *testGateway) reachedJellyfinAt(token, path string) bool {
	for _, r := range g.upstream.Requests() {
		if strings.EqualFold(strings.TrimSuffix(r.Path, "/"), strings.TrimSuffix(path, "/")) &&
			(strings.Contains(r.Header.Get("Authorization"), token) || strings.Contains(r.RawQuery, token)) {
			return true
		}
	}
	return false
}

// quickConnectSession lets a television in with Quick Connect, its code approved on
// jfguard's security page by a session with a recent factor, and returns its token.
func (g *testGateway) quickConnectSession(t *testing.T, approver, deviceID string) string {
	t.Helper()
	tv := `MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="` + deviceID + `", Version="0.18.0"`
	var qc struct{ Code, Secret string }
	res := g.do(t, http.MethodPost, "/QuickConnect/Initiate", nil, "Authorization", tv)
	res.json(t, &qc)
	if res.status != http.StatusOK || qc.Code == "" {
		t.Fatalf("initiate Quick Connect: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/me/quick-connect", map[string]string{"code": qc.Code}, "Authorization", tokenHeader(approver)); res.status != http.StatusOK {
		t.Fatalf("approve the code: status %d: %s", res.status, res.body)
	}
	var auth authResult
	res = g.do(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": qc.Secret}, "Authorization", tv)
	res.json(t, &auth)
	if res.status != http.StatusOK || auth.AccessToken == "" {
		t.Fatalf("sign in with Quick Connect: status %d: %s", res.status, res.body)
	}
	return auth.AccessToken
}

// TestWeakSessionsCannotAdministerJellyfin: the step-up rule holds at Jellyfin's own
// routes too, not only at jfguard's. The administrator has an authenticator, a
// browser that passed it, an app password on her TV, a phone let in with Quick
// Connect and the session she enrolled from. The TV, the phone and the old session
// cannot list or mint API keys or change her password at Jellyfin: each answers 403
// with a clear error, reaches no Jellyfin, and records only step_up_required, once a
// minute per session and action however often it is asked again. The
// browser, whose factor is no longer recent, can: Jellyfin's pages ask for no
// step-up, so a factor proven at sign-in is enough there. An API key, a service's
// administrator credential, is not asked.
func TestWeakSessionsCannotAdministerJellyfin(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	admin := g.enroll(t, "admin", adminPassword)
	c, ok := g.challengeOf(t, g.signIn(t, "admin", adminPassword, "admin-browser", "X-Jfguard-Client", "web"))
	if !ok {
		t.Fatal("the administrator was not challenged")
	}
	browser := g.verified(t, c, "totp", g.code(t, admin.secret))
	_, appPassword := g.appPassword(t, browser, "Admin's TV")
	tvToken := g.tvSignedIn(t, tvApp{androidID: "0a1b2c3d4e5f6071", device: "Admin's TV", version: "0.18.0"}, "admin", appPassword)
	phone := g.quickConnectSession(t, browser, "admin-phone")
	g.clock.Advance(6 * time.Minute) // the browser's factor is no longer recent

	recorded := map[string]bool{}
	for _, weak := range []struct {
		name, token, wantErr string
	}{
		{"the TV's app password", tvToken, "device_session"},
		{"the phone let in with Quick Connect", phone, "device_session"},
		{"the session from before enrolment", admin.token, "step_up_required"},
	} {
		for _, a := range jellyfinChanges(g.admin.ID) {
			before := g.eventTypes(t)
			res := g.do(t, a.method, a.path, a.body, "Authorization", tokenHeader(weak.token))
			var body struct {
				Error   string `json:"error"`
				Message string `json:"message"`
				Action  string `json:"action"`
			}
			_ = json.Unmarshal(res.body, &body)
			if res.status != http.StatusForbidden || body.Error != weak.wantErr || body.Message == "" {
				t.Errorf("%s: %s: status %d: %s", weak.name, a.name, res.status, res.body)
			}
			if weak.wantErr == "step_up_required" && !strings.HasPrefix(body.Action, "jellyfin_") {
				t.Errorf("%s: %s: the refusal names action %q", weak.name, a.name, body.Action)
			}
			path, _, _ := strings.Cut(a.path, "?")
			if g.reachedJellyfinAt(weak.token, path) {
				t.Errorf("%s: %s reached Jellyfin", weak.name, a.name)
			}
			g.refusedCleanly(t, weak.name+": "+a.name, before)
			want := 0
			if !recorded[weak.token+a.action] {
				want, recorded[weak.token+a.action] = 1, true
			}
			if after := g.eventTypes(t); after["step_up_required"] != before["step_up_required"]+want {
				t.Errorf("%s: %s: %d step_up_required recorded, want %d", weak.name, a.name, after["step_up_required"]-before["step_up_required"], want)
			}
		}
	}
	var refused []*events.StepUpRequired
	for _, p := range payloads[*events.StepUpRequired](t, g, "step_up_required") {
		if strings.HasPrefix(p.Action, "jellyfin_") {
			refused = append(refused, p)
		}
	}
	if len(refused) != 3*2 {
		t.Errorf("%d step_up_required for Jellyfin's routes, want one per session and action", len(refused))
	}
	// A minute on, the same refusal is recorded again.
	g.clock.Advance(time.Minute)
	before := g.eventTypes(t)
	if res := g.do(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(tvToken)); res.status != http.StatusForbidden {
		t.Errorf("the TV a minute later: status %d: %s", res.status, res.body)
	}
	if after := g.eventTypes(t); after["step_up_required"] != before["step_up_required"]+1 {
		t.Errorf("a minute later the refusal is not recorded again")
	}

	// The pages of Jellyfin ask for no step-up: the browser's factor from sign-in
	// is enough, however old.
	var keys struct{ TotalRecordCount int }
	res := g.do(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(browser))
	res.json(t, &keys)
	if res.status != http.StatusOK || keys.TotalRecordCount != 1 {
		t.Errorf("the browser lists the API keys: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/Auth/Keys?app=Sonarr", nil, "Authorization", tokenHeader(browser)); res.status != http.StatusNoContent {
		t.Errorf("the browser mints an API key: status %d: %s", res.status, res.body)
	}
	// An API key is an administrator's credential by design, for services.
	res = g.do(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(g.apiKey))
	res.json(t, &keys)
	if res.status != http.StatusOK || keys.TotalRecordCount != 2 {
		t.Errorf("an API key lists the API keys: status %d: %s", res.status, res.body)
	}
	// A step-up lets the session from before enrolment in, for the window.
	g.stepUp(t, admin.token, admin.secret)
	if res := g.do(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(admin.token)); res.status != http.StatusOK {
		t.Errorf("the old session after a step-up: status %d: %s", res.status, res.body)
	}
	// Last, as Jellyfin signs her other sessions out when her password changes.
	if res := g.do(t, http.MethodPost, "/Users/"+g.admin.ID+"/Password", map[string]string{"CurrentPw": adminPassword, "NewPw": "admin-new-password"},
		"Authorization", tokenHeader(browser)); res.status != http.StatusNoContent {
		t.Errorf("the browser changes the password: status %d: %s", res.status, res.body)
	}
}

// TestAdministratorWithoutASecondFactorChangesNothing: an administrator whose
// account has no second factor signs in with the password alone. She may read the
// control API, but changing state through it, or through Jellyfin's routes for
// administrators, is refused with second_factor_required, which tells her to set a
// factor up, and recorded. Her own password and jfguard's account routes stay open
// to her, as to any user without a factor. Once she enrolled and signed in with the
// factor, the same change works.
func TestAdministratorWithoutASecondFactorChangesNothing(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	token := g.signedIn(t, "admin", adminPassword, "admin-1")
	rpc := func(token, method string, params any) (reply, string) {
		res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
			"Authorization", tokenHeader(token))
		var out struct {
			Error *struct {
				Code int `json:"code"`
				Data struct {
					Error   string `json:"error"`
					Message string `json:"message"`
					Setup   string `json:"setup"`
				} `json:"data"`
			} `json:"error"`
		}
		res.json(t, &out)
		if out.Error == nil {
			return res, ""
		}
		if out.Error.Data.Message == "" || out.Error.Data.Setup == "" {
			t.Errorf("%s: the refusal does not say what to do: %s", method, res.body)
		}
		return res, out.Error.Data.Error
	}

	if res, code := rpc(token, "users.list", nil); res.status != http.StatusOK || code != "" {
		t.Errorf("she reads the users: status %d: %s", res.status, res.body)
	}
	before := g.eventTypes(t)
	if res, code := rpc(token, "bans.add", map[string]string{"ip": "192.0.2.1"}); res.status != http.StatusForbidden || code != "second_factor_required" {
		t.Errorf("she bans an address: status %d: %s", res.status, res.body)
	}
	g.refusedCleanly(t, "bans.add", before)
	if bans, _ := g.rpc(t, "bans.list", nil); strings.Contains(string(bans), "192.0.2.1") {
		t.Errorf("the refused ban holds: %s", bans)
	}
	res := g.do(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(token))
	if res.status != http.StatusForbidden || res.errorCode() != "second_factor_required" {
		t.Errorf("she lists Jellyfin's API keys: status %d: %s", res.status, res.body)
	}
	var recorded []string
	for _, p := range payloads[*events.StepUpRequired](t, g, "step_up_required") {
		recorded = append(recorded, p.Action+"/"+p.Level)
	}
	if strings.Join(recorded, " ") != "admin/aal1 jellyfin_admin/aal1" {
		t.Errorf("step_up_required recorded %v", recorded)
	}
	// Her own password is hers to change, as any user's without a factor.
	if res := g.do(t, http.MethodPost, "/Users/Password", map[string]string{"CurrentPw": adminPassword, "NewPw": adminPassword},
		"Authorization", tokenHeader(token)); res.status != http.StatusNoContent {
		t.Errorf("she changes her own password: status %d: %s", res.status, res.body)
	}

	admin := g.enroll(t, "admin", adminPassword)
	c, ok := g.challengeOf(t, g.signIn(t, "admin", adminPassword, "admin-browser", "X-Jfguard-Client", "web"))
	if !ok {
		t.Fatal("the enrolled administrator was not challenged")
	}
	browser := g.verified(t, c, "totp", g.code(t, admin.secret))
	if res, code := rpc(browser, "bans.add", map[string]string{"ip": "192.0.2.1"}); res.status != http.StatusOK || code != "" {
		t.Errorf("with her factor she bans an address: status %d: %s", res.status, res.body)
	}
}
