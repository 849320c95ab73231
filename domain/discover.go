package domain

import "github.com/jfguard/jfguard/events"

// DecideDiscovered records a Jellyfin user jfguard meets for the first time (at a
// password step, an adopted or resolved session, a Quick Connect sign-in); nothing
// for a user it knows.
func DecideDiscovered(u *User, name string, admin bool) []events.Payload {
	if u.Known() {
		return nil
	}
	return []events.Payload{&events.UserDiscovered{Name: name, Admin: admin}}
}
