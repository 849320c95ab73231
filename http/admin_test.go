package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/locale"
	"golang.org/x/text/language"
)

const testAdminToken = "admin-token-for-tests"

// newAdminServer is a page server that also accepts jfguard's admin token.
func newAdminServer(t *testing.T) *Server {
	t.Helper()
	s := newPageServer(t)
	s.opts.AdminToken = testAdminToken
	return s
}

func adminGet(t *testing.T, s *Server, path, authorization string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// callRPC calls one control API method with the admin token and returns its result
// or its error.
func callRPC(t *testing.T, s *Server, method string, params any) (json.RawMessage, *struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req := httptest.NewRequest(http.MethodPost, "/jfguard/rpc", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%s: %v: %s", method, err, rec.Body)
	}
	return resp.Result, resp.Error
}

// TestAdminPageHoldsNoData renders the admin page's shell to anyone: it carries the
// refusals and the sections, and no user, event or setting, since all of that comes
// from the control API, which checks who asks.
func TestAdminPageHoldsNoData(t *testing.T) {
	s := newPageServer(t)
	issueChallenge(t, s, strings.Repeat("5", 32), &events.TOTPEnrollmentStarted{Secret: "v1.sealed"}, &events.TOTPEnrolled{Step: 1})
	res, body := get(t, s, "/jfguard/admin")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{
		"Sign in to Jellyfin first", "Administrators only", `role="tablist"`, `id="panel-timeline"`, `id="panel-replay"`,
		`id="panel-users"`, `id="panel-devices"`, `id="panel-bans"`, `id="panel-settings"`, `id="panel-alerts"`,
		`id="panel-audit"`, `role="switch"`, `type="datetime-local"`, `<label class="label" for="filter-type">`, `src="/jfguard/assets/admin.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the admin page lacks %s", want)
		}
	}
	if strings.Contains(body, "alice") {
		t.Error("the admin page's shell names a user")
	}
}

// TestEventTypes lists the whole catalog to administrators only, each type with the
// tone of its badge and the fields the timeline must not show.
func TestEventTypes(t *testing.T) {
	s := newAdminServer(t)
	if rec := adminGet(t, s, "/jfguard/api/admin/event-types", ""); rec.Code != http.StatusForbidden {
		t.Fatalf("without a credential: status %d, want 403", rec.Code)
	}
	if rec := adminGet(t, s, "/jfguard/api/admin/event-types", "Bearer not-the-token"); rec.Code != http.StatusForbidden {
		t.Fatalf("with a wrong token: status %d, want 403", rec.Code)
	}
	rec := adminGet(t, s, "/jfguard/api/admin/event-types", "Bearer "+testAdminToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	var out struct {
		Types []eventTypeView `json:"types"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	byType := map[events.Type]eventTypeView{}
	for _, v := range out.Types {
		byType[v.Type] = v
	}
	for _, e := range events.Catalog() {
		v, ok := byType[e.Type]
		if !ok {
			t.Errorf("%s is missing", e.Type)
			continue
		}
		if v.Summary != e.Summary || v.Aggregate != e.Aggregate || v.Tone != eventTones[e.Type] {
			t.Errorf("%s: %+v", e.Type, v)
		}
	}
	if len(out.Types) != len(events.Catalog()) {
		t.Errorf("%d types, the catalog has %d", len(out.Types), len(events.Catalog()))
	}
	for typ, want := range map[events.Type][]string{
		"challenge_issued":         {"token", "token_hash", "auth_result"},
		"totp_enrollment_started":  {"secret"},
		"email_address_added":      {"address", "code_hash"},
		"recovery_codes_generated": {"codes"},
		"app_password_created":     {"hash"},
		"passkey_registered":       {"public_key", "attestation"},
		"session_verified":         {"token_hash", "token"},
		"device_paired":            {"token_hash", "token"},
	} {
		for _, f := range want {
			if !slices.Contains(byType[typ].Hidden, f) {
				t.Errorf("%s: %s is shown on the timeline (hidden: %v)", typ, f, byType[typ].Hidden)
			}
		}
	}
	for typ, shown := range map[events.Type]string{"factor_failed": "reason", "settings_changed": "key", "sign_in_failed": "username", "ip_banned": "until"} {
		if slices.Contains(byType[typ].Hidden, shown) {
			t.Errorf("%s: %s is hidden", typ, shown)
		}
	}
}

// TestEveryEventTypeHasALabel keeps the timeline's words in step with the catalog:
// a new event type needs a label (the English message js.admin.event.<type>, which
// the other languages must then translate) and a tone, and a removed one takes its
// label and tone along.
func TestEveryEventTypeHasALabel(t *testing.T) {
	const prefix = "js.admin.event."
	known := map[events.Type]bool{}
	for _, e := range events.Catalog() {
		known[e.Type] = true
		if m := locale.Default.Message(language.English, prefix+string(e.Type)); m == nil || strings.TrimSpace(m.Other) == "" {
			t.Errorf("%s has no label for the admin page's timeline (message %s%s)", e.Type, prefix, e.Type)
		}
		tone, ok := eventTones[e.Type]
		if !ok {
			t.Errorf("%s has no tone for the admin page's timeline", e.Type)
		}
		if !slices.Contains([]string{"", toneGood, toneWarn, toneBad}, tone) {
			t.Errorf("%s has the tone %q", e.Type, tone)
		}
	}
	for _, id := range locale.Default.IDs(language.English) {
		if typ, ok := strings.CutPrefix(id, prefix); ok && !known[events.Type(typ)] {
			t.Errorf("%s is a label, but %s is not in the catalog", id, typ)
		}
	}
	for typ := range eventTones {
		if !known[typ] {
			t.Errorf("%s has a tone but is not in the catalog", typ)
		}
	}
}

// TestUsersGet gives the admin page one user's devices, pairings and sessions, with
// the ids devices.revoke takes, and no sealed value.
func TestUsersGet(t *testing.T) {
	s := newAdminServer(t)
	uid := strings.Repeat("6", 32)
	_, err := s.opts.Projector.ExecUser(context.Background(), uid, events.Context{Actor: uid, IP: "192.0.2.7"}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return []events.Payload{
			&events.UserDiscovered{Name: "bob"},
			&events.EmailAddressAdded{Address: "v1.sealed-address", CodeHash: "h", ExpiresAt: now.Add(time.Minute)},
			&events.EmailAddressConfirmed{},
			&events.PairingRequested{PairingID: "tv-paired", DeviceID: "d1", DeviceName: "Living Room TV", Client: "Jellyfin for Android TV", Version: "0.19", ExpiresAt: now.Add(15 * time.Minute)},
			&events.PairingApproved{PairingID: "tv-paired", Until: now.Add(15 * time.Minute)},
			&events.DevicePaired{PairingID: "tv-paired", TokenHash: strings.Repeat("b", 64)},
			&events.SessionVerified{TokenHash: strings.Repeat("b", 64), Reason: domain.ReasonPairing, PairingID: "tv-paired"},
			&events.PairingRequested{PairingID: "tv-waiting", DeviceID: "d2", DeviceName: "Bedroom TV", Client: "Jellyfin for Roku", ExpiresAt: now.Add(15 * time.Minute)},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	raw, rerr := callRPC(t, s, "users.get", map[string]string{"user": "bob"})
	if rerr != nil {
		t.Fatalf("users.get: %+v", rerr)
	}
	if bytes.Contains(raw, []byte("sealed-address")) || bytes.Contains(raw, []byte(`"address"`)) {
		t.Errorf("users.get shows the email address: %s", raw)
	}
	var v meView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.User.ID != uid || v.User.Name != "bob" || !slices.Contains(v.Methods, "email") || v.Email == nil || !v.Email.Confirmed {
		t.Errorf("users.get: %s", raw)
	}
	if len(v.Devices) != 1 || v.Devices[0].ID != "tv-paired" || v.Devices[0].DeviceName != "Living Room TV" {
		t.Errorf("devices = %+v", v.Devices)
	}
	if len(v.Pairings) != 1 || v.Pairings[0].ID != "tv-waiting" || v.Pairings[0].Status != domain.PairingPending {
		t.Errorf("pairings = %+v", v.Pairings)
	}
	if len(v.Sessions) != 1 || v.Sessions[0].Reason != domain.ReasonPairing || v.Sessions[0].Current {
		t.Errorf("sessions = %+v", v.Sessions)
	}

	// The id it gives is the one devices.revoke takes; the device and its session go.
	if _, rerr := callRPC(t, s, "devices.revoke", map[string]string{"user": uid, "pairing": v.Devices[0].ID}); rerr != nil {
		t.Fatalf("devices.revoke: %+v", rerr)
	}
	raw, _ = callRPC(t, s, "users.get", map[string]string{"user": uid})
	v = meView{}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Devices) != 0 || len(v.Sessions) != 0 || len(v.Pairings) != 1 {
		t.Errorf("after the revoke: devices %+v, sessions %+v, pairings %+v", v.Devices, v.Sessions, v.Pairings)
	}

	for _, tc := range []struct {
		params any
		code   int
	}{
		{map[string]string{"user": "nobody"}, rpcNotFound},
		{map[string]string{}, rpcInvalidParams},
		{map[string]string{"name": "bob"}, rpcInvalidParams},
	} {
		if _, rerr := callRPC(t, s, "users.get", tc.params); rerr == nil || rerr.Code != tc.code {
			t.Errorf("users.get %v: error %+v, want code %d", tc.params, rerr, tc.code)
		}
	}
}
