package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/sj14/jellyfin-go/api"
)

// TestPairing: Jellyfin for Android TV cannot show a second-factor prompt. Its first
// sign-in with alice's password is refused and leaves a request that alice sees on
// her verified browser session; once she approves it (only a session that proved the
// second factor may), the television's next sign-in gets a token that keeps working
// until alice revokes the device, which logs it out at Jellyfin. A denied device stays
// refused, and the device id alone never lets anyone in.
func TestPairing(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	tv := tvApp{androidID: "5e2f9c0a71b3d846", device: "SHIELD Android TV", version: "0.18.0"}

	g.tvChallenged(t, tv)
	pending, _ := g.pairings(t, browser)
	if len(pending) != 1 {
		t.Fatalf("pending pairings %+v, want the television's", pending)
	}
	req := pending[0]
	got := req
	got.RequestedAt, got.LastUsed = time.Time{}, time.Time{}
	if want := (pairingInfo{ID: req.ID, DeviceName: tv.device, Client: androidTVClient, Version: tv.version, IP: "127.0.0.1", Status: "pending"}); got != want {
		t.Errorf("pending pairing %+v, want %+v", got, want)
	}

	// The app retries (it shows "Unable to connect to server"): still one request.
	g.tvChallenged(t, tv)
	g.tvChallenged(t, tv)
	if again, _ := g.pairings(t, browser); len(again) != 1 || again[0].ID != req.ID {
		t.Errorf("after retries, pending pairings %+v, want only %s", again, req.ID)
	}
	requested := payloads[*events.PairingRequested](t, g, "pairing_requested")
	if len(requested) != 3 {
		t.Errorf("%d pairing_requested events, want one per attempt", len(requested))
	}
	for _, p := range requested {
		if p.PairingID != req.ID || p.DeviceID != tv.deviceIDFor("alice") || p.Client != androidTVClient {
			t.Errorf("pairing_requested %+v, want pairing %s of device %s", p, req.ID, tv.deviceIDFor("alice"))
		}
	}

	// The session alice enrolled from was let in before she had a second factor, so
	// it proves nothing now.
	if res := g.answerPairing(t, f.token, req.ID, "approve"); res.status != http.StatusForbidden || res.errorCode() != "step_up_required" {
		t.Errorf("approve from a session without a second factor: status %d: %s", res.status, res.body)
	}
	if res := g.answerPairing(t, browser, req.ID, "approve"); res.status != http.StatusOK {
		t.Fatalf("approve: status %d: %s", res.status, res.body)
	}
	token := g.tvSignedIn(t, tv, "alice", alicePassword)
	g.expectEvents(t, "device_paired")
	if reasons := g.sessionReasons(t); reasons[len(reasons)-1] != "pairing" {
		t.Errorf("session reasons %v, want the last one pairing", reasons)
	}
	// The app's later requests carry a device id derived from the user id; the token
	// is what counts, also long after the approval window.
	for i := range 3 {
		if status, _ := g.tvCurrentUser(t, tv, g.alice.ID, token); status != http.StatusOK {
			t.Fatalf("request %d with the paired token: status %d", i+1, status)
		}
	}

	// A paired device's session cannot let another device in; a denied device stays
	// out and does not ask again while its request would still be open.
	other := tvApp{androidID: "0c1d2e3f40516273", device: "BRAVIA 4K", version: "0.18.0"}
	g.tvChallenged(t, other)
	pending, _ = g.pairings(t, browser)
	if len(pending) != 1 || pending[0].DeviceName != other.device {
		t.Fatalf("pending pairings %+v, want the second television's", pending)
	}
	if res := g.answerPairing(t, token, pending[0].ID, "approve"); res.status != http.StatusForbidden || res.errorCode() != "device_session" {
		t.Errorf("approve from the paired television: status %d: %s", res.status, res.body)
	}
	if res := g.answerPairing(t, browser, pending[0].ID, "deny"); res.status != http.StatusOK {
		t.Fatalf("deny: status %d: %s", res.status, res.body)
	}
	requests := len(g.eventsOf(t, "pairing_requested"))
	g.tvChallenged(t, other)
	if n := len(g.eventsOf(t, "pairing_requested")); n != requests {
		t.Errorf("the denied television asked again: %d pairing_requested events, want %d", n, requests)
	}
	if pending, _ = g.pairings(t, browser); len(pending) != 0 {
		t.Errorf("pending pairings after the denial %+v, want none", pending)
	}

	_, devices := g.pairings(t, browser)
	if len(devices) != 1 || devices[0].DeviceName != tv.device || devices[0].Client != androidTVClient ||
		devices[0].Status != "paired" || devices[0].IP != "127.0.0.1" || devices[0].LastUsed.IsZero() {
		t.Fatalf("paired devices %+v, want the television with its address and last use", devices)
	}

	// The device id is not a credential: once the approval window is over, another
	// device sending an approved device id is refused, whether the approved device
	// came (and paired) or not.
	idle := tvApp{androidID: "9f8e7d6c5b4a3921", device: "Chromecast", version: "0.18.0"}
	paired := tvApp{androidID: "1122334455667788", device: "Fire TV", version: "0.17.6"}
	for _, app := range []tvApp{idle, paired} {
		g.tvChallenged(t, app)
	}
	pending, _ = g.pairings(t, browser)
	for _, p := range pending {
		if res := g.answerPairing(t, browser, p.ID, "approve"); res.status != http.StatusOK {
			t.Fatalf("approve %s: status %d: %s", p.DeviceName, res.status, res.body)
		}
	}
	g.tvSignedIn(t, paired, "alice", alicePassword)
	g.clock.Advance(16 * time.Minute)
	for _, app := range []tvApp{idle, paired} {
		t.Run("spoofed "+app.device, func(t *testing.T) {
			spoof := app
			spoof.device = "Someone else's phone"
			if token, res := g.tvSignIn(t, spoof, "alice", alicePassword); token != "" || res.status != http.StatusUnauthorized {
				t.Errorf("a device sending the approved device id of %s: status %d, token %v", app.device, res.status, token != "")
			}
		})
	}
	if status, _ := g.tvCurrentUser(t, tv, g.alice.ID, token); status != http.StatusOK {
		t.Errorf("the paired token after the window: status %d", status)
	}

	// Revoking the device logs it out at Jellyfin and at the gate. The browser's
	// second factor is old by now: it proves it again first.
	g.stepUp(t, browser, f.secret)
	if res := g.do(t, http.MethodDelete, "/jfguard/api/me/devices/"+devices[0].ID, nil, "Authorization", tokenHeader(browser)); res.status != http.StatusOK {
		t.Fatalf("revoke the television: status %d: %s", res.status, res.body)
	}
	eventually(t, "the revoked television is logged out at Jellyfin", func() bool { return !g.jf.TokenActive(token) })
	if status, gate := g.tvCurrentUser(t, tv, g.alice.ID, token); status != http.StatusUnauthorized || !gate {
		t.Errorf("the revoked television's token: status %d, refused by the gate %v", status, gate)
	}
	if _, devices = g.pairings(t, browser); slices.ContainsFunc(devices, func(p pairingInfo) bool { return p.DeviceName == tv.device }) {
		t.Errorf("paired devices after the revocation %+v", devices)
	}
	g.expectEvents(t, "pairing_approved", "pairing_denied", "device_revoked", "session_revoked")
}

// TestPairingRequestsLimit: one user has at most ten devices waiting; an eleventh and
// twelfth are refused without a request, so a password guesser cannot flood the list.
func TestPairingRequestsLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	for i := range 12 {
		g.tvChallenged(t, tvApp{androidID: fmt.Sprintf("%016x", i+1), device: fmt.Sprintf("TV %d", i+1), version: "0.18.0"})
	}
	if pending, _ := g.pairings(t, f.token); len(pending) != 10 {
		t.Errorf("%d pending pairings, want 10", len(pending))
	}
	if n := len(g.eventsOf(t, "pairing_requested")); n != 10 {
		t.Errorf("%d pairing_requested events, want 10", n)
	}
}

// TestAdminPreapprove: an administrator approves a television for a user ahead of its
// sign-in (for a user who has no trusted browser at hand); the approval is for that
// device id and app, and the administrator can revoke the device afterwards.
func TestAdminPreapprove(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.enrollAlice(t)
	tv := tvApp{androidID: "a1b2c3d4e5f60718", device: "SHIELD Android TV", version: "0.18.0"}

	// Approved for another app, the same device id gets nothing.
	if _, e := g.rpc(t, "devices.preapprove", map[string]string{"user": "alice", "device_id": tv.deviceIDFor("alice"), "client": "Findroid"}); e != nil {
		t.Fatalf("devices.preapprove: %+v", e)
	}
	if token, res := g.tvSignIn(t, tv, "alice", alicePassword); token != "" || res.status != http.StatusUnauthorized {
		t.Fatalf("sign-in approved for another app: status %d", res.status)
	}

	raw, e := g.rpc(t, "devices.preapprove", map[string]string{"user": "alice", "device_id": tv.deviceIDFor("alice"), "client": androidTVClient, "name": "Living room"})
	if e != nil {
		t.Fatalf("devices.preapprove: %+v", e)
	}
	var approved struct {
		Pairing string `json:"pairing"`
	}
	if err := json.Unmarshal(raw, &approved); err != nil || approved.Pairing == "" {
		t.Fatalf("devices.preapprove result %s", raw)
	}
	token := g.tvSignedIn(t, tv, "alice", alicePassword)
	if status, _ := g.tvCurrentUser(t, tv, g.alice.ID, token); status != http.StatusOK {
		t.Fatalf("the pre-approved television's token: status %d", status)
	}
	if reasons := g.sessionReasons(t); reasons[len(reasons)-1] != "pairing" {
		t.Errorf("session reasons %v, want the last one pairing", reasons)
	}

	if _, e := g.rpc(t, "devices.revoke", map[string]string{"user": "alice", "pairing": approved.Pairing}); e != nil {
		t.Fatalf("devices.revoke: %+v", e)
	}
	eventually(t, "the revoked television is logged out at Jellyfin", func() bool { return !g.jf.TokenActive(token) })
	if status, gate := g.tvCurrentUser(t, tv, g.alice.ID, token); status != http.StatusUnauthorized || !gate {
		t.Errorf("the revoked television's token: status %d, refused by the gate %v", status, gate)
	}
	if _, e := g.rpc(t, "devices.revoke", map[string]string{"user": "alice", "pairing": approved.Pairing}); e == nil {
		t.Error("revoking the same device twice succeeded")
	}
}

// TestQuickConnectAuthorizer: a Quick Connect code shown on the television is
// approved from alice's phone. From a verified session that yields a working token;
// from a held token (the password was right, the second factor never came) the gate
// refuses the Authorize call itself, so Jellyfin never approves the code.
func TestQuickConnectAuthorizer(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	browser := g.browserSession(t, f)
	held := g.challenged(t, "alice-phone", "X-Jfguard-Client", "web").held
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	app := tvApp{androidID: "a1b2c3d4e5f60718", device: "SHIELD Android TV", version: "0.18.0"}
	for _, tc := range []struct {
		name, authorizer string
		// initiate is the random UUID Android TV derives a device id from for each
		// Quick Connect attempt.
		initiate string
		works    bool
	}{
		{"verified session", browser, "8d2b6f4e-0c1a-4f5e-9b7d-3a6c2e1f0d9b", true},
		{"held token", held, "1f3e5d7c-9b0a-4c2e-8d6f-5a4b3c2d1e0f", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tv := g.jellyfinClient(app.header(app.deviceIDFor(tc.initiate), ""))
			qc, _, err := tv.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
			if err != nil {
				t.Fatalf("InitiateQuickConnect: %v", err)
			}
			before := len(g.upstream.Find(http.MethodPost, "/QuickConnect/Authorize"))
			phone := g.jellyfinClient(clientHeader("alice-phone", tc.authorizer))
			ok, httpRes, err := phone.QuickConnectAPI.AuthorizeQuickConnect(ctx).Code(qc.GetCode()).Execute()
			if !tc.works {
				var apiErr *api.GenericOpenAPIError
				if !errors.As(err, &apiErr) || httpRes.StatusCode != http.StatusUnauthorized || !(reply{body: apiErr.Body()}).fromGate() {
					t.Fatalf("AuthorizeQuickConnect with a held token: %v", err)
				}
				if after := len(g.upstream.Find(http.MethodPost, "/QuickConnect/Authorize")); after != before {
					t.Error("the Authorize call with a held token reached Jellyfin")
				}
				if state, _, err := tv.QuickConnectAPI.GetQuickConnectState(ctx).Secret(qc.GetSecret()).Execute(); err != nil || state.GetAuthenticated() {
					t.Errorf("the code counts as approved (%v)", err)
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("AuthorizeQuickConnect: %v %v", ok, err)
			}
			auth, _, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
			if err != nil {
				t.Fatalf("AuthenticateWithQuickConnect: %v", err)
			}
			// A client that retries (its first answer got lost) is given the same
			// token by Jellyfin; the retry must not cost it the session.
			again, _, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
			if err != nil || again.GetAccessToken() != auth.GetAccessToken() {
				t.Errorf("AuthenticateWithQuickConnect again: %v", err)
			}
			for i := range 3 {
				if status, _ := g.tvCurrentUser(t, app, g.alice.ID, auth.GetAccessToken()); status != http.StatusOK {
					t.Fatalf("request %d with the Quick Connect token: status %d", i+1, status)
				}
			}
		})
	}
}

// TestAPIKeyUsage: a Jellyfin API key created for a service (Sonarr sends it alone in
// X-MediaBrowser-Token) reaches Jellyfin, and administrators see how often each key
// was used through the control API, without an event per request.
func TestAPIKeyUsage(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	key := g.jf.CreateAPIKey("Sonarr")
	before := len(g.eventsOf(t, "session_verified"))
	for i := range 3 {
		if res := g.do(t, http.MethodGet, "/Users", nil, "X-MediaBrowser-Token", key, probeHeader, fmt.Sprint("sonarr-", i)); res.status != http.StatusOK || !g.reachedWith(fmt.Sprint("sonarr-", i)) {
			t.Fatalf("request %d with the API key: status %d: %s", i+1, res.status, res.body)
		}
	}
	raw, e := g.rpc(t, "api_keys.usage", nil)
	if e != nil {
		t.Fatalf("api_keys.usage: %+v", e)
	}
	var usage []struct {
		Key      string `json:"key"`
		Requests int    `json:"requests"`
	}
	if err := json.Unmarshal(raw, &usage); err != nil {
		t.Fatalf("api_keys.usage result %s: %v", raw, err)
	}
	// Keys are named by the first 8 hex digits of their SHA-256, never in clear.
	sum := sha256.Sum256([]byte(key))
	id, counted := hex.EncodeToString(sum[:4]), -1
	for _, u := range usage {
		if u.Key == id {
			counted = u.Requests
		}
	}
	if counted != 3 {
		t.Errorf("api_keys.usage %s: %d requests for key %s, want 3", raw, counted, id)
	}
	if after := len(g.eventsOf(t, "session_verified")); after != before {
		t.Errorf("API key use wrote %d session_verified events", after-before)
	}
}
