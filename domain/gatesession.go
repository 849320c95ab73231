package domain

import (
	"net/netip"

	"github.com/jfguard/jfguard/events"
)

// The sessions below did not come through jfguard's password step, so no challenge
// could be put in front of them: a token the gate meets that Jellyfin says is a
// user's (made before jfguard was installed, or at Jellyfin directly), the token
// Quick Connect hands a device, and the session jfguard mints for an app password.
// Each decision says whether the session may be used and what to record.

// OutsideSession is a Jellyfin session jfguard did not see begin, with the user
// Jellyfin names for it and where the request came from.
type OutsideSession struct {
	UserName  string
	Admin     bool
	TokenHash string
	// Token is the token sealed for the user, kept so signing the user out
	// everywhere can log it out at Jellyfin.
	Token events.Sealed
	IP    netip.Addr
	// BypassSafe: the client address can be trusted for the LAN bypass.
	BypassSafe bool
}

// OutsideOutcome is the decision on an outside session: it passes (and why) or is
// refused, and the events to record either way.
type OutsideOutcome struct {
	Pass   bool
	Reason string
	Events []events.Payload
}

// outsideReason is why a session no second factor was asked of may be used: jfguard
// is off, the user has no second factor to ask for (and not every user must have
// one), or the client is on the LAN and the LAN may bypass. ok is false otherwise:
// the session needed a factor jfguard did not check.
func outsideReason(u *User, pol Policy, ip netip.Addr, bypassSafe bool) (string, bool) {
	switch {
	case !pol.Enabled:
		return ReasonDisabled, true
	case !u.HasSecondFactor() && !pol.RequireAll:
		return ReasonNoSecondFactor, true
	case pol.LANBypass && bypassSafe && pol.InLAN(ip):
		return ReasonLAN, true
	}
	return "", false
}

// DecideResolvedSession decides on a token the gate met that jfguard has no record
// of, once Jellyfin named its user. It fails closed for users who need a second
// factor: jfguard cannot ask for one of a session already made, so the token is
// refused and nothing is recorded. A session that may pass is recorded verified (the
// user discovered first), unless it already is, so the gate knows it from then on.
func DecideResolvedSession(u *User, pol Policy, in OutsideSession) OutsideOutcome {
	reason, ok := outsideReason(u, pol, in.IP, in.BypassSafe)
	if !ok {
		return OutsideOutcome{}
	}
	out := OutsideOutcome{Pass: true, Reason: reason, Events: DecideDiscovered(u, in.UserName, in.Admin)}
	if u.Sessions[in.TokenHash] == nil {
		out.Events = append(out.Events, NewSessionVerified(in.TokenHash, reason, in.Token))
	}
	return out
}

// DecideQuickConnectSignIn decides on the token Quick Connect handed a device. Quick
// Connect is how a TV signs in with "enter the code on your phone", so the phone
// must already have passed the second factor: the session passes as quick_connect
// when a verified session of the same user authorized the code through jfguard
// (authorizedBy names that user, "" when no such session did), and otherwise only
// for the reasons any outside session may. It is a device's session whatever let
// it in. The user is discovered even when the token is refused; a token already
// recorded passes as it is (Jellyfin answers a client that retries with the same
// token while it keeps the request).
func DecideQuickConnectSignIn(u *User, pol Policy, in OutsideSession, authorizedBy string) OutsideOutcome {
	out := OutsideOutcome{Events: DecideDiscovered(u, in.UserName, in.Admin)}
	if s := u.Sessions[in.TokenHash]; s != nil {
		out.Pass, out.Reason = true, s.Reason
		return out
	}
	reason, ok := "", true
	switch {
	case !pol.Enabled:
		reason = ReasonDisabled
	case authorizedBy != "" && authorizedBy == u.ID:
		reason = ReasonQuickConnect
	default:
		reason, ok = outsideReason(u, pol, in.IP, in.BypassSafe)
	}
	if !ok {
		return out
	}
	sv := NewSessionVerified(in.TokenHash, reason, in.Token)
	sv.Assurance = string(AssuranceDevice)
	out.Pass, out.Reason = true, reason
	out.Events = append(out.Events, sv)
	return out
}

// DecideAppPasswordSignIn records a sign-in with app password id, whose secret was
// verified: its use, and the session Jellyfin made for it, a device's session named
// after the app password. An app password revoked since it was checked signs nothing
// in (ErrNotFound), and the caller logs the minted session out.
func DecideAppPasswordSignIn(u *User, id, tokenHash string, token events.Sealed) ([]events.Payload, error) {
	if u.AppPasswords[id] == nil {
		return nil, ErrNotFound
	}
	sv := NewSessionVerified(tokenHash, ReasonAppPassword, token)
	sv.AppPasswordID = id
	return []events.Payload{&events.AppPasswordUsed{ID: id, TokenHash: tokenHash}, sv}, nil
}
