package jellyfin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// userPolicyView is the part of a UserDto's policy these tests read.
type userPolicyView struct {
	Policy struct {
		IsAdministrator            bool
		IsDisabled                 bool
		InvalidLoginAttemptCount   int
		LoginAttemptsBeforeLockout int
		MaxActiveSessions          int
		EnableContentDeletion      bool
		AuthenticationProviderID   string `json:"AuthenticationProviderId"`
	}
}

// policyOf reads a user's policy with the API key, as jfguard does.
func (f *fixture) policyOf(t *testing.T, id string) (userPolicyView, json.RawMessage) {
	t.Helper()
	res := f.call(t, http.MethodGet, "/Users/"+id, nil, "Authorization", tokenHeader(f.apiKey))
	if res.status != http.StatusOK {
		t.Fatalf("GET /Users/%s: status %d: %s", id, res.status, res.body)
	}
	var v userPolicyView
	res.json(t, &v)
	var raw struct{ Policy json.RawMessage }
	res.json(t, &raw)
	return v, raw.Policy
}

// TestLockoutDisablesTheAccount: a user created without a policy save has no
// lockout (GET answers -1) however many wrong passwords come; once an administrator
// sets one, wrong passwords count up, a right one clears the count, and the count
// reaching the limit disables the account, which then refuses even the right password
// with 403 until an administrator enables it again.
func TestLockoutDisablesTheAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	web := clientHeader("Jellyfin%20Web", "Chrome", "lockout", "12.0.0", "")
	try := func(password string) int {
		return f.call(t, http.MethodPost, "/Users/AuthenticateByName", map[string]string{"Username": "alice", "Pw": password}, "Authorization", web).status
	}

	for range 5 {
		if got := try("wrong"); got != http.StatusUnauthorized {
			t.Fatalf("wrong password without a lockout: status %d", got)
		}
	}
	if l := f.srv.Lockout(f.alice.ID); l != (Lockout{Failures: 5, After: -1}) {
		t.Errorf("after five wrong passwords without a lockout: %+v", l)
	}
	if got := try(alicePassword); got != http.StatusOK {
		t.Fatalf("right password: status %d", got)
	}
	if l := f.srv.Lockout(f.alice.ID); l.Failures != 0 {
		t.Errorf("the right password left the count at %d", l.Failures)
	}

	// What the dashboard saves for "0": Jellyfin's default, stored as 3.
	f.srv.SetLoginAttemptsBeforeLockout(f.alice.ID, 0)
	try("wrong")
	try("wrong")
	if l := f.srv.Lockout(f.alice.ID); l != (Lockout{Failures: 2, After: 3}) {
		t.Errorf("two wrong passwords with a lockout of 3: %+v", l)
	}
	if got := try("wrong"); got != http.StatusUnauthorized {
		t.Errorf("the wrong password that reaches the limit: status %d", got)
	}
	if l := f.srv.Lockout(f.alice.ID); l != (Lockout{Failures: 3, After: 3, Disabled: true}) {
		t.Errorf("three wrong passwords with a lockout of 3: %+v", l)
	}
	if got := try(alicePassword); got != http.StatusForbidden {
		t.Errorf("the right password on a disabled account: status %d, want 403", got)
	}
	if l := f.srv.Lockout(f.alice.ID); l.Failures != 3 {
		t.Errorf("a disabled account counted on: %+v", l)
	}
	res := f.call(t, http.MethodGet, "/Users/Public", nil)
	if strings.Contains(string(res.body), `"alice"`) {
		t.Error("a disabled user is listed publicly")
	}

	// An administrator enables the account again and clears the count.
	_, raw := f.policyOf(t, f.alice.ID)
	var p map[string]any
	_ = json.Unmarshal(raw, &p)
	p["IsDisabled"], p["InvalidLoginAttemptCount"] = false, 0
	if res := f.call(t, http.MethodPost, "/Users/"+f.alice.ID+"/Policy", p, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusNoContent {
		t.Fatalf("enable alice: status %d: %s", res.status, res.body)
	}
	if got := try(alicePassword); got != http.StatusOK {
		t.Errorf("the right password once enabled: status %d", got)
	}
}

// TestUpdateUserPolicy: the policy a GET returns, posted back, changes nothing but
// what was edited; LoginAttemptsBeforeLockout is stored the way UpdatePolicyAsync
// stores it; the controller's guard rails and validation answer as Jellyfin does.
func TestUpdateUserPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "policy")
	post := func(id string, body any, auth string) response {
		return f.call(t, http.MethodPost, "/Users/"+id+"/Policy", body, "Authorization", auth)
	}
	edit := func(id string, change func(map[string]any)) map[string]any {
		_, raw := f.policyOf(t, id)
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		change(p)
		return p
	}

	before, raw := f.policyOf(t, f.alice.ID)
	if res := post(f.alice.ID, json.RawMessage(raw), tokenHeader(f.apiKey)); res.status != http.StatusNoContent {
		t.Fatalf("post the policy back unchanged: status %d: %s", res.status, res.body)
	}
	if after, _ := f.policyOf(t, f.alice.ID); after != before {
		t.Errorf("the round trip changed the policy: %+v, then %+v", before, after)
	}
	for _, tc := range []struct{ set, want int }{{-1, -1}, {0, 3}, {7, 7}} {
		p := edit(f.alice.ID, func(p map[string]any) { p["LoginAttemptsBeforeLockout"], p["MaxActiveSessions"] = tc.set, 2 })
		if res := post(f.alice.ID, p, tokenHeader(f.apiKey)); res.status != http.StatusNoContent {
			t.Fatalf("LoginAttemptsBeforeLockout %d: status %d: %s", tc.set, res.status, res.body)
		}
		if got, _ := f.policyOf(t, f.alice.ID); got.Policy.LoginAttemptsBeforeLockout != tc.want || got.Policy.MaxActiveSessions != 2 {
			t.Errorf("LoginAttemptsBeforeLockout %d is stored as %d (MaxActiveSessions %d)", tc.set, got.Policy.LoginAttemptsBeforeLockout, got.Policy.MaxActiveSessions)
		}
	}

	for _, tc := range []struct {
		name   string
		id     string
		body   any
		auth   string
		status int
		says   string
	}{
		{"as a user", f.alice.ID, edit(f.alice.ID, func(map[string]any) {}), tokenHeader(alice.AccessToken), http.StatusForbidden, ""},
		{"disable an administrator", f.admin.ID, edit(f.admin.ID, func(p map[string]any) { p["IsDisabled"] = true }), tokenHeader(f.apiKey), http.StatusForbidden, "Administrators cannot be disabled."},
		{"demote the last administrator", f.admin.ID, edit(f.admin.ID, func(p map[string]any) { p["IsAdministrator"] = false }), tokenHeader(f.apiKey), http.StatusForbidden, "at least one user in the system with administrative access"},
		{"no provider", f.alice.ID, edit(f.alice.ID, func(p map[string]any) { delete(p, "AuthenticationProviderId") }), tokenHeader(f.apiKey), http.StatusBadRequest, "AuthenticationProviderId"},
		{"unknown user", strings.Repeat("0", 31) + "1", edit(f.alice.ID, func(map[string]any) {}), tokenHeader(f.apiKey), http.StatusNotFound, ""},
	} {
		res := post(tc.id, tc.body, tc.auth)
		if res.status != tc.status || !strings.Contains(string(res.body), tc.says) {
			t.Errorf("%s: status %d, want %d saying %q: %s", tc.name, res.status, tc.status, tc.says, res.body)
		}
	}

	// Disabling a user ends their sessions.
	if res := post(f.alice.ID, edit(f.alice.ID, func(p map[string]any) { p["IsDisabled"] = true }), tokenHeader(f.apiKey)); res.status != http.StatusNoContent {
		t.Fatalf("disable alice: status %d: %s", res.status, res.body)
	}
	if f.srv.TokenActive(alice.AccessToken) {
		t.Error("disabling alice left her session live")
	}
}
