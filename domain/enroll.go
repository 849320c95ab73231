package domain

import (
	"errors"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Errors of self-service decisions.
var (
	ErrNoPendingTOTP   = errors.New("no authenticator enrollment in progress")
	ErrTOTPEnrolled    = errors.New("an authenticator app is already enrolled")
	ErrNotFound        = errors.New("not found")
	ErrTooMany         = errors.New("limit reached")
	ErrPairingExpired  = errors.New("pairing request expired")
	ErrPairingResolved = errors.New("pairing request already answered")
)

// DecideBeginTOTP starts (or restarts) enrolling an authenticator app with a secret
// the caller generated and sealed.
func DecideBeginTOTP(u *User, sealedSecret events.Sealed) ([]events.Payload, error) {
	if u.TOTP != nil {
		return nil, ErrTOTPEnrolled
	}
	return []events.Payload{&events.TOTPEnrollmentStarted{Secret: sealedSecret}}, nil
}

// DecideConfirmTOTP confirms the pending secret with a code. When the user has no
// recovery codes yet, the caller's freshly generated set is stored with it.
func DecideConfirmTOTP(u *User, pol Policy, pendingSecret, code string, now time.Time, recovery []RecoveryCode) ([]events.Payload, error) {
	if u.TOTP != nil {
		return nil, ErrTOTPEnrolled
	}
	if u.PendingTOTP == "" {
		return nil, ErrNoPendingTOTP
	}
	step, err := VerifyTOTP(pendingSecret, code, now, 0)
	if err != nil {
		return []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: failureReason(err), Purpose: "enroll"}}, err
	}
	evs := []events.Payload{&events.TOTPEnrolled{Step: step}}
	if u.RecoveryLeft() == 0 && len(recovery) > 0 {
		evs = append(evs, &events.RecoveryCodesGenerated{Codes: recovery})
	}
	return evs, nil
}

// DecideRegenerateRecovery replaces the recovery codes; it needs a current factor.
func DecideRegenerateRecovery(u *User, pol Policy, proof FactorProof, recovery []RecoveryCode) ([]events.Payload, error) {
	evs, err := DecideProof(u, pol, proof, "regenerate_recovery_codes")
	if err != nil {
		return evs, err
	}
	return append(evs, &events.RecoveryCodesGenerated{Codes: recovery}), nil
}

// DecideDisable turns two-factor sign-in off; it needs a current factor. Trusted
// browsers go with it.
func DecideDisable(u *User, pol Policy, proof FactorProof) ([]events.Payload, error) {
	evs, err := DecideProof(u, pol, proof, "disable_2fa")
	if err != nil {
		return evs, err
	}
	return append(evs, &events.TwoFactorDisabled{}), nil
}

// DecideRevokeBrowser forgets a trusted browser.
func DecideRevokeBrowser(u *User, browserID string) ([]events.Payload, error) {
	if u.Browsers[browserID] == nil {
		return nil, ErrNotFound
	}
	return []events.Payload{&events.BrowserTrustRevoked{BrowserID: browserID}}, nil
}

// DecideRevokeSession stops a verified token.
func DecideRevokeSession(u *User, tokenHash, reason string) ([]events.Payload, error) {
	if u.Sessions[tokenHash] == nil {
		return nil, ErrNotFound
	}
	return []events.Payload{&events.SessionRevoked{TokenHash: tokenHash, Reason: reason}}, nil
}

// DecidePairingAnswer approves or denies a pending pairing.
func DecidePairingAnswer(u *User, pol Policy, pairingID string, approve bool, now time.Time) ([]events.Payload, error) {
	p := u.Pairings[pairingID]
	if p == nil {
		return nil, ErrNotFound
	}
	if p.Status != PairingPending {
		return nil, ErrPairingResolved
	}
	if !now.Before(p.ExpiresAt) {
		return nil, ErrPairingExpired
	}
	if !approve {
		return []events.Payload{&events.PairingDenied{PairingID: pairingID}}, nil
	}
	return []events.Payload{&events.PairingApproved{PairingID: pairingID, Until: now.Add(pol.PairingWindow)}}, nil
}

// DecideCreateAppPassword stores a new app password's hash, up to the policy's limit.
func DecideCreateAppPassword(u *User, pol Policy, id, label, hash string) ([]events.Payload, error) {
	if pol.MaxAppPasswords > 0 && len(u.AppPasswords) >= pol.MaxAppPasswords {
		return nil, ErrTooMany
	}
	return []events.Payload{&events.AppPasswordCreated{ID: id, Label: label, Hash: hash}}, nil
}

// DecideRevokeAppPassword removes an app password.
func DecideRevokeAppPassword(u *User, id string) ([]events.Payload, error) {
	if u.AppPasswords[id] == nil {
		return nil, ErrNotFound
	}
	return []events.Payload{&events.AppPasswordRevoked{ID: id}}, nil
}
