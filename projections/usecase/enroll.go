package usecase

import (
	"context"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// Enrolling at a challenge: when every user must use a second factor
// (security.require_all) and one has none, their held sign-in (which proves the
// password) is where they add an authenticator app, and the first code they type
// both confirms the app and completes the sign-in.

// defaultTOTPIssuer labels authenticator-app secrets when Deps.TOTPIssuer is empty.
const defaultTOTPIssuer = "Jellyfin"

// EnrolledAtChallenge is a completed enrolment: the held AuthenticationResult the
// sign-in unlocks and the new recovery codes in clear, shown once.
type EnrolledAtChallenge struct {
	AuthResult    []byte
	RecoveryCodes []string
}

// BeginEnrollAtChallenge starts adding an authenticator app from a held sign-in and
// returns the new secret and its otpauth URI, for the person to scan. The secret is
// recorded sealed for the user.
func (s *Service) BeginEnrollAtChallenge(ctx context.Context, caller Caller, challengeID string) (domain.TOTPKey, error) {
	uid, ok := s.ChallengeUser(challengeID)
	if !ok {
		return domain.TOTPKey{}, domain.ErrChallengeNotFound
	}
	key, sealed, err := s.sealedTOTPKey(ctx, uid)
	if err != nil {
		return domain.TOTPKey{}, err
	}
	pol := s.Policy()
	_, err = s.execUser(ctx, uid, enrollContext(caller, uid), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideBeginEnrollAtChallenge(u, pol, challengeID, sealed, now)
	})
	if err != nil {
		return domain.TOTPKey{}, err
	}
	return key, nil
}

// ConfirmEnrollAtChallenge confirms the authenticator app begun at a held sign-in
// with a code, which also completes the sign-in: it returns the held
// AuthenticationResult and the user's first recovery codes. A wrong code counts
// against the challenge like any failed factor.
func (s *Service) ConfirmEnrollAtChallenge(ctx context.Context, caller Caller, challengeID, code string) (EnrolledAtChallenge, error) {
	uid, ok := s.ChallengeUser(challengeID)
	if !ok {
		return EnrolledAtChallenge{}, domain.ErrChallengeNotFound
	}
	secret, err := s.openPendingTOTP(ctx, uid)
	if err != nil {
		return EnrolledAtChallenge{}, err
	}
	plain, stored, err := domain.NewRecoveryCodes(s.d.Rand, s.d.HashParams)
	if err != nil {
		return EnrolledAtChallenge{}, err
	}
	pol := s.Policy()
	var sealedResult events.Sealed
	_, err = s.execUser(ctx, uid, enrollContext(caller, uid), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if ch := u.Challenges[challengeID]; ch != nil {
			sealedResult = ch.AuthResult
		}
		return domain.DecideEnrollAtChallenge(u, pol, challengeID, secret, code, now, stored)
	})
	if err != nil {
		return EnrolledAtChallenge{}, err
	}
	raw, err := s.d.Sealer.Open(ctx, uid, sealedResult)
	if err != nil {
		return EnrolledAtChallenge{}, err
	}
	return EnrolledAtChallenge{AuthResult: raw, RecoveryCodes: plain}, nil
}

// enrollContext is the envelope context of an enrolment at a challenge: the user
// acts from the caller's address. The person has no session yet, so no device is
// named (the challenge recorded the one that signed in).
func enrollContext(caller Caller, uid string) events.Context {
	return events.Context{Actor: uid, IP: caller.IPString()}
}

// sealedTOTPKey makes an authenticator-app secret labelled with the user's name and
// seals it for the user.
func (s *Service) sealedTOTPKey(ctx context.Context, uid string) (domain.TOTPKey, events.Sealed, error) {
	var name string
	if u := s.user(uid); u != nil {
		name = u.Name
	}
	issuer := s.d.TOTPIssuer
	if issuer == "" {
		issuer = defaultTOTPIssuer
	}
	key, err := domain.NewTOTPSecret(issuer, name, s.d.Rand)
	if err != nil {
		return key, "", err
	}
	sealed, err := s.d.Sealer.Seal(ctx, uid, []byte(key.Secret))
	return key, sealed, err
}

// openPendingTOTP unseals the secret of the user's enrolment in progress;
// domain.ErrNoPendingTOTP when there is none.
func (s *Service) openPendingTOTP(ctx context.Context, uid string) (string, error) {
	var sealed events.Sealed
	if u := s.user(uid); u != nil {
		sealed = u.PendingTOTP
	}
	if sealed == "" {
		return "", domain.ErrNoPendingTOTP
	}
	b, err := s.d.Sealer.Open(ctx, uid, sealed)
	return string(b), err
}
