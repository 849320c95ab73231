package events_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// v1SessionVerified is a session_verified exactly as jfguard wrote it before
// sessions carried an assurance level (version 1 of the type).
const v1SessionVerified = `{"id":"0h3k5x7r9t1v3x5z7b9d1f3h5k","type":"session_verified","time":"2026-10-01T12:00:00Z",` +
	`"aggregate":"user","aggregate_id":"f3b9c2a1d4e5f60718293a4b5c6d7e8f","actor":"f3b9c2a1d4e5f60718293a4b5c6d7e8f",` +
	`"ip":"203.0.113.7","data":{"token_hash":"ab12","reason":"%s","token":"sealed"},"v":1}`

// TestUpcastV1SessionVerified reads version 1 events with today's code: each gets
// the level its reason gave.
func TestUpcastV1SessionVerified(t *testing.T) {
	for reason, want := range map[string]string{
		"challenge": "aal2", "passkey_sign_in": "aal2", "trusted_browser": "aal2",
		"app_password": "device", "pairing": "device", "quick_connect": "device",
		"no_2fa": "aal1", "lan": "aal1", "jfguard_disabled": "aal1", "adopted": "aal1",
	} {
		var ev events.Event
		if err := json.Unmarshal([]byte(strings.Replace(v1SessionVerified, "%s", reason, 1)), &ev); err != nil {
			t.Fatal(err)
		}
		sv, err := events.Data[*events.SessionVerified](ev)
		if err != nil {
			t.Fatalf("%s: %v", reason, err)
		}
		if sv.Assurance != want || sv.Reason != reason || sv.TokenHash != "ab12" || sv.Token != "sealed" {
			t.Errorf("%s: upcast to %+v, want assurance %s and the rest kept", reason, sv, want)
		}
	}
}

var fixedTime = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// TestVersionsWrittenAndRefused: new events are written at the type's current
// version; a version this build does not know is refused with the fix, never
// guessed at.
func TestVersionsWrittenAndRefused(t *testing.T) {
	ev, err := events.New("u1", fixedTime, events.Context{}, &events.SessionVerified{TokenHash: "h", Reason: "challenge", Assurance: "aal2"})
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := events.Lookup("session_verified")
	if ev.V != 2 || entry.Version() != 2 {
		t.Fatalf("session_verified written at version %d (catalog %d), want 2", ev.V, entry.Version())
	}
	if other, _ := events.New("u1", fixedTime, events.Context{}, &events.TOTPRemoved{}); other.V != 1 {
		t.Errorf("totp_removed written at version %d, want 1", other.V)
	}
	ev.V = 3
	if _, err := events.Decode(ev); err == nil || !strings.Contains(err.Error(), "upgrade jfguard") {
		t.Errorf("a version 3 event: %v", err)
	}
	// An event without a version is read as version 1.
	var old events.Event
	_ = json.Unmarshal([]byte(strings.Replace(strings.Replace(v1SessionVerified, "%s", "lan", 1), `,"v":1`, "", 1)), &old)
	if sv, err := events.Data[*events.SessionVerified](old); err != nil || sv.Assurance != "aal1" {
		t.Errorf("an event without v: %+v, %v", sv, err)
	}
}
