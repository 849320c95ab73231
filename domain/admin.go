package domain

import (
	"time"

	"github.com/jfguard/jfguard/events"
)

// The decisions of an administrator's commands (the control API, the settings file)
// that are more than recording a fact: defaults, what counts as a change, what can
// be undone.

// DefaultBanDuration is how long an administrator's ban holds when no duration is
// given: a day, long enough to stop a sweep, short enough that a mistyped address
// heals by itself.
const DefaultBanDuration = 24 * time.Hour

// defaultBanReason is the reason of a ban given without one, as bans.list shows it.
const defaultBanReason = "banned by an administrator"

// DecideBan bans an address block from now for d (DefaultBanDuration when zero),
// for reason (a default one when empty). A block banned already is banned again:
// the later ban's end and reason replace the earlier's, so an administrator can
// shorten or lengthen a ban by banning again.
func DecideBan(a *Address, d time.Duration, reason string, now time.Time) []events.Payload {
	if d <= 0 {
		d = DefaultBanDuration
	}
	if reason == "" {
		reason = defaultBanReason
	}
	return []events.Payload{&events.IPBanned{Until: now.Add(d), Reason: reason}}
}

// DecideUnban lifts the ban on an address block. A block that is not banned now has
// nothing to lift: ErrNotFound, and nothing is recorded.
func DecideUnban(a *Address, reason string, now time.Time) ([]events.Payload, error) {
	if !a.Banned(now) {
		return nil, ErrNotFound
	}
	return []events.Payload{&events.IPUnbanned{Reason: reason}}, nil
}

// Preapproval is a device an administrator approves for a user before it signs in,
// as the app will name itself.
type Preapproval struct {
	PairingID string
	DeviceID  string
	Client    string
	Name      string
}

// DecidePreapproveDevice approves a device for a user before it signs in: a pairing
// is requested for it and approved at once, so its next sign-in within the pairing
// window succeeds without a second factor on the device. It returns the end of
// that window.
func DecidePreapproveDevice(pol Policy, d Preapproval, now time.Time) ([]events.Payload, time.Time) {
	until := now.Add(pol.PairingWindow)
	return []events.Payload{
		&events.PairingRequested{PairingID: d.PairingID, DeviceID: d.DeviceID, DeviceName: d.Name, Client: d.Client, ExpiresAt: now.Add(pol.PairingTTL)},
		&events.PairingApproved{PairingID: d.PairingID, Until: until},
	}, until
}

// DecideSettingChanged records a policy key's new value, set where (control_api,
// file); nothing when the value does not change, so the log holds changes only.
func DecideSettingChanged(key, old, value, where string) []events.Payload {
	if old == value {
		return nil
	}
	return []events.Payload{&events.SettingsChanged{Key: key, Old: old, New: value, Where: where}}
}

// FileSetting is one policy key as the settings file gives it at start-up.
type FileSetting struct {
	Key string
	// Value is the file's value; Default is the key's value in DefaultPolicy.
	Value, Default string
}

// DecideFileSetting records a key of the settings file when the file changed it:
// when its value differs from what the file said last time (lastFile, the values
// recorded from the file), or, for a key the file never set, from the default. A
// value an administrator set later (current, the recorded values) wins until the
// file changes that key again; it is the old value of the change.
func DecideFileSetting(f FileSetting, lastFile, current map[string]string) []events.Payload {
	last, recorded := lastFile[f.Key]
	if (recorded && last == f.Value) || (!recorded && f.Value == f.Default) {
		return nil
	}
	old, ok := current[f.Key]
	if !ok {
		old = f.Default
	}
	return []events.Payload{&events.SettingsChanged{Key: f.Key, Old: old, New: f.Value, Where: "file"}}
}
