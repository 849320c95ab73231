package domain

import (
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestDecideBan: a ban holds for the given time, a day by default, with a reason
// bans.list can show even when the administrator gave none.
func TestDecideBan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		given  []events.Payload
		d      time.Duration
		reason string
		want   events.Payload
	}{
		{"a given duration and reason", nil, time.Hour, "scanner",
			&events.IPBanned{Until: fixedNow.Add(time.Hour), Reason: "scanner"}},
		{"the defaults", nil, 0, "",
			&events.IPBanned{Until: fixedNow.Add(DefaultBanDuration), Reason: "banned by an administrator"}},
		{"a banned block is banned again with the new end",
			[]events.Payload{&events.IPBanned{Until: fixedNow.Add(time.Hour), Reason: "first"}}, 48 * time.Hour, "second",
			&events.IPBanned{Until: fixedNow.Add(48 * time.Hour), Reason: "second"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// given an address block
			a := givenAddress(t, "203.0.113.7", tc.given...)
			// when an administrator bans it
			got := DecideBan(a, tc.d, tc.reason, fixedNow)
			// then the ban is recorded
			thenEvents(t, got, tc.want)
		})
	}
}

// TestDecideUnban: only a ban in force is lifted; an expired or absent one is not
// found, and nothing is recorded.
func TestDecideUnban(t *testing.T) {
	t.Parallel()
	banned := []events.Payload{&events.IPBanned{Until: fixedNow.Add(time.Hour), Reason: "scanner"}}
	expired := []events.Payload{&events.IPBanned{Until: fixedNow.Add(-time.Minute), Reason: "scanner"}}
	for _, tc := range []struct {
		name    string
		given   []events.Payload
		want    []events.Payload
		wantErr error
	}{
		{"a banned block", banned, []events.Payload{&events.IPUnbanned{Reason: "false alarm"}}, nil},
		{"a ban that ended", expired, nil, ErrNotFound},
		{"a block never banned", nil, nil, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := givenAddress(t, "203.0.113.7", tc.given...)
			got, err := DecideUnban(a, "false alarm", fixedNow)
			if tc.wantErr != nil {
				thenErr(t, err, tc.wantErr)
				thenEvents(t, got)
				return
			}
			thenErr(t, err, nil)
			thenEvents(t, got, tc.want...)
		})
	}
}

// TestDecidePreapproveDevice: the device's pairing is requested and approved at once,
// for the pairing window, and the user's state then holds an approved pairing.
func TestDecidePreapproveDevice(t *testing.T) {
	t.Parallel()
	// given a user
	u := given(t, testUserID, discovered()...)
	pol := DefaultPolicy()
	// when an administrator approves the TV before it signs in
	got, until := DecidePreapproveDevice(pol, Preapproval{PairingID: "p1", DeviceID: tvDevice.ID, Client: tvDevice.Client, Name: tvDevice.Name}, fixedNow)
	// then a pairing is requested and approved until the window ends
	thenEvents(t, got,
		&events.PairingRequested{PairingID: "p1", DeviceID: tvDevice.ID, DeviceName: tvDevice.Name, Client: tvDevice.Client, ExpiresAt: fixedNow.Add(pol.PairingTTL)},
		&events.PairingApproved{PairingID: "p1", Until: fixedNow.Add(pol.PairingWindow)})
	if !until.Equal(fixedNow.Add(pol.PairingWindow)) {
		t.Fatalf("until = %s, want the end of the pairing window", until)
	}
	fold(t, u, got...)
	if p := u.Pairings["p1"]; p == nil || p.Status != PairingApproved || p.DeviceID != tvDevice.ID {
		t.Fatalf("pairing after the decision: %+v", p)
	}
}

// TestDecideSettingChanged: a setting is recorded with where it was set, and only
// when its value changes.
func TestDecideSettingChanged(t *testing.T) {
	t.Parallel()
	thenEvents(t, DecideSettingChanged("security.ban_threshold", "20", "5", "control_api"),
		&events.SettingsChanged{Key: "security.ban_threshold", Old: "20", New: "5", Where: "control_api"})
	thenEvents(t, DecideSettingChanged("security.ban_threshold", "20", "20", "control_api"))
}

// TestDecideFileSetting: the settings file's value of a key is recorded when the
// file changed it, against what the file said last time (or the default), and the
// old value is the one in force, an administrator's included.
func TestDecideFileSetting(t *testing.T) {
	t.Parallel()
	const key = "security.ban_threshold"
	for _, tc := range []struct {
		name              string
		value             string
		lastFile, current map[string]string
		want              []events.Payload
	}{
		{"the default, never set", "20", nil, nil, nil},
		{"a new value over the default", "5", nil, nil,
			[]events.Payload{&events.SettingsChanged{Key: key, Old: "20", New: "5", Where: "file"}}},
		{"the value the file gave last time", "5", map[string]string{key: "5"}, map[string]string{key: "7"}, nil},
		{"a value changed in the file, over an administrator's", "9", map[string]string{key: "5"}, map[string]string{key: "7"},
			[]events.Payload{&events.SettingsChanged{Key: key, Old: "7", New: "9", Where: "file"}}},
		{"back to the default after the file set it", "20", map[string]string{key: "5"}, map[string]string{key: "5"},
			[]events.Payload{&events.SettingsChanged{Key: key, Old: "5", New: "20", Where: "file"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DecideFileSetting(FileSetting{Key: key, Value: tc.value, Default: "20"}, tc.lastFile, tc.current)
			thenEvents(t, got, tc.want...)
		})
	}
}

// TestDecideRevokeDevice: a paired device goes with its session, whose token is
// handed back to be logged out; a waiting pairing goes alone; an unknown one is not
// found.
func TestDecideRevokeDevice(t *testing.T) {
	t.Parallel()
	// given a paired TV and a pairing still waiting
	u := given(t, testUserID, append(discovered(),
		&events.PairingRequested{PairingID: "tv", DeviceID: tvDevice.ID, Client: tvDevice.Client, ExpiresAt: fixedNow.Add(time.Hour)},
		&events.PairingApproved{PairingID: "tv", Until: fixedNow.Add(time.Hour)},
		&events.DevicePaired{PairingID: "tv", TokenHash: "h-tv", Token: "sealed:tv"},
		&events.SessionVerified{TokenHash: "h-tv", Reason: ReasonPairing, PairingID: "tv", Token: "sealed:tv"},
		&events.PairingRequested{PairingID: "wait", DeviceID: "other", Client: tvDevice.Client, ExpiresAt: fixedNow.Add(time.Hour)},
	)...)
	// when the TV is revoked
	got, token, err := DecideRevokeDevice(u, "tv")
	// then the device and its session end, and the token is to be logged out
	thenErr(t, err, nil)
	thenEvents(t, got, &events.DeviceRevoked{PairingID: "tv"}, &events.SessionRevoked{TokenHash: "h-tv", Reason: "device_revoked"})
	if token != "sealed:tv" {
		t.Fatalf("token = %q", token)
	}
	// when the waiting pairing is revoked, it goes alone
	got, token, err = DecideRevokeDevice(u, "wait")
	thenErr(t, err, nil)
	thenEvents(t, got, &events.DeviceRevoked{PairingID: "wait"})
	if token != "" {
		t.Fatalf("token = %q for a pairing without a session", token)
	}
	// and a device the user has not is not found
	_, _, err = DecideRevokeDevice(u, "nope")
	thenErr(t, err, ErrNotFound)
}
