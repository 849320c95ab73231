package domain

import (
	"errors"
	"time"

	"github.com/jfguard/jfguard/events"
)

// ErrEnrollNotOffered: the challenge does not offer setting up a factor (the user has
// one, or the policy does not require one for everybody).
var ErrEnrollNotOffered = errors.New("this sign-in does not offer setting up a factor")

// enrollableChallenge returns the challenge when it may be completed by enrolling an
// authenticator app: every user must use a second factor, this one has none, and the
// challenge (proof of the password) is still open.
func (u *User) enrollableChallenge(pol Policy, id string, now time.Time) (*Challenge, error) {
	c := u.Challenges[id]
	if c == nil || c.Done || !now.Before(c.ExpiresAt) {
		return nil, ErrChallengeNotFound
	}
	if !pol.RequireAll || u.HasSecondFactor() {
		return nil, ErrEnrollNotOffered
	}
	return c, nil
}

// DecideBeginEnrollAtChallenge starts adding an authenticator app from a sign-in
// challenge, for a user who must use a second factor and has none.
func DecideBeginEnrollAtChallenge(u *User, pol Policy, challengeID string, sealedSecret events.Sealed, now time.Time) ([]events.Payload, error) {
	if _, err := u.enrollableChallenge(pol, challengeID, now); err != nil {
		return nil, err
	}
	return []events.Payload{&events.TOTPEnrollmentStarted{Secret: sealedSecret}}, nil
}

// DecideEnrollAtChallenge confirms the new authenticator with a code and completes
// the challenge with it: the same code is the second factor of this sign-in. A wrong
// code counts like any failed factor on a challenge.
func DecideEnrollAtChallenge(u *User, pol Policy, challengeID, pendingSecret, code string, now time.Time, recovery []RecoveryCode) ([]events.Payload, error) {
	c, err := u.enrollableChallenge(pol, challengeID, now)
	if err != nil {
		return nil, err
	}
	if u.Locked(now) {
		return nil, &LockedError{Until: u.LockedUntil}
	}
	if u.PendingTOTP == "" {
		return nil, ErrNoPendingTOTP
	}
	step, err := VerifyTOTP(pendingSecret, code, now, 0)
	if err != nil {
		return u.failure(pol, challengeID, MethodTOTP, err, now, "enroll_at_sign_in")
	}
	return []events.Payload{
		&events.TOTPEnrolled{Step: step},
		&events.RecoveryCodesGenerated{Codes: recovery},
		&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step, Purpose: "enroll_at_sign_in"},
		challengeSession(c, challengeID),
	}, nil
}

// challengeSession is the session a completed challenge verifies.
func challengeSession(c *Challenge, challengeID string) *events.SessionVerified {
	sv := NewSessionVerified(c.TokenHash, ReasonChallenge, c.Token)
	sv.ChallengeID = challengeID
	return sv
}
