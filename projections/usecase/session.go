package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// Errors of resolving a token at Jellyfin. The gate branches on them: each says
// something different about the token, and how long the answer holds is the gate's
// to decide.
var (
	// ErrTokenNotAccepted: Jellyfin does not accept the token, so it opens nothing
	// there; the gate lets Jellyfin refuse it as it would.
	ErrTokenNotAccepted = errors.New("jellyfin does not accept the token")
	// ErrTokenNamesNoUser: Jellyfin accepts the token but it names no user: an API
	// key, perhaps one created since the gate last listed them.
	ErrTokenNamesNoUser = errors.New("jellyfin accepts the token but it names no user")
	// ErrCannotResolve: Jellyfin could not be asked whose token it is.
	ErrCannotResolve = errors.New("cannot ask Jellyfin whose token this is")
)

// ResolvedToken is the decision on a token the gate met that jfguard has no record
// of: it passes (and why) or is refused.
type ResolvedToken struct {
	Pass   bool
	Reason string
	UserID string
}

// ResolveToken decides on a token jfguard has never seen: a session from before
// jfguard was installed, one made at Jellyfin directly, or an API key. Jellyfin says
// whose token it is; the domain decides whether it may pass without a second factor
// (DecideResolvedSession), before anything is sealed, and records it verified on
// the user's state. The token is kept sealed like every other session's, so
// signing the user out everywhere can log it out at Jellyfin.
func (s *Service) ResolveToken(ctx context.Context, caller Caller, token string) (ResolvedToken, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ju, err := s.d.Jellyfin.Me(ctx, token)
	var se *upstream.StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusUnauthorized:
		return ResolvedToken{}, ErrTokenNotAccepted
	case errors.As(err, &se) && se.Status == http.StatusBadRequest:
		return ResolvedToken{}, ErrTokenNamesNoUser
	case err != nil:
		return ResolvedToken{}, fmt.Errorf("%w: %w", ErrCannotResolve, err)
	}
	pol := s.Policy()
	in := domain.OutsideSession{
		UserName: ju.Name, Admin: ju.Policy.IsAdministrator, TokenHash: TokenHash(token),
		IP: caller.IP, BypassSafe: caller.BypassSafe,
	}
	u := s.user(ju.ID)
	if u == nil {
		u = domain.NewUser(ju.ID)
	}
	if !domain.DecideResolvedSession(u, pol, in).Pass {
		s.log.Info("refused a session jfguard did not verify", "user", ju.Name, "ip", caller.IPString())
		return ResolvedToken{UserID: ju.ID}, nil
	}
	if !events.ValidAggregateID(ju.ID) {
		return ResolvedToken{}, ErrUnusableUserID
	}
	in.Token, err = s.d.Sealer.Seal(ctx, ju.ID, []byte(token))
	if err != nil {
		return ResolvedToken{}, fmt.Errorf("seal a resolved session: %w", err)
	}
	var out domain.OutsideOutcome
	_, err = s.execUser(ctx, ju.ID, caller.Context(ju.ID), func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		out = domain.DecideResolvedSession(u, pol, in)
		return out.Events, nil
	})
	if err != nil {
		return ResolvedToken{}, fmt.Errorf("record a resolved session: %w", err)
	}
	return ResolvedToken{Pass: out.Pass, Reason: out.Reason, UserID: ju.ID}, nil
}

// VerifiedUser is the user whose verified session the token is, "" when it is none
// (unknown, held behind a challenge, or revoked).
func (s *Service) VerifiedUser(token string) string {
	h := TokenHash(token)
	var uid string
	s.read(func(st *projections.State) {
		if ref, ok := st.Tokens[h]; ok && ref.Status == projections.TokenVerified {
			uid = ref.UserID
		}
	})
	return uid
}

// Banned reports whether an address is banned now: by its block's ban, or by a ban
// an older version recorded for the address alone.
func (s *Service) Banned(ip netip.Addr) bool {
	var buf [96]byte
	keys, second := domain.AppendBanKeys(buf[:0], ip, s.d.IPv6Prefix)
	if len(keys) == 0 {
		return false
	}
	now := s.now()
	var banned bool
	s.read(func(st *projections.State) {
		banned = st.Addresses[string(keys[:second])].Banned(now) ||
			second < len(keys) && st.Addresses[string(keys[second:])].Banned(now)
	})
	return banned
}
