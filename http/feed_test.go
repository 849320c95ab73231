package gateway

import (
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

func TestEventViewNamesTheAddressOfAnAddressBlock(t *testing.T) {
	cases := map[string]string{
		"192_0_2_7":         "192.0.2.7",
		"192_0_2_0_24":      "192.0.2.0/24",
		"2001:db8:1:2::_64": "2001:db8:1:2::/64",
		"2001:db8::1":       "2001:db8::1",
	}
	for id, want := range cases {
		// given an event of an address block
		ev := events.Must(id, time.Now(), events.Context{}, &events.IPBanned{Reason: "test"})
		// when readers see it
		v := eventView(ev)
		// then it names the address or prefix as written, not the subject-safe id
		if v["address"] != want {
			t.Errorf("address of %s = %v, want %s", id, v["address"], want)
		}
	}
	// and a user's event names none
	ev := events.Must("u1", time.Now(), events.Context{}, &events.UserDiscovered{Name: "alice"})
	if _, ok := eventView(ev)["address"]; ok {
		t.Error("a user's event has an address")
	}
}

func TestEventViewMarksWhatTheFoldRefused(t *testing.T) {
	cases := []struct {
		auth      events.Auth
		authentic bool
		refused   string
	}{
		{events.AuthValid, true, ""},
		{events.AuthMissing, false, "missing"},
		{events.AuthInvalid, false, "invalid"},
		{events.AuthReplayed, false, "replayed"},
		{events.AuthUnchecked, false, ""},
	}
	for _, tc := range cases {
		// given an event as the store found it
		ev := events.Must("settings", time.Now(), events.Context{Actor: "admin"},
			&events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
		ev.Auth = tc.auth
		// when readers see it
		v := eventView(ev)
		// then it says whether jfguard wrote it, and why the fold refused it if it did
		refused, _ := v["refused"].(string)
		if v["authentic"] != tc.authentic || refused != tc.refused {
			t.Errorf("%s: authentic %v refused %q, want %v %q", tc.auth, v["authentic"], refused, tc.authentic, tc.refused)
		}
	}
}
