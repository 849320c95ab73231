package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
)

// Quick Connect is how a TV signs in with "enter the code on your phone": the TV
// shows a code, a signed-in session authorizes it, and Jellyfin hands the TV a token.
// Authorizing a code lets a new device in, so it is an account change under the
// step-up rule; the TV's token is verified as quick_connect only when a verified
// session of the same user authorized its code through jfguard.

// Errors of Quick Connect.
var (
	// ErrSessionNotVerified: the token is no verified session, so it may not
	// authorize a code.
	ErrSessionNotVerified = errors.New("the token is not a verified session")
	// ErrQuickConnectUnknownCode: no device is waiting with the code.
	ErrQuickConnectUnknownCode = errors.New("no device is waiting with this Quick Connect code")
	// ErrQuickConnectNotAccepted: Jellyfin did not accept the code for another
	// reason (Quick Connect may be off).
	ErrQuickConnectNotAccepted = errors.New("jellyfin did not accept the Quick Connect code")
	// ErrSessionRefused: the session needed a second factor jfguard did not check;
	// its token was logged out at Jellyfin.
	ErrSessionRefused = errors.New("this session needs a second factor")
)

// AuthorizeQuickConnect is a verified session authorizing a code on Jellyfin's own
// Quick Connect page, on its way to Jellyfin: it is recorded under the step-up rule
// before Jellyfin sees it, because the device finishes signing in as soon as
// Jellyfin answers. It returns the user who authorizes. A session the rule refuses
// gets the rule's error (and step_up_required is recorded); a token that is no
// verified session, ErrSessionNotVerified.
func (s *Service) AuthorizeQuickConnect(ctx context.Context, caller Caller, token string) (string, error) {
	uid := s.VerifiedUser(token)
	if uid == "" {
		return "", ErrSessionNotVerified
	}
	a := Account{Caller: caller, UserID: uid, TokenHash: TokenHash(token)}
	return uid, s.recordQuickConnect(ctx, a)
}

// ApproveQuickConnect authorizes a Quick Connect code from jfguard's security page:
// Jellyfin authorizes the code with the caller's own token, then the authorization
// is recorded under the step-up rule.
func (s *Service) ApproveQuickConnect(ctx context.Context, a Account, token, code string) error {
	if err := s.d.Jellyfin.AuthorizeQuickConnect(ctx, token, code); err != nil {
		var se *upstream.StatusError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusBadRequest) {
			return ErrQuickConnectUnknownCode
		}
		s.log.Warn("quick connect authorize at Jellyfin", "err", err)
		return fmt.Errorf("%w: %w", ErrQuickConnectNotAccepted, err)
	}
	return s.recordQuickConnect(ctx, a)
}

// recordQuickConnect records quick_connect_authorized for the account's session,
// when the step-up rule lets it authorize a code.
func (s *Service) recordQuickConnect(ctx context.Context, a Account) error {
	a.Action = domain.ActionQuickConnect
	return s.execAccount(ctx, a, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.QuickConnectAuthorized{TokenHash: a.TokenHash}}, nil
	})
}

// QuickConnectSignIn is the token Quick Connect handed a device, and who authorized
// the device's code through jfguard.
type QuickConnectSignIn struct {
	Caller Caller
	Result upstream.AuthResult
	// AuthorizedBy is the user whose verified session authorized the code through
	// jfguard, "" when none did (it was authorized at Jellyfin directly).
	AuthorizedBy string
}

// DecideQuickConnectSignIn decides on the token Quick Connect handed a device (see
// domain.DecideQuickConnectSignIn) and records it. A token the decision refuses, or
// that could not be recorded, must not be usable: it is logged out at Jellyfin and
// the error is ErrSessionRefused.
func (s *Service) DecideQuickConnectSignIn(ctx context.Context, req QuickConnectSignIn) error {
	res := req.Result
	uid := res.User.ID
	if !events.ValidAggregateID(uid) {
		return ErrUnusableUserID
	}
	sealed, err := s.d.Sealer.Seal(ctx, uid, []byte(res.AccessToken))
	if err != nil {
		s.LogoutAsync(res.AccessToken)
		return fmt.Errorf("seal a Quick Connect session: %w", err)
	}
	in := domain.OutsideSession{
		UserName: res.User.Name, Admin: res.User.Policy.IsAdministrator, TokenHash: TokenHash(res.AccessToken),
		Token: sealed, IP: req.Caller.IP, BypassSafe: req.Caller.BypassSafe,
	}
	pol := s.Policy()
	var out domain.OutsideOutcome
	_, err = s.execUser(ctx, uid, req.Caller.Context(uid), func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		nw := domain.NetworkAttempt{Method: domain.SignInQuickConnect, IP: in.IP, Admin: in.Admin}
		if evs, err := domain.DecideNetwork(u, pol, nw); err != nil {
			out = domain.OutsideOutcome{}
			return evs, err
		}
		out = domain.DecideQuickConnectSignIn(u, pol, in, req.AuthorizedBy)
		return out.Events, nil
	})
	switch {
	case err != nil:
		s.LogoutAsync(res.AccessToken)
		return fmt.Errorf("%w: record the session: %w", ErrSessionRefused, err)
	case !out.Pass:
		s.LogoutAsync(res.AccessToken)
		return ErrSessionRefused
	}
	return nil
}
