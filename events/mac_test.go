package events_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events"
)

func testAuth(t testing.TB, id string, fill byte) *events.Authenticator {
	t.Helper()
	a, err := events.NewAuthenticator(id, map[string][]byte{id: bytes.Repeat([]byte{fill}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuthenticatorSignsAndChecks(t *testing.T) {
	t.Parallel()
	a := testAuth(t, "1", 7)
	other := testAuth(t, "1", 8)
	data := []byte(`{"id":"x"}`)
	mac := a.Sign(data)
	if again := a.Sign(data); again == mac {
		t.Error("two MACs of the same data share a nonce")
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		header string
		want   events.Auth
	}{
		{"as written", data, mac, events.AuthValid},
		{"no MAC", data, "", events.AuthMissing},
		{"data altered", []byte(`{"id":"y"}`), mac, events.AuthInvalid},
		{"another master key", data, other.Sign(data), events.AuthInvalid},
		{"unknown key id", data, "9" + mac[1:], events.AuthInvalid},
		{"not base64", data, "1:" + strings.Repeat("!", len(mac)-2), events.AuthInvalid},
		{"truncated", data, mac[:len(mac)-1], events.AuthInvalid},
		{"no key id", data, mac[2:], events.AuthInvalid},
	} {
		if got := a.Verify(tc.data, tc.header); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if _, err := events.NewAuthenticator("1", map[string][]byte{"1": make([]byte, 16)}); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	// A key kept under its old id still verifies the events written with it.
	both, err := events.NewAuthenticator("2", map[string][]byte{"1": bytes.Repeat([]byte{7}, 32), "2": bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if both.Verify(data, mac) != events.AuthValid {
		t.Error("an event under the previous key no longer verifies")
	}
}

func TestKeyedIDIsSharedByKeyHoldersOnly(t *testing.T) {
	t.Parallel()
	a, again, other := testAuth(t, "1", 7), testAuth(t, "1", 7), testAuth(t, "1", 8)
	id := a.KeyedID("forged_event_detected 42")
	if id != again.KeyedID("forged_event_detected 42") {
		t.Error("two nodes with the same key derive different ids")
	}
	if id == other.KeyedID("forged_event_detected 42") || id == a.KeyedID("forged_event_detected 43") {
		t.Error("the id does not depend on the key and the name")
	}
	if len(id) != len(events.NewID()) {
		t.Errorf("id %q is not in the form of NewID", id)
	}
	// After a rotation the id is recognised under the previous key.
	rotated, err := events.NewAuthenticator("2", map[string][]byte{"1": bytes.Repeat([]byte{7}, 32), "2": bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyedID("forged_event_detected 42") == id || !rotated.IsKeyedID("forged_event_detected 42", id) ||
		rotated.IsKeyedID("forged_event_detected 43", id) || other.IsKeyedID("forged_event_detected 42", id) {
		t.Error("IsKeyedID does not recognise exactly the ids of its keys")
	}
}
