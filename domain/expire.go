package domain

import "github.com/jfguard/jfguard/events"

// DecideExpireChallenge ends a held sign-in that was not completed, and returns the
// sealed token to log out at Jellyfin; nothing for a challenge that is gone or was
// completed.
func DecideExpireChallenge(u *User, id string) ([]events.Payload, events.Sealed) {
	ch := u.Challenges[id]
	if ch == nil || ch.Verified {
		return nil, ""
	}
	return []events.Payload{&events.ChallengeExpired{ChallengeID: id}}, ch.Token
}
