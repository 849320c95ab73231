package jellyfin

import (
	"net/http"
	"testing"
)

// TestUpdatePassword: a user changes their own password with the current one, by
// either spelling of the route, and their other tokens end; an administrator
// changes another user's without it; nobody else may; a reset clears it.
func TestUpdatePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "pw-1")
	other := f.signIn(t, "alice", alicePassword, "pw-2")
	admin := f.signIn(t, "admin", adminPassword, "pw-admin")
	post := func(path, token string, body map[string]any) int {
		return f.call(t, http.MethodPost, path, body, "Authorization", tokenHeader(token)).status
	}
	signsIn := func(name, password string) bool {
		return f.call(t, http.MethodPost, "/Users/AuthenticateByName", map[string]string{"Username": name, "Pw": password},
			"Authorization", clientHeader("Jellyfin Web", "Chrome", "pw-check", "12.0.0", "")).status == http.StatusOK
	}

	if got := post("/Users/Password", alice.AccessToken, map[string]any{"CurrentPw": "wrong", "NewPw": "n1"}); got != http.StatusForbidden {
		t.Errorf("a wrong current password: status %d", got)
	}
	if got := post("/Users/Password?userId="+f.admin.ID, alice.AccessToken, map[string]any{"CurrentPw": adminPassword, "NewPw": "n1"}); got != http.StatusForbidden {
		t.Errorf("another user's password: status %d", got)
	}
	if got := post("/users/"+f.alice.ID+"/password", alice.AccessToken, map[string]any{"CurrentPw": alicePassword, "NewPw": "n1"}); got != http.StatusNoContent {
		t.Fatalf("her own, by the older route: status %d", got)
	}
	if !signsIn("alice", "n1") || signsIn("alice", alicePassword) {
		t.Error("the new password is not the one that signs in")
	}
	if got := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(other.AccessToken)).status; got != http.StatusUnauthorized {
		t.Errorf("her other token after the change: status %d", got)
	}
	if got := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(alice.AccessToken)).status; got != http.StatusOK {
		t.Errorf("the token that changed it: status %d", got)
	}
	if got := post("/Users/Password?userId="+f.alice.ID, admin.AccessToken, map[string]any{"NewPw": "n2"}); got != http.StatusNoContent {
		t.Fatalf("an administrator sets it: status %d", got)
	}
	if !signsIn("alice", "n2") {
		t.Error("the administrator's password does not sign in")
	}
	if got := post("/Users/Password?userId="+f.alice.ID, f.apiKey, map[string]any{"ResetPassword": true}); got != http.StatusNoContent {
		t.Fatalf("an API key resets it: status %d", got)
	}
	if !signsIn("alice", "") {
		t.Error("after a reset the empty password does not sign in")
	}
}
