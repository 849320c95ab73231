package domain

import (
	"fmt"

	"github.com/jfguard/jfguard/events"
)

// DecideRevokeDevice removes a paired device (or a pairing still waiting) and ends
// the session it signed in, returning that session's sealed token for the caller to
// log out at Jellyfin. The user revokes their own devices with it, an administrator
// any user's. A device the user does not have is ErrNotFound.
func DecideRevokeDevice(u *User, pairingID string) ([]events.Payload, events.Sealed, error) {
	p := u.Pairings[pairingID]
	if p == nil {
		return nil, "", fmt.Errorf("%w: no device %q", ErrNotFound, pairingID)
	}
	evs := []events.Payload{&events.DeviceRevoked{PairingID: pairingID}}
	var token events.Sealed
	if ss := u.Sessions[p.TokenHash]; p.TokenHash != "" && ss != nil {
		token = ss.Token
		evs = append(evs, &events.SessionRevoked{TokenHash: p.TokenHash, Reason: "device_revoked"})
	}
	return evs, token, nil
}
