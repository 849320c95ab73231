package usecase

import (
	"context"
	"errors"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
)

// ErrUnusableUserID: Jellyfin named a user by an id jfguard cannot use as an
// aggregate id.
var ErrUnusableUserID = errors.New("user id from Jellyfin is not usable")

// PresentedTrust is a trust cookie the request carried, already checked against the
// trust keys and found in the projection's index.
type PresentedTrust struct {
	UserID     string
	BrowserID  string
	SecretHash string
}

// SignInRequest is a sign-in Jellyfin accepted: its AuthenticationResult, as read
// and as written, and what the request said about itself.
type SignInRequest struct {
	Caller Caller
	Result upstream.AuthResult
	Raw    []byte
	// Web: jfguard's script wrapped the request (the web app), so no pairing.
	Web bool
	// Trust is the trust cookie presented, nil when none.
	Trust *PresentedTrust
}

// SignInResult is the decision on a sign-in and, when the browser was let through
// on its trust, the cookie value that replaces the presented one.
type SignInResult struct {
	domain.SignInOutcome
	TrustCookie string
}

// DecideSignIn decides on a sign-in Jellyfin accepted: the token passes (and why) or
// is held behind a challenge. The token and the answer are sealed before the
// decision, which records them.
func (s *Service) DecideSignIn(ctx context.Context, req SignInRequest) (SignInResult, error) {
	res := req.Result
	uid := res.User.ID
	if !events.ValidAggregateID(uid) {
		return SignInResult{}, ErrUnusableUserID
	}
	sealedToken, err := s.d.Sealer.Seal(ctx, uid, []byte(res.AccessToken))
	if err != nil {
		return SignInResult{}, err
	}
	sealedResult, err := s.d.Sealer.Seal(ctx, uid, req.Raw)
	if err != nil {
		return SignInResult{}, err
	}
	in := domain.SignIn{
		UserID: uid, UserName: res.User.Name, Admin: res.User.Policy.IsAdministrator,
		TokenHash: TokenHash(res.AccessToken), Token: sealedToken, AuthResult: sealedResult,
		IP: req.Caller.IP, BypassSafe: req.Caller.BypassSafe, Web: req.Web,
		Device:         req.Caller.Device,
		NewChallengeID: s.NewID(),
		NewPairingID:   s.NewID()[:16],
	}
	// The cookie that replaces the presented one if the browser is let through:
	// made now, so the decision records only its secret's hash, and only offered
	// if it could be made (a node not yet given the current master key cannot), so
	// the browser is never left holding a secret the server replaced.
	var next string
	if t := req.Trust; t != nil && t.UserID == uid {
		secret, value, err := s.newTrustCookie()
		if err != nil {
			s.log.Error("cannot make a trust cookie; the trusted browser is challenged", "err", err)
		} else {
			next = value
			in.Trust = &domain.PresentedTrust{BrowserID: t.BrowserID, SecretHash: t.SecretHash, NextSecretHash: secret.Hash()}
		}
	}
	pol := s.Policy()
	var out domain.SignInOutcome
	_, err = s.execUser(ctx, uid, req.Caller.Context(uid), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		in.Now = now
		out = domain.DecideSignIn(u, pol, in)
		// The right password set Jellyfin's count of failed sign-ins back to zero.
		return append(out.Events, domain.DecidePasswordAccepted(u)...), nil
	})
	if err != nil {
		return SignInResult{SignInOutcome: out}, err
	}
	if out.Refused != nil {
		// Jellyfin accepted the password and made a session: end it.
		s.LogoutAsync(res.AccessToken)
		return SignInResult{SignInOutcome: out}, out.Refused
	}
	result := SignInResult{SignInOutcome: out}
	if out.BrowserID != "" {
		result.TrustCookie = next
	}
	return result, nil
}

// trustKeys are the trust-cookie keys in force now.
func (s *Service) trustKeys() domain.TrustKeys {
	if s.d.TrustKeys == nil {
		return domain.TrustKeys{}
	}
	return s.d.TrustKeys(s.now())
}

// newTrustCookie makes a fresh secret and its cookie value under the current
// trust key.
func (s *Service) newTrustCookie() (domain.TrustSecret, string, error) {
	secret, err := domain.NewTrustSecret(s.d.Rand)
	if err != nil {
		return domain.TrustSecret{}, "", err
	}
	value, err := domain.SignTrustCookie(s.trustKeys().Current, secret)
	return secret, value, err
}

// LogoutAsync ends a token's session at Jellyfin without holding up the caller.
func (s *Service) LogoutAsync(token string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.d.Jellyfin.Logout(ctx, token); err != nil {
			s.log.Warn("logout at Jellyfin failed", "err", err)
		}
	}()
}

// LogoutSealed logs a held token out at Jellyfin.
func (s *Service) LogoutSealed(uid string, sealed events.Sealed) {
	if sealed == "" {
		return
	}
	b, err := s.d.Sealer.Open(context.Background(), uid, sealed)
	if err != nil {
		s.log.Warn("cannot unseal a held token to log it out", "err", err)
		return
	}
	s.LogoutAsync(string(b))
}
