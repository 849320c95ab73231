package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Assurance is how strongly the holder of a session proved who they are, modelled on
// the authenticator assurance levels of NIST SP 800-63B and the session rules of
// OWASP ASVS V2/V3. A session records the level it was created at; the level it has
// now also depends on how long ago it last proved a second factor.
type Assurance string

// Assurance levels, weakest first.
const (
	// AssuranceDevice: a credential of a device, not of a person at this moment: an
	// app password, a paired TV, a Quick Connect code. Such a session may watch, never
	// change the account.
	AssuranceDevice Assurance = "device"
	// AssuranceAAL1: the password alone (no second factor needed, the LAN bypass, a
	// session adopted at install or signed in before the user enrolled a factor).
	AssuranceAAL1 Assurance = "aal1"
	// AssuranceAAL2: a second factor was proven at sign-in (TOTP, passkey, recovery
	// code, email code) or a trusted browser that earned its trust with one.
	AssuranceAAL2 Assurance = "aal2"
	// AssuranceAAL2Recent is AAL2 whose last factor is younger than the step-up
	// window. It is never recorded: it is what a session is for a few minutes after
	// a challenge or a step-up.
	AssuranceAAL2Recent Assurance = "aal2-recent"
)

// DefaultStepUpWindow is how long a proven factor counts as recent.
const DefaultStepUpWindow = 5 * time.Minute

// AssuranceOf is the level a session verified for reason starts at. Events written
// before sessions carried a level are read with it, and new decisions use it unless
// they know better (a Quick Connect session is a device whatever let it in).
func AssuranceOf(reason string) Assurance {
	switch reason {
	case ReasonChallenge, ReasonPasskey, ReasonTrustedBrowser:
		return AssuranceAAL2
	case ReasonAppPassword, ReasonPairing, ReasonQuickConnect:
		return AssuranceDevice
	}
	return AssuranceAAL1
}

// startsRecent reports whether a session verified for reason proved a factor at that
// moment: a completed challenge or a passkey sign-in did; a trusted browser skipped it.
func startsRecent(reason string) bool {
	return reason == ReasonChallenge || reason == ReasonPasskey
}

// Level is the session's assurance at now: its recorded level, raised to
// AAL2Recent while its last factor is younger than window. A step-up lifts any
// session that is not a device's, even one from before the user enrolled, for the
// window only: afterwards it is what it was.
func (s *Session) Level(now time.Time, window time.Duration) Assurance {
	if s.Assurance == AssuranceDevice {
		return AssuranceDevice
	}
	if !s.FactorAt.IsZero() && !now.Before(s.FactorAt) && now.Sub(s.FactorAt) < window {
		return AssuranceAAL2Recent
	}
	return s.Assurance
}

// Action is an account-changing action. Each needs a session that proved a second
// factor recently (step-up, "sudo mode"), except Jellyfin's own routes, which need
// a session that proved one at all (see Authorize); the names are what
// step_up_required records and what the pages show.
type Action string

// Account-changing actions.
const (
	ActionFactors           Action = "factors"             // add, rename or remove TOTP, passkeys, email; new recovery codes
	ActionDisable2FA        Action = "disable_two_factor"  // turn two-factor sign-in off
	ActionAppPasswords      Action = "app_passwords"       // create or revoke app passwords
	ActionTrustedBrowsers   Action = "trusted_browsers"    // revoke trusted browsers
	ActionDevices           Action = "devices"             // approve or deny pairings, revoke paired devices
	ActionQuickConnect      Action = "quick_connect"       // authorize a Quick Connect code
	ActionSessions          Action = "sessions"            // sign another session out
	ActionSignOutEverywhere Action = "sign_out_everywhere" // revoke every session and device credential
	ActionAdmin             Action = "admin"               // a control API method that changes state

	// ActionJellyfinAccount is a Jellyfin route that changes a user's credentials or
	// profile (a new password, an updated user). Jellyfin's web app asks for no
	// factor before it, so a session that proved one at sign-in (aal2) may: asking
	// for a recent one would leave no way to make the change from Jellyfin's pages.
	ActionJellyfinAccount Action = "jellyfin_account"
	// ActionJellyfinAdmin is a Jellyfin route for administrators (RequiresElevation
	// in Jellyfin's OpenAPI, and API keys any method): as ActionJellyfinAccount, and
	// the account must have a second factor.
	ActionJellyfinAdmin Action = "jellyfin_admin"

	// ActionStepUp is asking to prove a factor (an emailed code, a passkey
	// ceremony): any session may, except a device's, since proving is how a
	// session becomes recent.
	ActionStepUp Action = "step_up"
	// ActionSignOut is a session ending itself: always allowed.
	ActionSignOut Action = "sign_out"
)

// Errors of the step-up decision.
var (
	// ErrDeviceSession: the session is a device's (app password, paired device,
	// Quick Connect); it can never change the account, whatever it proves.
	ErrDeviceSession = errors.New("a device's session cannot change the account")
	// ErrNoSession: the token is not a verified session of this user.
	ErrNoSession = errors.New("not a verified session of this user")
	// ErrSecondFactorRequired: an administrator's change from an account without a
	// second factor. A password alone must not run the server: the administrator
	// enrols a factor first.
	ErrSecondFactorRequired = errors.New("an administrator's change needs a second factor on the account: set one up first")
)

// StepUpError says an action needs a second factor proven within the window; the
// caller asks for one of Methods and tries again.
type StepUpError struct {
	Action  Action
	Level   Assurance
	Methods []string
}

func (e *StepUpError) Error() string {
	return fmt.Sprintf("%s needs a second factor proven in the last few minutes (session is %s)", e.Action, e.Level)
}

// Caller is who asks for an account-changing action on a user: a session of that
// user, named by its token hash. Proof says the request itself carries a factor for
// the decision to check (the forms that ask for a code with the change): it counts
// as recent, and a wrong one fails the decision.
type Caller struct {
	TokenHash string
	Proof     bool
}

// Authorize decides whether caller may take action on u at now. The rule, in one
// place for every action:
//   - a device's session never may;
//   - an administrator's action (the control API, Jellyfin's routes for
//     administrators) needs an account with a second factor: without one it is
//     refused (ErrSecondFactorRequired), since there is nothing to step up with;
//   - an account with a second factor needs that factor proven within the window
//     (at sign-in, by a step-up, or in the request itself), except for Jellyfin's
//     routes, which take a session that proved it at sign-in (aal2) at any age:
//     Jellyfin's pages cannot ask for it again, and a recent factor there would be a
//     dead end;
//   - an account without one has nothing stronger to ask for: its password-level
//     sessions may (this is how the first factor gets added).
//
// A refusal comes with the step_up_required event to record.
func (u *User) Authorize(c Caller, action Action, pol Policy, now time.Time) ([]events.Payload, error) {
	s := u.Sessions[c.TokenHash]
	if s == nil || c.TokenHash == "" {
		return nil, ErrNoSession
	}
	level := s.Level(now, pol.StepUpDuration())
	refused := &events.StepUpRequired{TokenHash: c.TokenHash, Action: string(action), Level: string(level)}
	switch {
	case action == ActionSignOut:
		return nil, nil
	case level == AssuranceDevice:
		refused.Device = true
		return []events.Payload{refused}, ErrDeviceSession
	case action.forAdministrators() && !u.HasSecondFactor():
		return []events.Payload{refused}, ErrSecondFactorRequired
	case level == AssuranceAAL2Recent, c.Proof, !u.HasSecondFactor(), action == ActionStepUp:
		return nil, nil
	case level == AssuranceAAL2 && action.atSignInLevel():
		return nil, nil
	}
	return []events.Payload{refused}, &StepUpError{Action: action, Level: level, Methods: u.Methods()}
}

// forAdministrators reports whether an action runs the server rather than the
// caller's own account: it needs an account with a second factor.
func (a Action) forAdministrators() bool { return a == ActionAdmin || a == ActionJellyfinAdmin }

// atSignInLevel reports whether an action takes a factor proven at sign-in however
// old: Jellyfin's routes, whose pages cannot ask for a step-up.
func (a Action) atSignInLevel() bool { return a == ActionJellyfinAccount || a == ActionJellyfinAdmin }

// Guard wraps a decision so it runs only when the caller may take the action, on
// the same state the decision sees (no gap between the check and the change).
func Guard(c Caller, action Action, pol Policy, decide func(u *User, now time.Time) ([]events.Payload, error)) func(u *User, now time.Time) ([]events.Payload, error) {
	return func(u *User, now time.Time) ([]events.Payload, error) {
		if evs, err := u.Authorize(c, action, pol, now); err != nil {
			return evs, err
		}
		return decide(u, now)
	}
}

// DecideStepUp checks a current factor presented by a session and, when it holds,
// makes the session recent: account changes are allowed for the step-up window. A
// wrong factor counts toward lockout like a failed challenge.
func DecideStepUp(u *User, pol Policy, tokenHash string, p FactorProof) ([]events.Payload, error) {
	if evs, err := u.Authorize(Caller{TokenHash: tokenHash}, ActionStepUp, pol, p.Now); err != nil {
		return evs, err
	}
	evs, err := DecideProof(u, pol, p, PurposeStepUp)
	if err != nil {
		return evs, err
	}
	return append(evs, &events.SessionSteppedUp{TokenHash: tokenHash, Method: p.Method}), nil
}

// PurposeStepUp marks the factor_verified of a step-up.
const PurposeStepUp = string(ActionStepUp)

// DecideSignOut ends the caller's own session. Ending one's own session is never
// refused, whatever the session.
func DecideSignOut(u *User, tokenHash string) ([]events.Payload, error) {
	if u.Sessions[tokenHash] == nil {
		return nil, ErrNoSession
	}
	return []events.Payload{&events.SessionRevoked{TokenHash: tokenHash, Reason: "signed_out_by_user"}}, nil
}

// StepUpDuration is the policy's step-up window, or the default when unset.
func (p Policy) StepUpDuration() time.Duration {
	if p.StepUpWindow <= 0 {
		return DefaultStepUpWindow
	}
	return p.StepUpWindow
}

// StepUpUntil is when a session's recent factor stops counting, or zero when it is
// not recent at now.
func (u *User) StepUpUntil(tokenHash string, pol Policy, now time.Time) time.Time {
	s := u.Sessions[tokenHash]
	if s == nil || s.Level(now, pol.StepUpDuration()) != AssuranceAAL2Recent {
		return time.Time{}
	}
	return s.FactorAt.Add(pol.StepUpDuration())
}

// NewSessionVerified is the session_verified of a token let through for reason,
// recorded at the level that reason gives.
func NewSessionVerified(tokenHash, reason string, token events.Sealed) *events.SessionVerified {
	return &events.SessionVerified{TokenHash: tokenHash, Reason: reason, Token: token, Assurance: string(AssuranceOf(reason))}
}
