package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sj14/jellyfin-go/api"
)

// quickConnectTV signs a TV in with Quick Connect through jfguard, its code approved
// by the session approver (which must have a recent factor), and returns the TV's
// token.
func (g *testGateway) quickConnectTV(t *testing.T, ctx context.Context, deviceID, approver string) string {
	t.Helper()
	tv := g.jellyfinClient(`MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="` + deviceID + `", Version="0.18.0"`)
	qc, _, err := tv.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
	if err != nil {
		t.Fatalf("InitiateQuickConnect: %v", err)
	}
	if res := g.do(t, http.MethodPost, "/QuickConnect/Authorize?code="+qc.GetCode(), nil, "Authorization", clientHeader("approver", approver)); res.status != http.StatusOK {
		t.Fatalf("approve the TV's code: status %d: %s", res.status, res.body)
	}
	auth, _, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
	if err != nil {
		t.Fatalf("AuthenticateWithQuickConnect: %v", err)
	}
	return auth.GetAccessToken()
}

// TestQuickConnectSessionCannotTakeTheAccountOver: a TV signed in through Quick
// Connect, approved from alice's phone right after it proved her authenticator, is
// a device: whoever holds it (a stolen TV, a guest) watches, but cannot mint an app
// password, turn two-factor off (even with a phished code), let another device in
// with Quick Connect, sign alice out everywhere, or use the control API. Each is
// refused with device_session, and records only the refusal. An administrator's
// Quick Connect TV cannot sign anyone out everywhere either: the control API does
// not take a device's session at all.
func TestQuickConnectSessionCannotTakeTheAccountOver(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := g.enrollAlice(t)
	phone := g.browserSession(t, f)
	tvToken := g.quickConnectTV(t, ctx, "stolen-tv", phone)
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(tvToken)); res.status != http.StatusOK {
		t.Fatalf("the Quick Connect TV: status %d", res.status)
	}
	tv := []string{"Authorization", tokenHeader(tvToken)}

	// Another TV waits for a code to be approved.
	other := g.jellyfinClient(`MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="attackers-tv", Version="0.18.0"`)
	qc, _, err := other.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
	if err != nil {
		t.Fatalf("InitiateQuickConnect: %v", err)
	}
	for _, a := range []attack{
		{"mint an app password", http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": "mine now"}},
		{"disable two-factor", http.MethodPost, "/jfguard/api/me/disable", map[string]string{}},
		{"disable two-factor with a phished code", http.MethodPost, "/jfguard/api/me/disable", map[string]string{"method": "totp", "code": g.code(t, f.secret)}},
		{"approve a Quick Connect code at Jellyfin's API", http.MethodPost, "/QuickConnect/Authorize?code=" + qc.GetCode(), nil},
		{"approve a Quick Connect code on the security page", http.MethodPost, "/jfguard/api/me/quick-connect", map[string]string{"code": qc.GetCode()}},
		{"sign out everywhere", http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{}},
		{"sign out everywhere with a phished code", http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{"method": "totp", "code": g.code(t, f.secret)}},
	} {
		before := g.eventTypes(t)
		res := g.do(t, a.method, a.path, a.body, tv...)
		if res.status != http.StatusForbidden || res.errorCode() != "device_session" {
			t.Errorf("the Quick Connect TV: %s: status %d: %s", a.name, res.status, res.body)
		}
		g.refusedCleanly(t, "the Quick Connect TV: "+a.name, before)
	}
	if state, _, err := other.QuickConnectAPI.GetQuickConnectState(ctx).Secret(qc.GetSecret()).Execute(); err != nil || state.GetAuthenticated() {
		t.Errorf("the other TV's code was approved (%v)", err)
	}
	// Her phone still works (refusedCleanly saw no factor removed, no revocation).
	if !g.jf.TokenActive(phone) {
		t.Error("the phone was signed out")
	}
	// The control API is for administrators only.
	res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "users.revoke_all", "params": map[string]string{"user": "bob"}}, tv...)
	if res.status != http.StatusForbidden {
		t.Errorf("alice's Quick Connect TV calls users.revoke_all: status %d: %s", res.status, res.body)
	}

	// An administrator's Quick Connect TV may not sign anyone out everywhere.
	bobPhone := g.signedIn(t, "bob", bobPassword, "bob-phone")
	admin := g.enroll(t, "admin", adminPassword)
	c, ok := g.challengeOf(t, g.signIn(t, "admin", adminPassword, "admin-phone", "X-Jfguard-Client", "web"))
	if !ok {
		t.Fatal("the administrator was not challenged")
	}
	adminPhone := g.verified(t, c, "totp", g.code(t, admin.secret))
	adminTV := g.quickConnectTV(t, ctx, "admins-tv", adminPhone)
	before := g.eventTypes(t)
	res = g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "users.revoke_all", "params": map[string]string{"user": "bob"}},
		"Authorization", tokenHeader(adminTV))
	var out struct {
		Error *rpcError `json:"error"`
	}
	res.json(t, &out)
	if res.status != http.StatusForbidden || out.Error == nil || out.Error.Message != "administrators only" {
		t.Errorf("the administrator's Quick Connect TV calls users.revoke_all: status %d: %s", res.status, res.body)
	}
	if !g.jf.TokenActive(bobPhone) {
		t.Error("bob was signed out")
	}
	g.refusedCleanly(t, "the administrator's Quick Connect TV", before)
}
