package domain

import (
	"time"

	"github.com/jfguard/jfguard/events"
)

// Address is the state of one IP aggregate: recent failed sign-ins and any ban.
type Address struct {
	ID          string
	Version     uint64
	Failures    []time.Time
	BannedUntil time.Time
	BanReason   string
}

// Banned reports whether the address is banned at now.
func (a *Address) Banned(now time.Time) bool { return a != nil && now.Before(a.BannedUntil) }

// Evolve applies one event of this address.
func (a *Address) Evolve(ev events.Event, p events.Payload) {
	a.Version = ev.Seq
	switch e := p.(type) {
	case *events.SignInFailed:
		a.Failures = append(a.Failures, ev.Time)
		if len(a.Failures) > 256 {
			a.Failures = append(a.Failures[:0], a.Failures[len(a.Failures)-256:]...)
		}
	case *events.IPBanned:
		a.BannedUntil, a.BanReason = e.Until, e.Reason
		a.Failures = nil
	case *events.IPUnbanned:
		a.BannedUntil, a.BanReason = time.Time{}, ""
		a.Failures = nil
	}
}

// DecideSignInFailed records a failed sign-in from an address and bans it when the
// failures in the window reach the threshold.
func DecideSignInFailed(a *Address, pol Policy, username, reason string, now time.Time) []events.Payload {
	evs := []events.Payload{&events.SignInFailed{Username: username, Reason: reason}}
	if pol.BanThreshold <= 0 || a.Banned(now) {
		return evs
	}
	recent := 1
	for _, t := range a.Failures {
		if now.Sub(t) < pol.BanWindow {
			recent++
		}
	}
	if recent >= pol.BanThreshold {
		evs = append(evs, &events.IPBanned{Until: now.Add(pol.BanDuration), Reason: "too many failed sign-ins", Failures: recent})
	}
	return evs
}
