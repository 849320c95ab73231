package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestAppPassword: alice creates an app password on her browser and types it into
// Jellyfin for Android TV's password field. jfguard shows it once and never writes it
// to the event log; the television gets a real Jellyfin session made for its own
// device (through Quick Connect with the admin key), which keeps working. The app
// password is listed with its last use; its session cannot let other devices in;
// once revoked it is refused like a wrong password; a user has at most twenty.
func TestAppPassword(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	tv := tvApp{androidID: "a1b2c3d4e5f60718", device: "SHIELD Android TV", version: "0.18.0"}

	id, password := g.appPassword(t, browser, "Living room TV")
	secret := strings.TrimPrefix(password, "jfg_"+id+"_")
	token := g.tvSignedIn(t, tv, "alice", password)

	var session bool
	for _, s := range g.jf.Sessions() {
		if s.Token != token {
			continue
		}
		session = true
		if s.UserID != g.alice.ID || s.Client != androidTVClient || s.DeviceID != tv.deviceIDFor("alice") || s.Device != tv.device || s.Version != tv.version {
			t.Errorf("Jellyfin's session for the app password: %+v, want alice on the television", s)
		}
	}
	if !session {
		t.Fatal("Jellyfin has no session for the token the app password returned")
	}
	for i := range 3 {
		if status, _ := g.tvCurrentUser(t, tv, g.alice.ID, token); status != http.StatusOK {
			t.Fatalf("request %d with the app password's token: status %d", i+1, status)
		}
	}
	g.expectEvents(t, "app_password_created", "app_password_used")
	if reasons := g.sessionReasons(t); reasons[len(reasons)-1] != "app_password" {
		t.Errorf("session reasons %v, want the last one app_password", reasons)
	}

	var me struct {
		AppPasswords []struct {
			ID       string    `json:"id"`
			Label    string    `json:"label"`
			LastUsed time.Time `json:"last_used"`
			LastIP   string    `json:"last_ip"`
		} `json:"app_passwords"`
	}
	g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(browser)).json(t, &me)
	if len(me.AppPasswords) != 1 || me.AppPasswords[0].ID != id || me.AppPasswords[0].Label != "Living room TV" ||
		me.AppPasswords[0].LastUsed.IsZero() || me.AppPasswords[0].LastIP != "127.0.0.1" {
		t.Errorf("app passwords %+v, want the one used from 127.0.0.1", me.AppPasswords)
	}

	// Whoever holds an app password has not proved a second factor.
	other := tvApp{androidID: "0c1d2e3f40516273", device: "BRAVIA 4K", version: "0.18.0"}
	g.tvChallenged(t, other)
	pending, _ := g.pairings(t, browser)
	if len(pending) != 1 {
		t.Fatalf("pending pairings %+v, want one", pending)
	}
	if res := g.answerPairing(t, token, pending[0].ID, "approve"); res.status != http.StatusForbidden || res.errorCode() != "device_session" {
		t.Errorf("approve from the app password's session: status %d: %s", res.status, res.body)
	}

	if res := g.do(t, http.MethodDelete, "/jfguard/api/me/app-passwords/"+id, nil, "Authorization", tokenHeader(browser)); res.status != http.StatusOK {
		t.Fatalf("revoke the app password: status %d: %s", res.status, res.body)
	}
	if token, res := g.tvSignIn(t, tv, "alice", password); token != "" || res.status != http.StatusUnauthorized || string(res.body) != "Error processing request." {
		t.Errorf("the revoked app password: status %d: %s", res.status, res.body)
	}
	failed := payloads[*events.SignInFailed](t, g, "sign_in_failed")
	if len(failed) != 1 || failed[0].Reason != "bad_app_password" || failed[0].Username != "alice" {
		t.Errorf("sign_in_failed %+v, want one bad_app_password for alice", failed)
	}

	// Shown once: the secret part is nowhere in the stream, even after its use.
	if bytes.Contains(g.streamBytes(t), []byte(secret)) {
		t.Error("the app password's secret is in the event stream")
	}

	for i := range 20 {
		g.appPassword(t, browser, "App "+string(rune('A'+i)))
	}
	res := g.do(t, http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": "One too many"}, "Authorization", tokenHeader(browser))
	if res.status != http.StatusConflict || res.errorCode() != "limit_reached" {
		t.Errorf("the 21st app password: status %d: %s", res.status, res.body)
	}
}

// TestAppPasswordBan: a wrong app password counts against the address like a wrong
// password; at security.ban_threshold failures the address is banned and everything
// it sends is refused, the right app password and jfguard's own API included.
func TestAppPasswordBan(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: map[string]string{"security.ban_threshold": "3"}})
	setup := g.signedIn(t, "alice", alicePassword, "alice-setup")
	id, password := g.appPassword(t, setup, "TV")
	secret := strings.TrimPrefix(password, "jfg_"+id+"_")
	flip := func(s string) string {
		if s[len(s)-1] == '0' {
			return s[:len(s)-1] + "1"
		}
		return s[:len(s)-1] + "0"
	}
	tv := tvApp{androidID: "a1b2c3d4e5f60718", device: "SHIELD Android TV", version: "0.18.0"}
	for _, tc := range []struct{ name, user, password string }{
		{"wrong secret", "alice", "jfg_" + id + "_" + flip(secret)},
		{"unknown id", "alice", "jfg_" + flip(id) + "_" + secret},
		{"another user's name", "bob", password},
	} {
		if token, res := g.tvSignIn(t, tv, tc.user, tc.password); token != "" || res.status != http.StatusUnauthorized {
			t.Fatalf("%s: status %d: %s", tc.name, res.status, res.body)
		}
	}
	for _, f := range payloads[*events.SignInFailed](t, g, "sign_in_failed") {
		if f.Reason != "bad_app_password" {
			t.Errorf("sign_in_failed reason %q, want bad_app_password", f.Reason)
		}
	}
	g.expectEvents(t, "ip_banned")

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		header []string
	}{
		{"the right app password", http.MethodPost, "/Users/AuthenticateByName", map[string]string{"Username": "alice", "Pw": password},
			[]string{"Authorization", tv.header(tv.deviceIDFor("alice"), "")}},
		{"a verified session", http.MethodGet, "/Users/Me", nil, []string{"Authorization", tokenHeader(setup)}},
		{"an anonymous request", http.MethodGet, "/System/Info/Public", nil, nil},
		{"the script sign-in", http.MethodPost, "/jfguard/api/login", map[string]string{"username": "alice", "password": alicePassword}, nil},
		{"self-service with a verified session", http.MethodGet, "/jfguard/api/me", nil, []string{"Authorization", tokenHeader(setup)}},
		{"a new app password", http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": "Attacker"}, []string{"Authorization", tokenHeader(setup)}},
	} {
		if res := g.do(t, tc.method, tc.path, tc.body, tc.header...); res.status != http.StatusForbidden {
			t.Errorf("%s from the banned address: status %d: %s", tc.name, res.status, res.body)
		}
	}
}

// TestAppPasswordUnavailable: app passwords need Quick Connect on in Jellyfin and an
// admin API key Jellyfin accepts. Without either, signing in with one answers a clear
// error instead of a token, and /jfguard/readyz warns about the cause (without going
// unready: passwords and second factors still work).
func TestAppPasswordUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		settings     map[string]string
		quickConnect bool
		warning      string
	}{
		{"Quick Connect off", nil, false, "Quick Connect is off"},
		{"no admin key", map[string]string{"jellyfin.api_key": ""}, true, "no Jellyfin admin API key"},
		{"admin key refused", map[string]string{"jellyfin.api_key": "0123456789abcdef0123456789abcdef"}, true, "refuses the admin API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, options{settings: tc.settings})
			setup := g.signedIn(t, "alice", alicePassword, "alice-setup")
			_, password := g.appPassword(t, setup, "TV")
			if !tc.quickConnect {
				if w := readyWarnings(t, g); strings.Contains(strings.Join(w, "\n"), "Quick Connect") {
					t.Errorf("readiness warns about Quick Connect while it is on: %v", w)
				}
				g.jf.SetQuickConnect(false)
				// Readiness asks Jellyfin at most every 30 seconds.
				g.clock.Advance(time.Minute)
			}
			tv := tvApp{androidID: "a1b2c3d4e5f60718", device: "SHIELD Android TV", version: "0.18.0"}
			token, res := g.tvSignIn(t, tv, "alice", password)
			if token != "" || res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "app passwords are unavailable") {
				t.Errorf("sign-in with an app password: status %d: %s", res.status, res.body)
			}
			if w := readyWarnings(t, g); !strings.Contains(strings.Join(w, "\n"), tc.warning) {
				t.Errorf("readiness problems %q, want one saying %q", w, tc.warning)
			}
		})
	}
}

// readyWarnings reads /jfguard/readyz, failing unless jfguard is ready, and returns
// the problems it lists.
func readyWarnings(t *testing.T, g *testGateway) []string {
	t.Helper()
	res := g.do(t, http.MethodGet, "/jfguard/readyz", nil)
	var out struct {
		Ready    bool     `json:"ready"`
		Problems []string `json:"problems"`
	}
	res.json(t, &out)
	if res.status != http.StatusOK || !out.Ready {
		t.Fatalf("readyz: status %d: %s", res.status, res.body)
	}
	return out.Problems
}
