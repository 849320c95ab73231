package usecase

import (
	"context"
	"errors"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// Passkeys: the relying party (the gateway, with go-webauthn) runs the WebAuthn
// ceremonies and checks signatures; the use cases here take what it verified (an
// assertion, a new credential) and let the domain decide on it: the counter, the
// lockout, the step-up rule, the session a passwordless sign-in gets.

// Errors of the passkey use cases.
var (
	// ErrNoPasskey: the user has no passkey to assert with.
	ErrNoPasskey = errors.New("the user has no passkey")
	// ErrUnknownUser: the signed-in user is not one jfguard knows (any more).
	ErrUnknownUser = errors.New("user not known to jfguard")
	// ErrPasskeyNotVerified: a passwordless sign-in's assertion did not verify, or
	// named no user jfguard knows. It was recorded against the address.
	ErrPasskeyNotVerified = errors.New("the passkey sign-in did not verify")
	// ErrMintUnavailable: Jellyfin cannot make sessions for jfguard (no admin key,
	// or Jellyfin refused it), so passwordless sign-in is not available.
	ErrMintUnavailable = errors.New("jellyfin cannot make sessions for jfguard")
	// ErrMintFailed: Jellyfin did not make the session; trying again may work.
	ErrMintFailed = errors.New("jellyfin did not make the session")
	// errRefusalLifted: a refusal the state showed was gone when it was recorded
	// (another request changed the user); the sign-in is not made on that answer.
	errRefusalLifted = errors.New("the user changed during a passkey sign-in")
)

// PasskeySignInRequest is a passwordless sign-in whose assertion the relying party
// checked.
type PasskeySignInRequest struct {
	// Caller's Device is the app's own device headers: the new session is the app's.
	Caller Caller
	// UserID is the user the assertion's user handle names (anyone can name one).
	UserID    string
	Assertion domain.PasskeyAssertion
}

// PasskeySignIn signs a user in with a passkey alone and returns the
// AuthenticationResult of a real Jellyfin session, minted through Quick Connect for
// the caller's device.
//
// An assertion that did not verify counts against the address, like a wrong
// password (ErrPasskeyNotVerified): it proved nothing about the user it names, and
// user ids are public, so charging the user would let a stranger lock them out. A
// refusal the state already shows (a lockout, a counter that went backwards, a
// passkey removed meanwhile) is recorded and returned before Jellyfin is asked for
// a session; a session minted for a sign-in that then loses the race to record it
// (the same assertion twice, a lockout) is logged out at once.
func (s *Service) PasskeySignIn(ctx context.Context, req PasskeySignInRequest) ([]byte, error) {
	var uid, name string
	if events.ValidAggregateID(req.UserID) {
		if u := s.user(req.UserID); u != nil {
			uid, name = u.ID, u.Name
		}
	}
	if !req.Assertion.Verified || uid == "" {
		s.log.Info("passkey sign-in did not verify", "user", name, "ip", req.Caller.IPString())
		s.RecordSignInFailed(ctx, req.Caller, name, "bad_passkey")
		return nil, ErrPasskeyNotVerified
	}
	ec := req.Caller.Context(uid)
	pol := s.Policy()
	a := req.Assertion
	decide := func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecidePasskeyAssertion(u, pol, a.CredentialID, a.SignCount, domain.PurposePasswordless, "", now)
	}
	refused := domain.ErrMethodNotAvailable
	if u := s.user(uid); u != nil {
		_, refused = decide(u, s.now())
	}
	if refused != nil {
		if _, err := s.execUser(ctx, uid, ec, decide); err != nil {
			return nil, err
		}
		return nil, errRefusalLifted
	}
	if err := s.refuseOutsideNetworks(ctx, uid, req.Caller, domain.SignInPasskey, s.knownAdmin(uid)); err != nil {
		return nil, err
	}
	body, res, err := s.mintFor(ctx, uid, req.Caller.Device, "passkey sign-in")
	if err != nil {
		return nil, err
	}
	err = s.recordMinted(ctx, uid, ec, res, func(u *domain.User, h string, sealed events.Sealed, now time.Time) ([]events.Payload, error) {
		nw := domain.NetworkAttempt{Method: domain.SignInPasskey, IP: req.Caller.IP, Admin: res.User.Policy.IsAdministrator}
		if evs, err := domain.DecideNetwork(u, pol, nw); err != nil {
			return evs, err
		}
		evs, err := decide(u, now)
		if err != nil {
			return evs, err
		}
		evs = append(evs, domain.DecideProfile(u, res.User.Name, res.User.Policy.IsAdministrator)...)
		return append(evs, domain.NewSessionVerified(h, domain.ReasonPasskey, sealed)), nil
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// PasskeyCredential is a credential the relying party verified at registration, in
// the form the event log keeps: ids and keys in base64url without padding.
type PasskeyCredential struct {
	CredentialID string
	PublicKey    string
	AAGUID       string
	SignCount    uint32
	Transports   []string
	Attestation  string
	BackupState  bool
	BackupElig   bool
	UserVerified bool
}

// PasskeyRegistered is a passkey added: the label it was recorded under and, when it
// was the user's first factor without recovery codes, the new codes in clear (shown
// once; empty otherwise).
type PasskeyRegistered struct {
	CredentialID  string
	Label         string
	RecoveryCodes []string
}

// PasskeyRegistrationUser is the user a passkey registration begins for, a copy for
// the relying party's ceremony: ErrUnknownUser when jfguard does not know them,
// domain.ErrTooMany when they have as many passkeys as they may.
func (s *Service) PasskeyRegistrationUser(uid string) (*domain.User, error) {
	u := s.user(uid)
	switch {
	case u == nil:
		return nil, ErrUnknownUser
	case len(u.Passkeys) >= domain.MaxPasskeys:
		return nil, domain.ErrTooMany
	}
	return u, nil
}

// RegisterPasskey records a passkey the relying party verified for the account's
// user, under the step-up rule of the account's action. The first factor of a user
// without recovery codes comes with a set.
func (s *Service) RegisterPasskey(ctx context.Context, a Account, cred PasskeyCredential, label string) (PasskeyRegistered, error) {
	u := s.user(a.UserID)
	if u == nil {
		return PasskeyRegistered{}, ErrUnknownUser
	}
	var plain []string
	var stored []domain.RecoveryCode
	if u.RecoveryLeft() == 0 {
		var err error
		if plain, stored, err = domain.NewRecoveryCodes(s.d.Rand, s.d.HashParams); err != nil {
			return PasskeyRegistered{}, err
		}
	}
	k := events.PasskeyRegistered{
		CredentialID: cred.CredentialID, Label: label, PublicKey: cred.PublicKey, AAGUID: cred.AAGUID,
		SignCount: cred.SignCount, Transports: cred.Transports, Attestation: cred.Attestation,
		BackupState: cred.BackupState, BackupElig: cred.BackupElig, UserVerified: cred.UserVerified,
	}
	var out PasskeyRegistered
	err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, err := domain.DecidePasskeyRegistered(u, k, stored)
		out = PasskeyRegistered{CredentialID: k.CredentialID, RecoveryCodes: []string{}}
		for _, e := range evs {
			switch e := e.(type) {
			case *events.PasskeyRegistered:
				out.Label = e.Label
			case *events.RecoveryCodesGenerated:
				out.RecoveryCodes = plain
			}
		}
		return evs, err
	})
	if err != nil {
		return PasskeyRegistered{}, err
	}
	return out, nil
}

// RenamePasskey changes the label of one of the account's passkeys.
func (s *Service) RenamePasskey(ctx context.Context, a Account, credentialID, label string) error {
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideRenamePasskey(u, credentialID, label)
	})
}

// RemovePasskey removes one of the account's passkeys with a current factor (which
// may be that passkey's own assertion).
func (s *Service) RemovePasskey(ctx context.Context, a Account, credentialID string, proof domain.FactorProof) error {
	pol := s.Policy()
	return s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		p := proof
		p.Now = now
		return domain.DecideRemovePasskey(u, pol, credentialID, p)
	})
}

// PasskeyProofUser is the user a passkey assertion proving a factor (for a step-up
// or a sensitive change) begins for, a copy for the relying party's ceremony:
// ErrNoPasskey when they have none, a *domain.LockedError while their second-factor
// step is locked.
func (s *Service) PasskeyProofUser(uid string) (*domain.User, error) {
	u := s.user(uid)
	if u == nil || len(u.Passkeys) == 0 {
		return nil, ErrNoPasskey
	}
	if u.Locked(s.now()) {
		return nil, &domain.LockedError{Until: u.LockedUntil}
	}
	return u, nil
}

// ChallengePasskeyUser is the user a passkey assertion for a held sign-in begins
// for, a copy for the relying party's ceremony: domain.ErrChallengeNotFound when the
// challenge is not open, a *domain.LockedError while the user's second-factor step
// is locked, ErrNoPasskey when they have no passkey.
func (s *Service) ChallengePasskeyUser(challengeID string) (*domain.User, error) {
	now := s.now()
	var u *domain.User
	s.read(func(st *projections.State) {
		user := st.Users[st.ChallengeUsers[challengeID]]
		if user == nil {
			return
		}
		if ch := user.Challenges[challengeID]; ch != nil && !ch.Done && now.Before(ch.ExpiresAt) {
			u = user.Clone()
		}
	})
	switch {
	case u == nil:
		return nil, domain.ErrChallengeNotFound
	case u.Locked(now):
		return nil, &domain.LockedError{Until: u.LockedUntil}
	case len(u.Passkeys) == 0:
		return nil, ErrNoPasskey
	}
	return u, nil
}
