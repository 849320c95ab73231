package jellyfin

import (
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type qcView struct {
	Secret, Code, DeviceName, AppName, AppVersion string
	DeviceID                                      string `json:"DeviceId"`
	Authenticated                                 bool
}

var (
	codePattern   = regexp.MustCompile(`^[1-9][0-9]{5}$`)
	secretPattern = regexp.MustCompile(`^[0-9A-F]{64}$`)
)

const tvHeader = `MediaBrowser Client="Jellyfin%20for%20Android%20TV", Device="SHIELD", DeviceId="tv-initiate", Version="0.18.0"`

func (f *fixture) initiate(t *testing.T) qcView {
	t.Helper()
	res := f.call(t, http.MethodPost, "/QuickConnect/Initiate", nil, "Authorization", tvHeader)
	if res.status != http.StatusOK {
		t.Fatalf("initiate: status %d: %s", res.status, res.body)
	}
	var q qcView
	res.json(t, &q)
	return q
}

// TestQuickConnectSessionComesFromInitiate follows a Quick Connect sign-in
// and pins the fact a gateway relies on: the token exists from Authorize on,
// and it carries the device headers sent with Initiate, whatever the final
// call sends.
func TestQuickConnectSessionComesFromInitiate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{QuickConnect: true})
	alice := f.signIn(t, "alice", alicePassword, "alice-browser")

	q := f.initiate(t)
	if !codePattern.MatchString(q.Code) || !secretPattern.MatchString(q.Secret) {
		t.Errorf("code %q secret %q", q.Code, q.Secret)
	}
	if q.DeviceID != "tv-initiate" || q.DeviceName != "SHIELD" || q.AppName != "Jellyfin for Android TV" || q.AppVersion != "0.18.0" || q.Authenticated {
		t.Errorf("initiate result %+v", q)
	}
	before := len(f.srv.Sessions())

	// Roku polls with a lower-case query name.
	var polled qcView
	f.call(t, http.MethodGet, "/QuickConnect/Connect?secret="+q.Secret, nil).json(t, &polled)
	if polled.Authenticated {
		t.Fatal("authenticated before Authorize")
	}

	res := f.call(t, http.MethodPost, "/QuickConnect/Authorize?code="+q.Code, nil, "Authorization", tokenHeader(alice.AccessToken))
	if res.status != http.StatusOK || string(res.body) != "true" {
		t.Fatalf("authorize: %d %s", res.status, res.body)
	}
	sessions := f.srv.Sessions()
	if len(sessions) != before+1 {
		t.Fatalf("Authorize made %d sessions, want 1", len(sessions)-before)
	}
	var created Session
	for _, s := range sessions {
		if s.DeviceID == "tv-initiate" {
			created = s
		}
	}
	if created.UserID != f.alice.ID || created.Client != "Jellyfin for Android TV" || created.Device != "SHIELD" || created.Version != "0.18.0" {
		t.Fatalf("session created at Authorize: %+v", created)
	}

	f.call(t, http.MethodGet, "/QuickConnect/Connect?Secret="+q.Secret, nil).json(t, &polled)
	if !polled.Authenticated {
		t.Error("not authenticated after Authorize")
	}

	// Android TV finishes with a different DeviceId; the session stays as
	// Initiate described it, and the same token comes back every time.
	final := `MediaBrowser Client="Jellyfin%20for%20Android%20TV", Device="SHIELD", DeviceId="tv-raw", Version="0.18.0"`
	var first, again authResultView
	res = f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": q.Secret}, "Authorization", final)
	if res.status != http.StatusOK {
		t.Fatalf("authenticate: %d %s", res.status, res.body)
	}
	res.json(t, &first)
	f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", `{"secret":"`+q.Secret+`"}`).json(t, &again)
	if first.AccessToken != created.Token || again.AccessToken != created.Token {
		t.Errorf("tokens %q and %q, want the one created at Authorize, %q", first.AccessToken, again.AccessToken, created.Token)
	}
	if first.SessionInfo.DeviceID != "tv-initiate" || first.User.ID != f.alice.ID {
		t.Errorf("result %+v", first)
	}
	if len(f.srv.Sessions()) != before+1 {
		t.Error("AuthenticateWithQuickConnect created a session")
	}

	res = f.call(t, http.MethodPost, "/QuickConnect/Authorize?code="+q.Code, nil, "Authorization", tokenHeader(alice.AccessToken))
	if res.status != http.StatusInternalServerError {
		t.Errorf("authorizing twice: status %d, want 500", res.status)
	}
}

func TestQuickConnectAuthorizeRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{QuickConnect: true})
	alice := f.signIn(t, "alice", alicePassword, "a")
	admin := f.signIn(t, "admin", adminPassword, "b")

	tests := []struct {
		name   string
		query  string
		token  string
		status int
		owner  string
	}{
		{"a user cannot authorize for another user", "&userId=" + f.admin.ID, alice.AccessToken, http.StatusForbidden, ""},
		{"a user may name themselves", "&userId=" + f.alice.ID, alice.AccessToken, http.StatusOK, f.alice.ID},
		{"an administrator may authorize for anyone", "&userId=" + f.alice.ID, admin.AccessToken, http.StatusOK, f.alice.ID},
		{"an API key may authorize for anyone", "&userId=" + f.alice.ID, f.apiKey, http.StatusOK, f.alice.ID},
		{"an API key without userId has no user", "", f.apiKey, http.StatusBadRequest, ""},
		{"an unknown user reads as Quick Connect being off", "&userId=00000000000000000000000000000042", f.apiKey, http.StatusUnauthorized, ""},
		{"no token", "", "", http.StatusUnauthorized, ""},
		{"malformed userId", "&userId=nope", f.apiKey, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		q := f.initiate(t)
		var headers []string
		if tt.token != "" {
			headers = []string{"Authorization", tokenHeader(tt.token)}
		}
		res := f.call(t, http.MethodPost, "/QuickConnect/Authorize?code="+q.Code+tt.query, nil, headers...)
		if res.status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, res.status, tt.status, res.body)
			continue
		}
		var got authResultView
		res = f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": q.Secret})
		if tt.owner == "" {
			if res.status != http.StatusNotFound {
				t.Errorf("%s: the secret signs in (%d)", tt.name, res.status)
			}
			continue
		}
		res.json(t, &got)
		if got.User.ID != tt.owner {
			t.Errorf("%s: signed in as %s, want %s", tt.name, got.User.ID, tt.owner)
		}
	}
	if res := f.call(t, http.MethodPost, "/QuickConnect/Authorize?code=000000", nil, "Authorization", tokenHeader(f.apiKey)); res.status != http.StatusNotFound {
		t.Errorf("unknown code: status %d, want 404", res.status)
	}
}

func TestQuickConnectDisabledAndInitiateChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	var enabled bool
	f.call(t, http.MethodGet, "/QuickConnect/Enabled", nil).json(t, &enabled)
	if enabled {
		t.Error("enabled by default")
	}
	if res := f.call(t, http.MethodPost, "/QuickConnect/Initiate", nil, "Authorization", tvHeader); res.status != http.StatusUnauthorized {
		t.Errorf("initiate while off: status %d, want 401", res.status)
	}
	// The client details are checked before the setting.
	if res := f.call(t, http.MethodPost, "/QuickConnect/Initiate", nil, "Authorization", `MediaBrowser Client="x"`); res.status != http.StatusBadRequest {
		t.Errorf("initiate without details: status %d, want 400", res.status)
	}
	f.srv.SetQuickConnect(true)
	f.call(t, http.MethodGet, "/QuickConnect/Enabled", nil).json(t, &enabled)
	if !enabled {
		t.Error("SetQuickConnect(true) did not enable it")
	}
	q := f.initiate(t)
	if res := f.call(t, http.MethodGet, "/QuickConnect/Connect?secret=unknown", nil); res.status != http.StatusNotFound {
		t.Errorf("unknown secret: status %d", res.status)
	}
	if res := f.call(t, http.MethodGet, "/QuickConnect/Connect", nil); res.status != http.StatusBadRequest {
		t.Errorf("no secret: status %d", res.status)
	}
	f.srv.SetQuickConnect(false)
	if res := f.call(t, http.MethodGet, "/QuickConnect/Connect?secret="+q.Secret, nil); res.status != http.StatusUnauthorized {
		t.Errorf("poll while off: status %d, want 401", res.status)
	}
	if res := f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": q.Secret}); res.status != http.StatusUnauthorized {
		t.Errorf("authenticate while off: status %d, want 401", res.status)
	}
	if res := f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{}); res.status != http.StatusBadRequest {
		t.Errorf("authenticate without a secret: status %d, want 400", res.status)
	}
}

func TestQuickConnectExpiry(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := newFixture(t, Options{QuickConnect: true, Now: clock.Now})
	alice := f.signIn(t, "alice", alicePassword, "a")

	stale := f.initiate(t)
	clock.Advance(10*time.Minute + time.Second)
	if res := f.call(t, http.MethodGet, "/QuickConnect/Connect?secret="+stale.Secret, nil); res.status != http.StatusNotFound {
		t.Errorf("request older than 10 minutes: status %d, want 404", res.status)
	}
	if res := f.call(t, http.MethodPost, "/QuickConnect/Authorize?code="+stale.Code, nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusNotFound {
		t.Errorf("authorizing an expired code: status %d, want 404", res.status)
	}

	fresh := f.initiate(t)
	if res := f.call(t, http.MethodPost, "/QuickConnect/Authorize?code="+fresh.Code, nil, "Authorization", tokenHeader(alice.AccessToken)); res.status != http.StatusOK {
		t.Fatalf("authorize: status %d", res.status)
	}
	clock.Advance(9 * time.Minute)
	if res := f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": fresh.Secret}); res.status != http.StatusOK {
		t.Errorf("9 minutes after Authorize: status %d", res.status)
	}
	clock.Advance(90 * time.Second)
	if res := f.call(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": fresh.Secret}); res.status != http.StatusNotFound {
		t.Errorf("10.5 minutes after Authorize: status %d, want 404", res.status)
	}
}
