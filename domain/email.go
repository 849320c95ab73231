package domain

import (
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Email code limits per user: at most EmailSendsPerUser codes in EmailUserWindow.
const (
	EmailSendsPerUser = 3
	EmailUserWindow   = 10 * time.Minute
)

// Errors of the email factor.
var (
	ErrEmailAddress = errors.New("not a usable email address")
	ErrNoEmail      = errors.New("no email address to confirm")
)

// SendLimitedError says when the next code may be sent.
type SendLimitedError struct{ Next time.Time }

func (e *SendLimitedError) Error() string {
	return "too many codes sent; the next one can be sent at " + e.Next.UTC().Format(time.RFC3339)
}

// NormalizeEmailAddress checks an address a user typed and returns its plain form
// (no display name).
func NormalizeEmailAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 254 || s == "" {
		return "", ErrEmailAddress
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || strings.ContainsAny(a.Address, " \r\n<>") || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
		return "", ErrEmailAddress
	}
	return a.Address, nil
}

// nextSend returns when another code may be sent to the user, given the sends on
// record; zero when one may be sent now.
func (u *User) nextSend(now time.Time) time.Time {
	if u.Email == nil {
		return time.Time{}
	}
	var recent []time.Time
	for _, t := range u.Email.Sends {
		if now.Sub(t) < EmailUserWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) < EmailSendsPerUser {
		return time.Time{}
	}
	return recent[len(recent)-EmailSendsPerUser].Add(EmailUserWindow)
}

// DecideAddEmail records a new (unconfirmed) address with the hash of the code sent
// to confirm it. It replaces an unconfirmed address; a confirmed one must be removed
// first (with a current factor).
func DecideAddEmail(u *User, sealedAddress events.Sealed, codeHash string, now time.Time, ttl time.Duration) ([]events.Payload, error) {
	if u.Email != nil && u.Email.Confirmed {
		return nil, ErrTOTPEnrolled
	}
	if next := u.nextSend(now); !next.IsZero() {
		return nil, &SendLimitedError{Next: next}
	}
	return []events.Payload{&events.EmailAddressAdded{Address: sealedAddress, CodeHash: codeHash, ExpiresAt: now.Add(ttl)}}, nil
}

// DecideConfirmEmail confirms the address with the emailed code. A wrong code is a
// failure of enrollment, which does not count toward the sign-in lockout.
func DecideConfirmEmail(u *User, code string, now time.Time) ([]events.Payload, error) {
	if u.Email == nil || u.Email.Confirmed || u.Email.CodeHash == "" {
		return nil, ErrNoEmail
	}
	if !now.Before(u.Email.CodeExpires) {
		return []events.Payload{&events.FactorFailed{Method: MethodEmail, Reason: "expired", Purpose: "enroll"}}, ErrCodeExpired
	}
	if err := VerifyEmailCode(u.Email.CodeHash, code); err != nil {
		return []events.Payload{&events.FactorFailed{Method: MethodEmail, Reason: failureReason(err), Purpose: "enroll"}}, err
	}
	return []events.Payload{&events.EmailAddressConfirmed{}}, nil
}

// DecideSendChallengeCode records a sign-in code emailed for a challenge, within the
// per-user send limit.
func DecideSendChallengeCode(u *User, challengeID, codeHash string, now time.Time, ttl time.Duration) ([]events.Payload, error) {
	c := u.Challenges[challengeID]
	if c == nil || c.Done || !now.Before(c.ExpiresAt) {
		return nil, ErrChallengeNotFound
	}
	if u.Email == nil || !u.Email.Confirmed {
		return nil, ErrMethodNotAvailable
	}
	if u.Locked(now) {
		return nil, &LockedError{Until: u.LockedUntil}
	}
	if next := u.nextSend(now); !next.IsZero() {
		return nil, &SendLimitedError{Next: next}
	}
	return []events.Payload{&events.EmailCodeSent{ChallengeID: challengeID, CodeHash: codeHash, ExpiresAt: now.Add(ttl)}}, nil
}

// DecideRemoveEmail removes the address; a confirmed one needs a current factor.
func DecideRemoveEmail(u *User, pol Policy, proof FactorProof) ([]events.Payload, error) {
	if u.Email == nil {
		return nil, ErrNotFound
	}
	if !u.Email.Confirmed {
		return []events.Payload{&events.EmailAddressRemoved{}}, nil
	}
	evs, err := DecideProof(u, pol, proof, "remove_email")
	if err != nil {
		return evs, err
	}
	return append(evs, &events.EmailAddressRemoved{}), nil
}

// DecideSendProofCode records a code emailed to prove the factor for a self-service
// change (outside any sign-in challenge).
func DecideSendProofCode(u *User, codeHash string, now time.Time, ttl time.Duration) ([]events.Payload, error) {
	if u.Email == nil || !u.Email.Confirmed {
		return nil, ErrMethodNotAvailable
	}
	if u.Locked(now) {
		return nil, &LockedError{Until: u.LockedUntil}
	}
	if next := u.nextSend(now); !next.IsZero() {
		return nil, &SendLimitedError{Next: next}
	}
	return []events.Payload{&events.EmailCodeSent{CodeHash: codeHash, ExpiresAt: now.Add(ttl)}}, nil
}
