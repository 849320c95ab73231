package e2e

import (
	"net/http"
	"testing"
)

// signedInAtJellyfin signs a user in at the stand-in directly, around jfguard (a
// client on the server's network, or a session from before jfguard): jfguard never
// sees the token.
func (g *testGateway) signedInAtJellyfin(t *testing.T, name, password, deviceID string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.jfURL+"/Users/AuthenticateByName", jsonBody(t, map[string]string{"Username": name, "Pw": password}))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", clientHeader(deviceID, ""))
	res := send(t, req)
	var a authResult
	res.json(t, &a)
	if res.status != http.StatusOK || a.AccessToken == "" {
		t.Fatalf("sign-in of %s at Jellyfin: status %d: %s", name, res.status, res.body)
	}
	return a.AccessToken
}

// TestSignOutEverywhereEndsSessionsJfguardNeverSaw: alice signed in at Jellyfin
// directly on a laptop, around jfguard. Signing out everywhere from her browser
// logs that session out at Jellyfin too, and keeps her browser's; bob's session at
// Jellyfin is not touched.
func TestSignOutEverywhereEndsSessionsJfguardNeverSaw(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	laptop := g.signedInAtJellyfin(t, "alice", alicePassword, "laptop-on-the-lan")
	bob := g.signedInAtJellyfin(t, "bob", bobPassword, "bob-on-the-lan")

	res := g.do(t, http.MethodPost, "/jfguard/api/me/sign-out-everywhere", map[string]string{}, "Authorization", tokenHeader(browser))
	if res.status != http.StatusOK {
		t.Fatalf("sign out everywhere: status %d: %s", res.status, res.body)
	}
	if g.jf.TokenActive(laptop) {
		t.Error("the laptop's session, signed in around jfguard, is still live at Jellyfin")
	}
	if !g.jf.TokenActive(browser) || !g.jf.TokenActive(bob) {
		t.Errorf("live at Jellyfin: the browser that asked %v, bob %v; want both", g.jf.TokenActive(browser), g.jf.TokenActive(bob))
	}
	if n := len(g.eventsOf(t, "jellyfin_logout_failed")); n != 0 {
		t.Errorf("%d jellyfin_logout_failed events", n)
	}
}

// TestAdministratorRevocationsEndSessionsJfguardNeverSaw: users.revoke_all,
// users.reset and users.forget log out at Jellyfin the user's sessions that never
// went through jfguard, and no one else's.
func TestAdministratorRevocationsEndSessionsJfguardNeverSaw(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	// jfguard knows both users from a sign-in through it.
	g.signedIn(t, "alice", alicePassword, "alice-phone")
	g.signedIn(t, "bob", bobPassword, "bob-phone")
	admin := g.signedInAtJellyfin(t, "admin", adminPassword, "admin-on-the-lan")

	for _, step := range []struct{ method, user, name, password string }{
		{"users.revoke_all", "alice", "alice", alicePassword},
		{"users.reset", "bob", "bob", bobPassword},
		{"users.forget", "bob", "bob", bobPassword},
	} {
		direct := g.signedInAtJellyfin(t, step.name, step.password, step.name+"-lan-"+step.method)
		if _, rerr := g.rpc(t, step.method, map[string]string{"user": step.user, "reason": "test"}); rerr != nil {
			t.Fatalf("%s: %+v", step.method, rerr)
		}
		if g.jf.TokenActive(direct) {
			t.Errorf("%s: %s's session signed in around jfguard is still live at Jellyfin", step.method, step.name)
		}
		if !g.jf.TokenActive(admin) {
			t.Fatalf("%s logged the administrator out at Jellyfin", step.method)
		}
	}
}
