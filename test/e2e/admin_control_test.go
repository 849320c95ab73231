package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// adminView is the part of users.get these tests read.
type adminView struct {
	Sessions []struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	} `json:"sessions"`
	Pairings []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"pairings"`
	AppPasswords []struct {
		ID string `json:"id"`
	} `json:"app_passwords"`
}

func (g *testGateway) userView(t *testing.T, user string) adminView {
	t.Helper()
	raw, rerr := g.rpc(t, "users.get", map[string]string{"user": user})
	if rerr != nil {
		t.Fatalf("users.get %s: %+v", user, rerr)
	}
	var v adminView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// actorsOf are the actors of the events of one type.
func (g *testGateway) actorsOf(t *testing.T, typ events.Type) []string {
	t.Helper()
	var out []string
	for _, ev := range g.eventsOf(t, typ) {
		out = append(out, ev.Actor)
	}
	return out
}

// TestAdminActsOnOneItem: an administrator ends one of alice's sessions, revokes one
// of her app passwords, approves and denies devices waiting for her approval, and
// lists and ends a sign-in held for its second step; each is the administrator's
// recorded act and takes effect at once.
func TestAdminActsOnOneItem(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	_, appPassword := g.appPassword(t, browser, "TV")
	tv := tvApp{androidID: "0011223344556677", device: "Living room", version: "0.18.0"}
	tvToken := g.tvSignedIn(t, tv, "alice", appPassword)

	// One session: the TV's is refused at the gate and logged out at Jellyfin; the
	// browser's goes on.
	v := g.userView(t, "alice")
	if !slices.ContainsFunc(v.Sessions, func(s struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	}) bool {
		return s.ID == sessionID(tvToken)
	}) {
		t.Fatalf("users.get does not list the TV's session: %+v", v.Sessions)
	}
	if _, rerr := g.rpc(t, "sessions.revoke", map[string]string{"user": "alice", "session": sessionID(tvToken)}); rerr != nil {
		t.Fatalf("sessions.revoke: %+v", rerr)
	}
	if status, gate := g.tvCurrentUser(t, tv, g.alice.ID, tvToken); status != http.StatusUnauthorized || !gate {
		t.Errorf("the revoked TV session: status %d, refused by the gate %v", status, gate)
	}
	eventually(t, "the TV's token is logged out at Jellyfin", func() bool { return !g.jf.TokenActive(tvToken) })
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(browser)); res.status != http.StatusOK {
		t.Errorf("the browser's session after the TV's was ended: status %d", res.status)
	}
	if _, rerr := g.rpc(t, "sessions.revoke", map[string]string{"user": "alice", "session": sessionID(tvToken)}); rerr == nil || rerr.Code != -32004 {
		t.Errorf("ending it again: %+v; want not found", rerr)
	}

	// One app password: it signs nothing in any more.
	if len(v.AppPasswords) != 1 {
		t.Fatalf("app passwords %+v", v.AppPasswords)
	}
	if _, rerr := g.rpc(t, "app_passwords.revoke", map[string]string{"user": "alice", "id": v.AppPasswords[0].ID}); rerr != nil {
		t.Fatalf("app_passwords.revoke: %+v", rerr)
	}
	if token, res := g.tvSignIn(t, tv, "alice", appPassword); token != "" || res.status != http.StatusUnauthorized {
		t.Errorf("the revoked app password signs in: status %d", res.status)
	}

	// Devices waiting for alice's approval: one approved on her behalf signs in, one
	// denied does not, and an answered pairing cannot be answered again.
	other := tvApp{androidID: "8899aabbccddeeff", device: "Bedroom", version: "0.18.0"}
	g.tvChallenged(t, tv)
	g.tvChallenged(t, other)
	pending := g.userView(t, "alice").Pairings
	if len(pending) != 2 {
		t.Fatalf("pairings %+v", pending)
	}
	for i, p := range pending {
		if _, rerr := g.rpc(t, "pairings.answer", map[string]any{"user": "alice", "pairing": p.ID, "approve": i == 0}); rerr != nil {
			t.Fatalf("pairings.answer: %+v", rerr)
		}
	}
	if _, rerr := g.rpc(t, "pairings.answer", map[string]any{"user": "alice", "pairing": pending[0].ID, "approve": false}); rerr == nil || rerr.Code != -32009 {
		t.Errorf("answering again: %+v; want a conflict", rerr)
	}
	if _, rerr := g.rpc(t, "pairings.answer", map[string]any{"user": "alice", "pairing": pending[0].ID}); rerr == nil || rerr.Code != -32602 {
		t.Errorf("an answer without approve: %+v; want invalid params", rerr)
	}
	signedIn := 0
	for _, app := range []tvApp{tv, other} {
		if token, _ := g.tvSignIn(t, app, "alice", alicePassword); token != "" {
			signedIn++
		}
	}
	if signedIn != 1 {
		t.Errorf("%d devices signed in after one approval and one denial", signedIn)
	}
	for _, typ := range []events.Type{events.TypePairingApproved, events.TypePairingDenied, events.TypeSessionRevoked, events.TypeAppPasswordRevoked} {
		if got := g.actorsOf(t, typ); len(got) == 0 || got[0] != "admin" {
			t.Errorf("%s actors %v; want the administrator", typ, got)
		}
	}

	// A held sign-in: listed, then ended; its second step no longer completes and
	// Jellyfin's token for it is logged out.
	c := g.challenged(t, "alice-held")
	raw, rerr := g.rpc(t, "challenges.list", nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var held []struct {
		ID   string `json:"id"`
		User string `json:"user"`
	}
	if err := json.Unmarshal(raw, &held); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(held, func(h struct {
		ID   string `json:"id"`
		User string `json:"user"`
	}) bool {
		return h.ID == c.id && h.User == "alice"
	}) {
		t.Fatalf("challenges.list %s does not list %s", raw, c.id)
	}
	if _, rerr := g.rpc(t, "challenges.end", map[string]string{"challenge": c.id}); rerr != nil {
		t.Fatalf("challenges.end: %+v", rerr)
	}
	if res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret)}); res.status == http.StatusOK {
		t.Error("the ended sign-in completed")
	}
	eventually(t, "the held token is logged out", func() bool { return !g.jf.TokenActive(c.held) })
	if _, rerr := g.rpc(t, "challenges.end", map[string]string{"challenge": c.id}); rerr == nil || rerr.Code != -32004 {
		t.Errorf("ending it again: %+v; want not found", rerr)
	}
	if got := g.actorsOf(t, events.TypeChallengeExpired); !slices.Contains(got, "admin") {
		t.Errorf("challenge_expired actors %v", got)
	}
}

// TestAdminActionsNeedTheAdministratorsStepUp: the one-item actions change accounts,
// so the auditor token, a user's session, no credential and an administrator's
// session without a recent factor are refused and change nothing.
func TestAdminActionsNeedTheAdministratorsStepUp(t *testing.T) {
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

	call := func(header []string, method string, params any) (reply, *rpcError) {
		res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, header...)
		var out struct {
			Error *rpcError `json:"error"`
		}
		_ = json.Unmarshal(res.body, &out)
		return res, out.Error
	}
	calls := []struct {
		method string
		params any
	}{
		{"sessions.revoke", map[string]string{"user": "bob", "session": sessionID(bob)}},
		{"app_passwords.revoke", map[string]string{"user": "bob", "id": "x"}},
		{"pairings.answer", map[string]any{"user": "bob", "pairing": "x", "approve": true}},
		{"challenges.end", map[string]string{"challenge": "x"}},
	}
	before := g.eventTypes(t)
	for name, header := range map[string][]string{
		"the auditor token":                {"Authorization", "Bearer " + g.main.AuditorToken()},
		"the administrator's weak session": {"Authorization", tokenHeader(browser)},
		"a user's session":                 {"Authorization", tokenHeader(bob)},
		"no credential":                    nil,
	} {
		for _, m := range calls {
			if res, _ := call(header, m.method, m.params); res.status != http.StatusForbidden {
				t.Errorf("%s calls %s: status %d: %s", name, m.method, res.status, res.body)
			}
		}
	}
	if _, rerr := call([]string{"Authorization", tokenHeader(browser)}, "sessions.revoke", calls[0].params); rerr == nil || rerr.Code != -32001 {
		t.Errorf("the weak session's refusal: %+v; want step-up (-32001)", rerr)
	}
	g.refusedCleanly(t, "the one-item actions refused", before)
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(bob)); res.status != http.StatusOK {
		t.Errorf("bob's session after the refused calls: status %d", res.status)
	}
	// The auditor reads the held sign-ins.
	if res, rerr := call([]string{"Authorization", "Bearer " + g.main.AuditorToken()}, "challenges.list", nil); res.status != http.StatusOK || rerr != nil {
		t.Errorf("the auditor lists held sign-ins: status %d: %s", res.status, res.body)
	}
	// After a step-up the administrator's session may.
	g.stepUp(t, browser, admin.secret)
	if res, rerr := call([]string{"Authorization", tokenHeader(browser)}, "sessions.revoke", calls[0].params); res.status != http.StatusOK || rerr != nil {
		t.Fatalf("after the step-up: status %d: %s", res.status, res.body)
	}
}
