package usecase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// ErrOIDCNoUser: the name an OIDC provider's account maps to is no Jellyfin user.
var ErrOIDCNoUser = errors.New("no Jellyfin user has the name the provider's account maps to")

// OIDCSignInRequest is a sign-in whose identity an OIDC provider vouched for: the
// gateway verified the ID token and domain.DecideOIDCIdentity read it.
type OIDCSignInRequest struct {
	// Caller's Device is the web app's own device headers: the new session is the app's.
	Caller   Caller
	Identity domain.OIDCIdentity
}

// OIDCSignIn signs the named user in and returns the AuthenticationResult of a real
// Jellyfin session minted through Quick Connect, as a passwordless passkey sign-in
// does. The user must exist at Jellyfin (looked up with the admin key and recorded,
// as the password step does); a name that matches nobody, and a user who needs a
// second factor the provider did not check, are refused and recorded against the
// address (sign_in_failed, reason oidc) before Jellyfin is asked for a session.
func (s *Service) OIDCSignIn(ctx context.Context, req OIDCSignInRequest) ([]byte, error) {
	uid, err := s.passwordUser(ctx, req.Identity.UserName, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMintFailed, err)
	}
	refuse := func(err error) ([]byte, error) {
		s.log.Info("OIDC sign-in refused", "user", req.Identity.UserName, "ip", req.Caller.IPString(), "err", err)
		s.RecordOIDCRefused(ctx, req.Caller, req.Identity.UserName)
		return nil, err
	}
	if uid == "" {
		return refuse(ErrOIDCNoUser)
	}
	pol := s.Policy()
	decide := func(u *domain.User, tokenHash string, token events.Sealed) ([]events.Payload, error) {
		return domain.DecideOIDCSignIn(u, pol, req.Identity.SecondFactor, tokenHash, token)
	}
	if u := s.user(uid); u == nil {
		return refuse(ErrOIDCNoUser)
	} else if _, err := decide(u, "", ""); err != nil {
		return refuse(err)
	}
	// The network allowlists hold for every way in (sign_in_refused, reason network).
	if err := s.refuseOutsideNetworks(ctx, uid, req.Caller, domain.SignInOIDC, s.knownAdmin(uid)); err != nil {
		return nil, err
	}
	body, res, err := s.mintFor(ctx, uid, req.Caller.Device, "OIDC sign-in")
	if err != nil {
		return nil, err
	}
	err = s.recordMinted(ctx, uid, req.Caller.Context(uid), res, func(u *domain.User, h string, sealed events.Sealed, _ time.Time) ([]events.Payload, error) {
		evs, err := decide(u, h, sealed)
		if err != nil {
			return nil, err
		}
		return append(domain.DecideProfile(u, res.User.Name, res.User.Policy.IsAdministrator), evs...), nil
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// RecordOIDCRefused records an OIDC sign-in refused (a token that did not verify, an
// account not mapped or outside the allowed groups, a user not found) against the
// address, like a wrong password.
func (s *Service) RecordOIDCRefused(ctx context.Context, caller Caller, name string) {
	s.RecordSignInFailed(ctx, caller, name, domain.MethodOIDC)
}
