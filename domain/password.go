package domain

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jfguard/jfguard/events"
)

// The password step: what jfguard decides before Jellyfin checks a password and
// after it answered.
//
// Jellyfin counts wrong passwords per account (InvalidLoginAttemptCount), never
// forgets them with time, clears the count only when the right password comes
// (not on a Quick Connect sign-in), and disables the account when the count reaches
// its LoginAttemptsBeforeLockout (UserManager.AuthenticateUser and
// IncrementInvalidLoginAttemptCount). Through a gateway that forwards every attempt,
// anyone who knows a user name could disable that user. jfguard stands in front of
// it three ways:
//
//   - per address block, at most PasswordFailuresPerIP failed sign-ins a minute
//     (CheckPasswordThrottle): guessing across many names slows down;
//   - per user, PasswordHoldAfter wrong passwords within PasswordHoldWindow hold the
//     user's password step for PasswordHoldDuration (password_step_held): jfguard
//     answers it without asking Jellyfin;
//   - per user, against Jellyfin's own count (DecidePasswordStep): with the admin
//     API key jfguard reads the count before it forwards a password and sets it back
//     to zero when one more wrong password could disable the account
//     (jellyfin_login_failures_reset); without one it forwards at most
//     JellyfinLockout-1 wrong passwords in a row, as it saw them, and then pauses the
//     user's password step until a right password is seen (never, through jfguard)
//     or an administrator releases it (password_hold_released).
//
// The per-user state is on the user aggregate: a hold protects an account, belongs
// with the account's other lockout (lockout_started) and shows on its timeline, and
// it is counted under the user's optimistic concurrency, so nodes of a cluster that
// record wrong passwords for one user at once re-decide on each other's and the count
// stays right. A name that names no Jellyfin user has no account to disable; it gets
// the per-address limit only.

// PasswordGuard is what jfguard keeps of a user's password step.
type PasswordGuard struct {
	// Failures are the wrong passwords since the last hold, oldest first (the newest
	// 64), for the hold window.
	Failures []time.Time
	// Consecutive counts the wrong passwords since the last right one, as jfguard
	// forwarded them: its view of Jellyfin's InvalidLoginAttemptCount.
	Consecutive int
	HeldUntil   time.Time
}

// evolve applies one event of the user to the guard.
func (g *PasswordGuard) evolve(now time.Time, p events.Payload) {
	switch e := p.(type) {
	case *events.PasswordRejected:
		g.Failures = append(g.Failures, now)
		if len(g.Failures) > 64 {
			g.Failures = append(g.Failures[:0], g.Failures[len(g.Failures)-64:]...)
		}
		g.Consecutive++
	case *events.PasswordAccepted, *events.JellyfinLoginFailuresReset:
		g.Consecutive = 0
	case *events.PasswordStepHeld:
		g.HeldUntil = e.Until
		g.Failures = nil
	case *events.PasswordHoldReleased, *events.UserReset:
		*g = PasswordGuard{}
	}
}

// clone returns a copy that shares nothing with g.
func (g PasswordGuard) clone() PasswordGuard {
	g.Failures = append([]time.Time(nil), g.Failures...)
	return g
}

// PasswordHeld reports whether the user's password step is held at now.
func (u *User) PasswordHeld(now time.Time) bool { return now.Before(u.Password.HeldUntil) }

// Refusals of the password step. Each is answered with 429 and names no account
// state beyond itself.
var (
	// ErrPasswordPaused: without the admin API key, jfguard forwarded as many wrong
	// passwords in a row as it may; another could disable the account at Jellyfin.
	ErrPasswordPaused = errors.New("password sign-in paused: another wrong password could lock the account at Jellyfin")
)

// ThrottledError says an address block had too many failed sign-ins; it may try
// again at Until.
type ThrottledError struct{ Until time.Time }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins from this address; try again at %s", e.Until.UTC().Format(time.RFC3339))
}

// PasswordHeldError says a user's password step is held until a time.
type PasswordHeldError struct{ Until time.Time }

func (e *PasswordHeldError) Error() string {
	return fmt.Sprintf("password step held until %s", e.Until.UTC().Format(time.RFC3339))
}

// throttleWindow is the window of PasswordFailuresPerIP.
const throttleWindow = time.Minute

// CheckPasswordThrottle decides whether a password may be tried from an address
// block that has inFlight attempts under way: the block's failed sign-ins within the
// last minute, and every attempt under way as if it will fail (so attempts sent at
// once cannot overshoot), must stay below PasswordFailuresPerIP. Successful sign-ins
// do not count, so a household behind one address never meets the limit. The error
// is a *ThrottledError with the time a try will be allowed.
func CheckPasswordThrottle(a *Address, pol Policy, inFlight int, now time.Time) error {
	limit := pol.PasswordFailuresPerIP
	if limit <= 0 {
		return nil
	}
	var recent []time.Time
	if a != nil {
		for _, t := range a.Failures {
			if now.Sub(t) < throttleWindow {
				recent = append(recent, t)
			}
		}
	}
	over := len(recent) + inFlight - limit
	if over < 0 {
		return nil
	}
	// A try is allowed once over+1 of the recent failures left the window; when the
	// attempts under way alone fill it, as soon as one of them ends.
	until := now.Add(time.Second)
	if over < len(recent) {
		sort.Slice(recent, func(i, j int) bool { return recent[i].Before(recent[j]) })
		until = recent[over].Add(throttleWindow)
	}
	return &ThrottledError{Until: until}
}

// JellyfinLockout is a user's lockout state at Jellyfin, as GET /Users/{id} shows it
// in the user's policy.
type JellyfinLockout struct {
	Failures int  // InvalidLoginAttemptCount
	Setting  int  // LoginAttemptsBeforeLockout: -1 for none
	Disabled bool // IsDisabled
}

// Limit is the count of wrong passwords at which Jellyfin disables the account, 0
// when it never does. Jellyfin stores the dashboard's 0 ("the default") as 3 and
// -1 as null, which never locks (UserManager.UpdatePolicyAsync and
// IncrementInvalidLoginAttemptCount, 10.8 to 12.0); a user created without a policy
// save has null too, which GET answers as -1.
func (l JellyfinLockout) Limit() int {
	switch {
	case l.Setting == 0:
		return 3
	case l.Setting < 0:
		return 0
	}
	return l.Setting
}

// PasswordStep is what the gateway knows before it forwards a user's password.
type PasswordStep struct {
	Now time.Time
	// Jellyfin is the user's lockout at Jellyfin, read with the admin API key just
	// now; nil when jfguard has no admin key or could not read it.
	Jellyfin *JellyfinLockout
}

// PasswordStepOutcome is the decision on forwarding a user's password.
type PasswordStepOutcome struct {
	// Reset is set when Jellyfin's count must be set back to zero before the password
	// is forwarded; the caller records it once Jellyfin did so, and forwards nothing
	// if it could not.
	Reset *events.JellyfinLoginFailuresReset
}

// DecidePasswordStep decides whether a password for the user may reach Jellyfin, so
// that no attempt through jfguard can be the one that disables the account: a held
// password step is refused (*PasswordHeldError); with Jellyfin's count at hand, one
// that one more wrong password would take to the limit is reset first; without it,
// the password step pauses once jfguard forwarded JellyfinLockout-1 wrong passwords
// in a row (ErrPasswordPaused). The caller runs one attempt per user at a time, so
// the count read is the count the attempt meets.
func DecidePasswordStep(u *User, pol Policy, in PasswordStep) (PasswordStepOutcome, error) {
	if u.PasswordHeld(in.Now) {
		return PasswordStepOutcome{}, &PasswordHeldError{Until: u.Password.HeldUntil}
	}
	if j := in.Jellyfin; j != nil {
		// A disabled account refuses every password and counts none.
		if limit := j.Limit(); !j.Disabled && limit > 0 && j.Failures+1 >= limit {
			return PasswordStepOutcome{Reset: &events.JellyfinLoginFailuresReset{Failures: j.Failures, Limit: limit}}, nil
		}
		return PasswordStepOutcome{}, nil
	}
	if pol.JellyfinLockout > 0 && u.Password.Consecutive+1 >= pol.JellyfinLockout {
		return PasswordStepOutcome{}, ErrPasswordPaused
	}
	return PasswordStepOutcome{}, nil
}

// DecidePasswordRejected records a wrong password Jellyfin refused for the user, and
// holds the user's password step when the wrong passwords within the hold window
// reach PasswordHoldAfter.
func DecidePasswordRejected(u *User, pol Policy, now time.Time) []events.Payload {
	evs := []events.Payload{&events.PasswordRejected{}}
	if pol.PasswordHoldAfter <= 0 || u.PasswordHeld(now) {
		return evs
	}
	recent := 1
	for _, t := range u.Password.Failures {
		if now.Sub(t) < pol.PasswordHoldWindow {
			recent++
		}
	}
	if recent >= pol.PasswordHoldAfter {
		evs = append(evs, &events.PasswordStepHeld{Until: now.Add(pol.PasswordHoldDuration), Failures: recent})
	}
	return evs
}

// DecidePasswordAccepted records the right password after wrong ones: Jellyfin set
// its count back to zero, and jfguard follows. After no wrong password there is
// nothing to record.
func DecidePasswordAccepted(u *User) []events.Payload {
	if u.Password.Consecutive == 0 {
		return nil
	}
	return []events.Payload{&events.PasswordAccepted{Failures: u.Password.Consecutive}}
}

// DecidePasswordHoldReleased is an administrator releasing the user's password step:
// the hold ends and the count of wrong passwords starts afresh. An administrator
// does this after checking the user at Jellyfin; jfguard cannot see Jellyfin's count
// without the admin API key.
func DecidePasswordHoldReleased(u *User, reason string, now time.Time) ([]events.Payload, error) {
	if !u.Known() {
		return nil, ErrNotFound
	}
	if !u.PasswordHeld(now) && u.Password.Consecutive == 0 && len(u.Password.Failures) == 0 {
		return nil, fmt.Errorf("%w: the password step of %s is not held and counts no wrong password", ErrNotFound, u.Name)
	}
	return []events.Payload{&events.PasswordHoldReleased{Reason: reason}}, nil
}
