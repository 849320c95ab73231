package domain

import "github.com/jfguard/jfguard/events"

// DecideProfile records what Jellyfin said about a user when it let them in (a
// password sign-in, a session minted for a passkey): the user is discovered the
// first time, and their profile changed when the name or the administrator flag is
// not what jfguard knew. Every path that learns a user's profile from Jellyfin keeps
// jfguard's copy current by this one rule, so the audit and the admin pages show
// the user as Jellyfin does.
func DecideProfile(u *User, name string, admin bool) []events.Payload {
	if !u.Known() {
		return DecideDiscovered(u, name, admin)
	}
	if u.Name != name || u.Admin != admin {
		return []events.Payload{&events.UserProfileChanged{Name: name, Admin: admin}}
	}
	return nil
}
