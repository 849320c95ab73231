package jellyfin

import (
	"net/http"
	"slices"
	"testing"
)

func TestAuthenticateByName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	web := clientHeader("Jellyfin%20Web", "Chrome", "dev-1", "12.0.0", "")
	tests := []struct {
		name   string
		body   any
		header []string
		status int
	}{
		{"right password", map[string]string{"Username": "alice", "Pw": alicePassword}, []string{"Authorization", web}, http.StatusOK},
		{"user name ignores case, field names too", `{"username":"ALICE","pw":"` + alicePassword + `"}`, []string{"Authorization", web}, http.StatusOK},
		{"wrong password", map[string]string{"Username": "alice", "Pw": "nope"}, []string{"Authorization", web}, http.StatusUnauthorized},
		{"unknown user", map[string]string{"Username": "mallory", "Pw": "x"}, []string{"Authorization", web}, http.StatusUnauthorized},
		{"empty password first, like Roku", map[string]string{"Username": "alice", "Pw": ""}, []string{"Authorization", web}, http.StatusUnauthorized},
		{"empty user name", map[string]string{"Username": " ", "Pw": "x"}, []string{"Authorization", web}, http.StatusBadRequest},
		{"no client details, even with a wrong password", map[string]string{"Username": "alice", "Pw": "nope"}, nil, http.StatusBadRequest},
		{"no Version", map[string]string{"Username": "alice", "Pw": alicePassword}, []string{"Authorization", `MediaBrowser Client="c", Device="d", DeviceId="i"`}, http.StatusBadRequest},
		{"client details in X-Emby-Authorization are ignored in 12.0", map[string]string{"Username": "alice", "Pw": alicePassword}, []string{"X-Emby-Authorization", web}, http.StatusBadRequest},
		{"a bogus token does not matter on an anonymous endpoint", map[string]string{"Username": "alice", "Pw": alicePassword}, []string{"Authorization", clientHeader("c", "d", "i", "v", "bogus")}, http.StatusOK},
		{"not JSON", "Username=alice", []string{"Authorization", web}, http.StatusBadRequest},
		{"Username of the wrong type", `{"Username":1,"Pw":"x"}`, []string{"Authorization", web}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		res := f.call(t, http.MethodPost, "/Users/AuthenticateByName", tt.body, tt.header...)
		if res.status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, res.status, tt.status, res.body)
		}
	}

	// A non-JSON content type is refused before the body is read.
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/Users/AuthenticateByName", nil)
	req.Header.Set("Authorization", web)
	req.Header.Set("Content-Type", "text/plain")
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: status %d, want 415", res.StatusCode)
	}
}

func TestAuthenticationResultDescribesTheSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	res := f.call(t, http.MethodPost, "/Users/AuthenticateByName",
		map[string]string{"Username": "alice", "Pw": alicePassword},
		"Authorization", `MediaBrowser Client="Jellyfin%20Web", Device="Chrome", DeviceId="abc%2B1", Version="12.0.0"`)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var got authResultView
	res.json(t, &got)
	if got.ServerID != f.srv.ServerID() || got.User.ID != f.alice.ID || got.User.Name != "alice" || got.User.Policy.IsAdministrator {
		t.Errorf("result %+v", got)
	}
	s := got.SessionInfo
	if s.Client != "Jellyfin Web" || s.DeviceName != "Chrome" || s.DeviceID != "abc+1" || s.ApplicationVersion != "12.0.0" || s.UserID != f.alice.ID {
		t.Errorf("session info %+v", s)
	}
	if len(got.AccessToken) != 32 || !f.srv.TokenActive(got.AccessToken) {
		t.Errorf("token %q is not a live 32-hex token", got.AccessToken)
	}
	sessions := f.srv.Sessions()
	if len(sessions) != 1 || sessions[0].DeviceID != "abc+1" || sessions[0].Client != "Jellyfin Web" || sessions[0].UserID != f.alice.ID {
		t.Errorf("sessions %+v", sessions)
	}
}

// TestSignInAgainFromTheSameDeviceReplacesTheToken pins Jellyfin's rule that
// a new sign-in logs out the user's earlier tokens on the same DeviceId, and
// only those.
func TestSignInAgainFromTheSameDeviceReplacesTheToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	first := f.signIn(t, "alice", alicePassword, "phone")
	other := f.signIn(t, "alice", alicePassword, "tv")
	adminSame := f.signIn(t, "admin", adminPassword, "phone")
	second := f.signIn(t, "alice", alicePassword, "phone")
	if f.srv.TokenActive(first.AccessToken) {
		t.Error("the earlier token on the same device is still live")
	}
	for _, tok := range []string{other.AccessToken, adminSame.AccessToken, second.AccessToken} {
		if !f.srv.TokenActive(tok) {
			t.Errorf("token %s was logged out", tok)
		}
	}
}

func TestCurrentUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")

	res := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(alice.AccessToken))
	var me struct {
		ID   string `json:"Id"`
		Name string
	}
	res.json(t, &me)
	if res.status != http.StatusOK || me.ID != f.alice.ID || me.Name != "alice" {
		t.Errorf("with alice's token: %d %s", res.status, res.body)
	}
	if res := f.call(t, http.MethodGet, "/Users/Me?ApiKey="+alice.AccessToken, nil); res.status != http.StatusOK {
		t.Errorf("token in ApiKey: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/users/me/", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusOK {
		t.Errorf("lower-case path with trailing slash: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusBadRequest {
		t.Errorf("API key: status %d, want 400", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Users/Me", nil); res.status != http.StatusUnauthorized || len(res.body) != 0 {
		t.Errorf("no token: status %d body %q, want an empty 401", res.status, res.body)
	}
	if res := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader("ffffffffffffffffffffffffffffffff")); res.status != http.StatusUnauthorized {
		t.Errorf("unknown token: status %d", res.status)
	}
	if res := f.call(t, http.MethodPost, "/Users/Me", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", res.status)
	}
}

func TestLegacyAuthorizationSetting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	legacyForms := [][]string{
		{"X-Emby-Token", alice.AccessToken},
		{"X-MediaBrowser-Token", alice.AccessToken},
		{"X-Emby-Authorization", tokenHeader(alice.AccessToken)},
		{"Authorization", `Emby Token="` + alice.AccessToken + `"`},
	}
	check := func(want int) {
		t.Helper()
		for _, h := range legacyForms {
			if res := f.call(t, http.MethodGet, "/Users/Me", nil, h...); res.status != want {
				t.Errorf("%s: status %d, want %d", h[0], res.status, want)
			}
		}
		if res := f.call(t, http.MethodGet, "/Users/Me?api_key="+alice.AccessToken, nil); res.status != want {
			t.Errorf("api_key: status %d, want %d", res.status, want)
		}
	}
	check(http.StatusUnauthorized)
	f.srv.SetLegacyAuthorization(true)
	check(http.StatusOK)
}

func TestUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")

	res := f.call(t, http.MethodGet, "/Users", nil, "Authorization", tokenHeader(alice.AccessToken))
	var users []struct{ Name string }
	res.json(t, &users)
	names := []string{}
	for _, u := range users {
		names = append(names, u.Name)
	}
	if res.status != http.StatusOK || !slices.Equal(names, []string{"admin", "alice"}) {
		t.Errorf("GET /Users as a user: %d %v", res.status, names)
	}

	if res := f.call(t, http.MethodGet, "/Users/Public", nil); res.status != http.StatusOK {
		t.Errorf("GET /Users/Public without a token: status %d", res.status)
	}

	res = f.call(t, http.MethodGet, "/Users/"+f.admin.ID, nil, "Authorization", tokenHeader(alice.AccessToken))
	if res.status != http.StatusOK {
		t.Errorf("another user by id: status %d", res.status)
	}
	dashed := f.admin.ID[:8] + "-" + f.admin.ID[8:12] + "-" + f.admin.ID[12:16] + "-" + f.admin.ID[16:20] + "-" + f.admin.ID[20:]
	if res := f.call(t, http.MethodGet, "/Users/"+dashed, nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusOK {
		t.Errorf("dashed id: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Users/00000000000000000000000000000001", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusNotFound {
		t.Errorf("unknown id: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Users/not-a-guid", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusBadRequest {
		t.Errorf("malformed id: status %d", res.status)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	if res := f.call(t, http.MethodPost, "/Sessions/Logout", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusNoContent {
		t.Fatalf("logout: status %d", res.status)
	}
	if f.srv.TokenActive(alice.AccessToken) {
		t.Error("token still live after logout")
	}
	if res := f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusUnauthorized {
		t.Errorf("after logout: status %d", res.status)
	}
	if res := f.call(t, http.MethodPost, "/Sessions/Logout", nil); res.status != http.StatusUnauthorized {
		t.Errorf("logout without a token: status %d", res.status)
	}
	if res := f.call(t, http.MethodPost, "/Sessions/Logout", nil, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusNoContent {
		t.Errorf("logout with an API key: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusOK {
		t.Errorf("the API key stopped working after its logout: status %d", res.status)
	}
}

func TestRevokeTokenAndDeviceDetailsFollowTheClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	// Jellyfin records a new device name and version sent with a token.
	f.call(t, http.MethodGet, "/Users/Me", nil, "Authorization", clientHeader("Jellyfin Web", "Firefox", "d1", "12.0.1", alice.AccessToken))
	s := f.srv.Sessions()
	if len(s) != 1 || s[0].Device != "Firefox" || s[0].Version != "12.0.1" {
		t.Errorf("sessions %+v", s)
	}
	if !f.srv.RevokeToken(alice.AccessToken) || f.srv.TokenActive(alice.AccessToken) {
		t.Error("RevokeToken did not end the session")
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	admin := f.signIn(t, "admin", adminPassword, "d2")

	if res := f.call(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusForbidden {
		t.Errorf("non-admin: status %d, want 403", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Auth/Keys", nil); res.status != http.StatusUnauthorized {
		t.Errorf("anonymous: status %d, want 401", res.status)
	}
	if res := f.call(t, http.MethodPost, "/Auth/Keys?app=Sonarr", nil, "Authorization", tokenHeader(admin.AccessToken)); res.status != http.StatusNoContent {
		t.Fatalf("create: status %d", res.status)
	}
	res := f.call(t, http.MethodGet, "/Auth/Keys", nil, "Authorization", tokenHeader(f.apiKey))
	var keys struct {
		Items []struct {
			AccessToken string
			AppName     string
			UserID      string `json:"UserId"`
		}
		TotalRecordCount int
	}
	res.json(t, &keys)
	if keys.TotalRecordCount != 2 || keys.Items[0].AccessToken != f.apiKey || keys.Items[1].AppName != "Sonarr" || keys.Items[0].UserID != emptyGUID {
		t.Fatalf("keys %+v", keys)
	}
	sonarr := keys.Items[1].AccessToken
	if res := f.call(t, http.MethodGet, "/Users", nil, "Authorization", tokenHeader(sonarr)); res.status != http.StatusOK {
		t.Errorf("new key: status %d", res.status)
	}
	if f.srv.TokenActive(sonarr) {
		t.Error("TokenActive reports an API key as a session")
	}
	if res := f.call(t, http.MethodDelete, "/Auth/Keys/"+sonarr, nil, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusNoContent {
		t.Errorf("revoke: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Users", nil, "Authorization", tokenHeader(sonarr)); res.status != http.StatusUnauthorized {
		t.Errorf("revoked key: status %d", res.status)
	}
}

func TestUnknownPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	if res := f.call(t, http.MethodGet, "/Items", nil); res.status != http.StatusUnauthorized {
		t.Errorf("unimplemented path without a token: status %d, want 401", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Items", nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusNotFound {
		t.Errorf("unimplemented path with a token: status %d, want 404", res.status)
	}
	// Jellyfin 12.0 has no /Users/{id}/Authenticate.
	if res := f.call(t, http.MethodPost, "/Users/"+f.alice.ID+"/Authenticate?pw="+alicePassword, nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusNotFound {
		t.Errorf("/Users/{id}/Authenticate: status %d, want 404", res.status)
	}
	if res := f.call(t, http.MethodGet, "/web/missing.js", nil); res.status != http.StatusNotFound {
		t.Errorf("missing web file: status %d", res.status)
	}
}

func TestPublicSystemInfo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{ServerID: "0123456789abcdef0123456789abcdef", ServerName: "Home", Version: "12.0.1"})
	res := f.call(t, http.MethodGet, "/System/Info/Public", nil)
	var info struct {
		ID, ServerName, Version, ProductName, LocalAddress string
		StartupWizardCompleted                             bool
	}
	res.json(t, &info)
	want := "http://" + f.ts.Listener.Addr().String()
	if res.status != http.StatusOK || info.ID != "0123456789abcdef0123456789abcdef" || info.ServerName != "Home" ||
		info.Version != "12.0.1" || info.ProductName != "Jellyfin Server" || !info.StartupWizardCompleted || info.LocalAddress != want {
		t.Errorf("%d %+v", res.status, info)
	}
}
