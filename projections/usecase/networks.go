package usecase

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// Network allowlists (see domain/networks.go): the administrator sets where a user
// may sign in from, and every sign-in method asks the rule once its credential
// proved right, before anything is unlocked.

// SetUserNetworks sets the networks a user (a name or an id) may sign in from
// (empty: anywhere), as an administrator's act, and returns the user's id and the
// list as kept (normalised). The list is validated by the domain
// (domain.ErrNetworkList names the entry it refused). A Jellyfin user jfguard has
// not seen sign in yet is found in Jellyfin's user list and discovered, so an
// account can be held to its networks before its first sign-in.
func (s *Service) SetUserNetworks(ctx context.Context, a Admin, user string, networks []string) (string, []string, error) {
	var discover func(*domain.User) []events.Payload
	uid, err := s.FindUser(user)
	if errors.Is(err, domain.ErrNotFound) && strings.TrimSpace(user) != "" {
		ju, ok, jerr := s.directory.find(ctx, user, "")
		if jerr == nil && !ok {
			ju, ok, jerr = s.directory.find(ctx, "", user)
		}
		if jerr != nil {
			return "", nil, fmt.Errorf("look %q up at Jellyfin: %w", user, jerr)
		}
		if ok && events.ValidAggregateID(ju.ID) {
			uid, err = ju.ID, nil
			discover = func(u *domain.User) []events.Payload {
				return domain.DecideDiscovered(u, ju.Name, ju.Policy.IsAdministrator)
			}
		}
	}
	if err != nil {
		return "", nil, err
	}
	var kept []string
	_, err = s.execUser(ctx, uid, a.context(), func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		evs, k, err := domain.DecideSetNetworks(u, networks)
		kept = k
		if err != nil || discover == nil {
			return evs, err
		}
		return append(discover(u), evs...), nil
	})
	if err != nil {
		return "", nil, err
	}
	return uid, kept, nil
}

// refuseOutsideNetworks applies the network allowlists to a sign-in of uid whose
// credential proved right: nil when the caller's address is allowed; otherwise the
// refusal is recorded (sign_in_refused) and domain.ErrOutsideNetworks returned.
// admin is whether jfguard knows the user as an administrator. Any other error
// (the refusal could not be recorded) refuses too.
func (s *Service) refuseOutsideNetworks(ctx context.Context, uid string, caller Caller, method string, admin bool) error {
	pol := s.Policy()
	attempt := domain.NetworkAttempt{Method: method, IP: caller.IP, Admin: admin}
	u := s.user(uid)
	if u == nil {
		u = domain.NewUser(uid)
	}
	if _, err := domain.DecideNetwork(u, pol, attempt); err == nil {
		return nil
	}
	_, err := s.execUser(ctx, uid, caller.Context(uid), func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		return domain.DecideNetwork(u, pol, attempt)
	})
	return err
}

// knownAdmin is whether jfguard knows the user as a Jellyfin administrator.
func (s *Service) knownAdmin(uid string) bool {
	u := s.user(uid)
	return u != nil && u.Admin
}
