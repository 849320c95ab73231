package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Network allowlists: an administrator says where an account may sign in from
// (users.set_networks) and where administrators may (security.admin_networks). The
// tests speak for clients at several addresses through a trusted proxy on loopback,
// and check that a forged X-Forwarded-For from an untrusted peer moves no one.

const (
	homeIP = "192.0.2.10"  // inside alice's networks
	awayIP = "203.0.113.9" // outside them
)

// setNetworks sets a user's networks with the admin token and returns the list kept.
func (g *testGateway) setNetworks(t *testing.T, user string, nets ...string) []string {
	t.Helper()
	if nets == nil {
		nets = []string{}
	}
	raw, rerr := g.rpc(t, "users.set_networks", map[string]any{"user": user, "networks": nets})
	if rerr != nil {
		t.Fatalf("users.set_networks %s %v: %+v", user, nets, rerr)
	}
	var out struct {
		Networks []string `json:"networks"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out.Networks
}

// outsideNetworks fails unless a reply is the network refusal.
func outsideNetworks(t *testing.T, what string, res reply) {
	t.Helper()
	if res.status != http.StatusForbidden || res.errorCode() != "network_not_allowed" {
		t.Fatalf("%s: status %d: %s; want 403 network_not_allowed", what, res.status, res.body)
	}
	var body struct {
		Message string `json:"message"`
	}
	res.json(t, &body)
	if body.Message == "" {
		t.Errorf("%s: the refusal says nothing to the person", what)
	}
}

// loggedOutAt waits until the stand-in has no session of a device: the token
// Jellyfin gave a refused sign-in was logged out.
func (g *testGateway) loggedOutAt(t *testing.T, deviceID string) {
	t.Helper()
	eventually(t, "the session of "+deviceID+" is logged out at Jellyfin", func() bool {
		for _, s := range g.jf.Sessions() {
			if s.DeviceID == deviceID {
				return false
			}
		}
		return true
	})
}

// refusedSignIns are the sign_in_refused events, as method@address.
func (g *testGateway) refusedSignIns(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range payloads[*events.SignInRefused](t, g, events.TypeSignInRefused) {
		if p.Reason != "network" {
			t.Errorf("sign_in_refused with reason %q", p.Reason)
		}
		out = append(out, p.Method+"@"+p.Address)
	}
	return out
}

// quickConnectFrom runs Quick Connect for a television at an address: it initiates,
// alice's session authorizes the code, and the television asks for its token.
func (g *testGateway) quickConnectFrom(t *testing.T, aliceToken, deviceID, ip string) reply {
	t.Helper()
	tv := []string{"Authorization", `MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="` + deviceID + `", Version="0.18.0"`, "X-Forwarded-For", ip}
	res := g.do(t, http.MethodPost, "/QuickConnect/Initiate", nil, tv...)
	var qc struct {
		Secret string `json:"Secret"`
		Code   string `json:"Code"`
	}
	res.json(t, &qc)
	if res.status != http.StatusOK || qc.Secret == "" {
		t.Fatalf("Quick Connect initiate: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/QuickConnect/Authorize?code="+qc.Code, nil, "Authorization", tokenHeader(aliceToken)); res.status != http.StatusOK {
		t.Fatalf("Quick Connect authorize: status %d: %s", res.status, res.body)
	}
	return g.do(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": qc.Secret}, tv...)
}

// TestNetworkAllowlistRefusesEverySignInMethod: alice may sign in only from
// 192.0.2.0/24 and 2001:db8::/48. With the right password, an app password, Quick
// Connect or jfguard's script login, a sign-in from elsewhere is refused with 403
// before any challenge, recorded, and Jellyfin's token for it logged out; from
// inside each works. Passkey-only sign-in takes the same rule (the use-case test
// TestEverySignInMethodIsRefusedOutsideTheNetworks; the e2e suite has no
// authenticator that signs).
func TestNetworkAllowlistRefusesEverySignInMethod(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: proxySettings})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	_, appPassword := g.appPassword(t, browser, "TV")
	if got := g.setNetworks(t, "alice", "2001:db8::1/48", "192.0.2.77/24"); !slices.Equal(got, []string{"192.0.2.0/24", "2001:db8::/48"}) {
		t.Fatalf("networks kept %v", got)
	}
	challengesBefore := g.eventTypes(t)[events.TypeChallengeIssued]

	// The password step: Jellyfin accepts the password, jfguard refuses and logs
	// Jellyfin's token out.
	outsideNetworks(t, "password from outside", g.signIn(t, "alice", alicePassword, "alice-away", from(awayIP)...))
	g.loggedOutAt(t, "alice-away")
	// A client cannot put an allowed address before its own: the trusted proxy
	// appends the real one, and that is the one that counts.
	outsideNetworks(t, "password with a prepended address", g.signIn(t, "alice", alicePassword, "alice-prepended", from(homeIP+", "+awayIP)...))
	// An app password.
	outsideNetworks(t, "app password from outside", g.signIn(t, "alice", appPassword, "tv-away", from(awayIP)...))
	// jfguard's script login, before any code is asked for.
	outsideNetworks(t, "script login from outside", g.do(t, http.MethodPost, "/jfguard/api/login",
		map[string]string{"username": "alice", "password": alicePassword, "code": g.code(t, f.secret)}, from(awayIP)...))
	// Quick Connect, although alice authorized the code.
	g.stepUp(t, browser, f.secret)
	outsideNetworks(t, "Quick Connect from outside", g.quickConnectFrom(t, browser, "qc-away", awayIP))
	g.loggedOutAt(t, "qc-away")

	if n := g.eventTypes(t)[events.TypeChallengeIssued]; n != challengesBefore {
		t.Errorf("refused sign-ins issued %d challenges", n-challengesBefore)
	}
	want := []string{"password@" + awayIP, "password@" + awayIP, "app_password@" + awayIP, "password@" + awayIP, "quick_connect@" + awayIP}
	if got := g.refusedSignIns(t); !slices.Equal(got, want) {
		t.Errorf("sign_in_refused %v; want %v", got, want)
	}

	// From inside, over IPv4 and IPv6, every method works.
	c := g.challenged(t, "alice-home", from(homeIP)...)
	g.verified(t, c, "totp", g.code(t, f.secret))
	g.challenged(t, "alice-home6", from("2001:db8:0:42::7")...)
	if res := g.signIn(t, "alice", appPassword, "tv-home", from(homeIP)...); res.status != http.StatusOK {
		t.Errorf("app password from inside: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodPost, "/jfguard/api/login", map[string]string{"username": "alice", "password": alicePassword, "code": g.code(t, f.secret)}, from(homeIP)...); res.status != http.StatusOK {
		t.Errorf("script login from inside: status %d: %s", res.status, res.body)
	}
	g.stepUp(t, browser, f.secret)
	if res := g.quickConnectFrom(t, browser, "qc-home", homeIP); res.status != http.StatusOK {
		t.Errorf("Quick Connect from inside: status %d: %s", res.status, res.body)
	}

	// An empty list is anywhere again.
	g.setNetworks(t, "alice")
	g.challenged(t, "alice-away-again", from(awayIP)...)

	// The refusal is an alert-worthy, labelled event.
	raw, rerr := g.rpc(t, "users.list", nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var users []struct {
		Name     string   `json:"name"`
		Networks []string `json:"networks"`
	}
	if err := json.Unmarshal(raw, &users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Networks == nil {
			t.Errorf("users.list: %s has no networks field: %s", u.Name, raw)
		}
	}
}

// TestForgedForwardedForMovesNoOne: without a trusted proxy the client's address is
// the connection's, whatever X-Forwarded-For says. A forged allowed address does
// not get alice in, and a forged refused one does not keep her out.
func TestForgedForwardedForMovesNoOne(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.setNetworks(t, "bob", homeIP+"/24")
	outsideNetworks(t, "a forged allowed address", g.signIn(t, "bob", bobPassword, "bob-forged", from(homeIP)...))
	g.loggedOutAt(t, "bob-forged")
	if got := g.refusedSignIns(t); len(got) != 1 || (got[0] != "password@127.0.0.1" && got[0] != "password@::1") {
		t.Errorf("sign_in_refused %v; want the connection's address", got)
	}

	g.setNetworks(t, "bob", "127.0.0.0/8", "::1")
	g.signedIn(t, "bob", bobPassword, "bob-loopback", from(awayIP)...)
}

// TestAdminNetworksHoldAdministratorsOnly: security.admin_networks keeps
// administrators to the LAN (here 192.0.2.0/24) and leaves users alone; settings.set
// changes it at run time.
func TestAdminNetworksHoldAdministratorsOnly(t *testing.T) {
	t.Parallel()
	settings := map[string]string{"security.admin_networks": "192.0.2.0/24"}
	for k, v := range proxySettings {
		settings[k] = v
	}
	g := startGateway(t, options{settings: settings})

	outsideNetworks(t, "administrator from outside", g.signIn(t, "admin", adminPassword, "admin-away", from(awayIP)...))
	g.loggedOutAt(t, "admin-away")
	g.signedIn(t, "bob", bobPassword, "bob-away", from(awayIP)...)
	g.signedIn(t, "admin", adminPassword, "admin-home", from(homeIP)...)
	var rule string
	for _, p := range payloads[*events.SignInRefused](t, g, events.TypeSignInRefused) {
		rule = p.Rule
	}
	if rule != "admins" {
		t.Errorf("refusal rule %q; want admins", rule)
	}

	if _, rerr := g.rpc(t, "settings.set", map[string]string{"key": "security.admin_networks", "value": "192.0.2.0/33"}); rerr == nil {
		t.Error("settings.set took an invalid network")
	}
	if _, rerr := g.rpc(t, "settings.set", map[string]string{"key": "security.admin_networks", "value": "198.51.100.0/24"}); rerr != nil {
		t.Fatalf("settings.set: %+v", rerr)
	}
	outsideNetworks(t, "administrator from the old admin network", g.signIn(t, "admin", adminPassword, "admin-home-2", from(homeIP)...))
	g.signedIn(t, "admin", adminPassword, "admin-new", from("198.51.100.4")...)
	if _, rerr := g.rpc(t, "settings.set", map[string]string{"key": "security.admin_networks", "value": ""}); rerr != nil {
		t.Fatalf("settings.set empty: %+v", rerr)
	}
	g.signedIn(t, "admin", adminPassword, "admin-away-2", from(awayIP)...)
}

// TestSetNetworksIsAnAdministratorsChange: users.set_networks changes who may sign
// in, so only an administrator may call it, and an administrator's session only
// after a recent second factor; the auditor token, a user's session, no credential,
// and bad parameters change nothing.
func TestSetNetworksIsAnAdministratorsChange(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	bob := g.signedIn(t, "bob", bobPassword, "bob-phone")
	admin := g.enroll(t, "admin", adminPassword)
	res := g.signIn(t, "admin", adminPassword, "admin-browser", "X-Jfguard-Client", "web")
	c, ok := g.challengeOf(t, res)
	if !ok {
		t.Fatalf("the administrator was not challenged: %d %s", res.status, res.body)
	}
	browser := g.verified(t, c, "totp", g.code(t, admin.secret))
	g.clock.Advance(6 * time.Minute)

	call := func(header []string, params any) (reply, *rpcError) {
		res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "users.set_networks", "params": params}, header...)
		var out struct {
			Error *rpcError `json:"error"`
		}
		_ = json.Unmarshal(res.body, &out)
		return res, out.Error
	}
	params := map[string]any{"user": "bob", "networks": []string{"192.0.2.0/24"}}
	before := g.eventTypes(t)
	for name, header := range map[string][]string{
		"the auditor token":                {"Authorization", "Bearer " + g.main.AuditorToken()},
		"the administrator's weak session": {"Authorization", tokenHeader(browser)},
		"a user's session":                 {"Authorization", tokenHeader(bob)},
		"no credential":                    nil,
	} {
		if res, _ := call(header, params); res.status != http.StatusForbidden {
			t.Errorf("%s sets bob's networks: status %d: %s", name, res.status, res.body)
		}
	}
	if _, rerr := call([]string{"Authorization", tokenHeader(browser)}, params); rerr == nil || rerr.Code != -32001 {
		t.Errorf("the weak session's refusal: %+v; want step-up (-32001)", rerr)
	}
	g.refusedCleanly(t, "users.set_networks refused", before)
	if g.eventTypes(t)[events.TypeUserNetworksSet] != 0 {
		t.Fatal("a refused call set networks")
	}

	for name, p := range map[string]any{
		"no networks":      map[string]any{"user": "bob"},
		"a bad network":    map[string]any{"user": "bob", "networks": []string{"192.0.2.0/24", "home"}},
		"no user":          map[string]any{"networks": []string{}},
		"an unknown field": map[string]any{"user": "bob", "networks": []string{}, "group": "admins"},
	} {
		if _, rerr := g.rpc(t, "users.set_networks", p); rerr == nil || rerr.Code != -32602 {
			t.Errorf("%s: %+v; want invalid params", name, rerr)
		}
	}
	if _, rerr := g.rpc(t, "users.set_networks", map[string]any{"user": "nobody", "networks": []string{}}); rerr == nil {
		t.Error("an unknown user's networks were set")
	}

	// After a step-up the administrator's session may.
	g.stepUp(t, browser, admin.secret)
	if res, rerr := call([]string{"Authorization", tokenHeader(browser)}, params); res.status != http.StatusOK || rerr != nil {
		t.Fatalf("after the step-up: status %d: %s", res.status, res.body)
	}
	set := g.eventsOf(t, events.TypeUserNetworksSet)
	if len(set) != 1 || set[0].Actor != "admin" {
		t.Fatalf("user_networks_set %+v; want one, by the administrator", set)
	}
}
