package usecase

import (
	"context"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// totpQRSize is the side of the enrolment QR code, in pixels.
const totpQRSize = 256

// totpIssuer names the account in authenticator apps (as sealedTOTPKey does).
func (s *Service) totpIssuer() string {
	if s.d.TOTPIssuer == "" {
		return defaultTOTPIssuer
	}
	return s.d.TOTPIssuer
}

// BeginTOTP starts adding an authenticator app: a new secret, labelled with the
// user's name, is sealed and recorded as pending; the key is returned for the
// setup page to show (the secret and its otpauth URI), once.
func (s *Service) BeginTOTP(ctx context.Context, a Account) (domain.TOTPKey, error) {
	key, sealed, err := s.sealedTOTPKey(ctx, a.UserID)
	if err != nil {
		return domain.TOTPKey{}, err
	}
	if err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideBeginTOTP(u, sealed)
	}); err != nil {
		return domain.TOTPKey{}, err
	}
	return key, nil
}

// PendingTOTPQRCode is the QR code (PNG) of the enrolment in progress, for the
// authenticator app to scan.
func (s *Service) PendingTOTPQRCode(ctx context.Context, a Account) ([]byte, error) {
	secret, err := s.openPendingTOTP(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	var name string
	if u := s.user(a.UserID); u != nil {
		name = u.Name
	}
	return domain.TOTPQRCode(domain.TOTPURI(s.totpIssuer(), name, secret), totpQRSize)
}

// ConfirmTOTP confirms the authenticator app with a code from it. The first factor
// of an account comes with recovery codes, returned in clear this once; otherwise
// the list is empty.
func (s *Service) ConfirmTOTP(ctx context.Context, a Account, code string) ([]string, error) {
	secret, err := s.openPendingTOTP(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	plain, stored, err := domain.NewRecoveryCodes(s.d.Rand, s.d.HashParams)
	if err != nil {
		return nil, err
	}
	pol := s.Policy()
	gave := false
	if err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, err := domain.DecideConfirmTOTP(u, pol, secret, code, now, stored)
		gave = err == nil && len(evs) > 1
		return evs, err
	}); err != nil {
		return nil, err
	}
	if !gave {
		return []string{}, nil
	}
	return plain, nil
}

// RegenerateRecoveryCodes replaces the recovery codes, with a current factor in
// the request, and returns the new ones in clear this once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a Account, p domain.FactorProof) ([]string, error) {
	plain, stored, err := domain.NewRecoveryCodes(s.d.Rand, s.d.HashParams)
	if err != nil {
		return nil, err
	}
	if err := s.execProved(ctx, a, p, func(u *domain.User, pol domain.Policy, p domain.FactorProof) ([]events.Payload, error) {
		return domain.DecideRegenerateRecovery(u, pol, p, stored)
	}); err != nil {
		return nil, err
	}
	return plain, nil
}

// DisableTwoFactor turns two-factor sign-in off, with a current factor in the
// request; trusted browsers go with it.
func (s *Service) DisableTwoFactor(ctx context.Context, a Account, p domain.FactorProof) error {
	return s.execProved(ctx, a, p, domain.DecideDisable)
}
