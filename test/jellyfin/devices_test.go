package jellyfin

import (
	"net/http"
	"testing"
)

// TestDevices checks that GET /Devices lists one entry per live token, with the
// user and client it was issued to, and drops a token once it is logged out:
// jfguard adopts the sessions that exist at install from this list.
func TestDevices(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	phone := f.signIn(t, "alice", alicePassword, "phone")
	laptop := f.signIn(t, "alice", alicePassword, "laptop")
	admin := f.signIn(t, "admin", adminPassword, "desk")

	type devices struct {
		Items []struct {
			ID           string `json:"Id"`
			AccessToken  string
			LastUserID   string `json:"LastUserId"`
			LastUserName string
			AppName      string
		}
		TotalRecordCount int
	}
	list := func(auth string) (int, map[string]string) {
		t.Helper()
		res := f.call(t, http.MethodGet, "/Devices", nil, "Authorization", tokenHeader(auth))
		if res.status != http.StatusOK {
			return res.status, nil
		}
		var d devices
		res.json(t, &d)
		if d.TotalRecordCount != len(d.Items) {
			t.Errorf("TotalRecordCount %d for %d items", d.TotalRecordCount, len(d.Items))
		}
		byToken := map[string]string{}
		for _, it := range d.Items {
			if it.AppName != "Jellyfin Web" {
				t.Errorf("device %s: AppName %q", it.ID, it.AppName)
			}
			byToken[it.AccessToken] = it.ID + "/" + it.LastUserName + "/" + it.LastUserID
		}
		return res.status, byToken
	}

	status, got := list(f.apiKey)
	want := map[string]string{
		phone.AccessToken:  "phone/alice/" + f.alice.ID,
		laptop.AccessToken: "laptop/alice/" + f.alice.ID,
		admin.AccessToken:  "desk/admin/" + f.admin.ID,
	}
	if status != http.StatusOK || len(got) != len(want) {
		t.Fatalf("devices: status %d, %v", status, got)
	}
	for token, w := range want {
		if got[token] != w {
			t.Errorf("token of %s: listed as %q", w, got[token])
		}
	}
	if _, got := list(admin.AccessToken); len(got) != 3 {
		t.Errorf("an administrator sees %d devices, want 3", len(got))
	}
	if status, _ := list(phone.AccessToken); status != http.StatusForbidden {
		t.Errorf("a user lists devices: status %d, want 403", status)
	}

	f.call(t, http.MethodPost, "/Sessions/Logout", nil, "Authorization", tokenHeader(phone.AccessToken))
	if _, got := list(f.apiKey); len(got) != 2 || got[phone.AccessToken] != "" {
		t.Errorf("after logout: %v", got)
	}
	if res := f.call(t, http.MethodGet, "/Devices?userId=x", nil, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusBadRequest {
		t.Errorf("malformed userId: status %d, want 400", res.status)
	}
}
