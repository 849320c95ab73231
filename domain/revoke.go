package domain

import (
	"sort"

	"github.com/jfguard/jfguard/events"
)

// Reasons for signing a user out everywhere.
const (
	RevokeBySelf   = "signed_out_everywhere_by_user"
	RevokeByAdmin  = "revoked_by_admin"
	RevokeOnReset  = "user_reset"
	RevokeOnForget = "user_forgotten"
)

// Revocation is the decision to sign a user out everywhere: the events to record and
// the Jellyfin tokens that end with it, which the caller logs out at Jellyfin (held
// sign-ins included: a held token is a live Jellyfin session). The caller ends every
// other Jellyfin session of the user too, but the one named by Keep.
type Revocation struct {
	Events []events.Payload
	Tokens []RevokedToken
	// Reason is why (RevokeBySelf, …); Keep is the hash of the token that stays
	// signed in, "" when none does.
	Reason, Keep string
}

// RevokedToken is one Jellyfin token a revocation ends. Sealed is empty when jfguard
// never held the token itself (a session it resolved at Jellyfin); the caller finds
// such a token by its hash among Jellyfin's devices.
type RevokedToken struct {
	Hash   string
	Sealed events.Sealed
}

// DecideSignOutEverywhere revokes every credential of the user: sessions, held
// sign-ins, app passwords, paired devices and pending pairings, trusted browsers. It
// keeps the session named by keep (the one that asked, when a user signs out
// everywhere else; empty for an administrator's action), with an administrator's
// note. It always records the fact, even when nothing was left to revoke: the user
// asked, and the audit log says so.
func DecideSignOutEverywhere(u *User, reason, note, keep string) Revocation {
	e := &events.SignedOutEverywhere{Reason: reason, Note: note, KeptTokenHash: keep, AppPasswords: len(u.AppPasswords), Browsers: len(u.Browsers)}
	out := Revocation{Reason: reason, Keep: keep}
	for h, s := range u.Sessions {
		if h == keep {
			continue
		}
		e.Sessions++
		out.Tokens = append(out.Tokens, RevokedToken{Hash: h, Sealed: s.Token})
	}
	for _, c := range u.Challenges {
		if c.Done {
			continue
		}
		e.HeldSignIns++
		out.Tokens = append(out.Tokens, RevokedToken{Hash: c.TokenHash, Sealed: c.Token})
	}
	for _, p := range u.Pairings {
		if p.Status == PairingPaired {
			e.Devices++
		}
	}
	sort.Slice(out.Tokens, func(i, j int) bool { return out.Tokens[i].Hash < out.Tokens[j].Hash })
	out.Events = []events.Payload{e}
	return out
}
