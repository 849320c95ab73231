package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// Admin is who runs an administrator's command (the control API): jfguard's admin
// token, the root credential of scripts and the CLI, or a Jellyfin administrator's
// verified session.
type Admin struct {
	// UserID and TokenHash name the administrator's session; both are empty for the
	// admin token.
	UserID    string
	TokenHash string
	// Caller is the request's address and device.
	Caller Caller
}

// ActorAdmin is the actor of the events an administrator's command records, whoever
// the administrator is: the audit log names the control API's changes so, and the
// offline CLI's, since whoever may open the data directory is an administrator.
const ActorAdmin = "admin"

// context is the envelope context of the events an administrator's command records.
func (a Admin) context() events.Context { return events.Context{Actor: ActorAdmin} }

// AuthorizeAdmin applies the step-up rule to an administrator's session before a
// state change: the same rule, decided by the domain, as every account change, and a
// refusal (step_up_required) is recorded on the administrator's account. The admin
// token has no session to step up: it is not asked.
func (s *Service) AuthorizeAdmin(ctx context.Context, a Admin) error {
	if a.UserID == "" {
		return nil
	}
	pol := s.Policy()
	_, err := s.execUser(ctx, a.UserID, a.Caller.Context(a.UserID), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return u.Authorize(domain.Caller{TokenHash: a.TokenHash}, domain.ActionAdmin, pol, now)
	})
	return err
}

// FindUser resolves a user an administrator names by Jellyfin id or name; a user
// jfguard does not know is domain.ErrNotFound.
func (s *Service) FindUser(nameOrID string) (string, error) {
	var uid string
	s.read(func(st *projections.State) {
		if u := st.Users[nameOrID]; u != nil {
			uid = u.ID
		} else if u := st.UserByName(nameOrID); u != nil {
			uid = u.ID
		}
	})
	if uid == "" {
		return "", fmt.Errorf("%w: no user %q", domain.ErrNotFound, nameOrID)
	}
	return uid, nil
}

// ResetUser is account recovery: every factor, trusted browser and the lockout go,
// and the user is signed out everywhere (sessions, held sign-ins, app passwords,
// devices), so whoever had the account loses it too.
func (s *Service) ResetUser(ctx context.Context, a Admin, uid, reason string) (domain.Revocation, error) {
	return s.RevokeAll(ctx, uid, domain.RevokeOnReset, reason, a.context(), &events.UserReset{Reason: reason})
}

// RevokeUserEverywhere signs a user out everywhere (offboarding, a stolen device):
// every session, held sign-in, app password, paired device, pairing and trusted
// browser; the tokens are logged out at Jellyfin. Factors stay.
func (s *Service) RevokeUserEverywhere(ctx context.Context, a Admin, uid, reason string) (domain.Revocation, error) {
	return s.RevokeAll(ctx, uid, domain.RevokeByAdmin, reason, a.context())
}

// ForgetUser destroys a user's data key: sealed values become unreadable. The user
// is signed out everywhere first, and the held tokens are logged out at Jellyfin
// while they can still be unsealed. A logout Jellyfin refused does not keep the key:
// the user is forgotten all the same, and the error says what is left at Jellyfin.
func (s *Service) ForgetUser(ctx context.Context, a Admin, uid, reason string) error {
	_, err := s.RevokeAll(ctx, uid, domain.RevokeOnForget, reason, a.context(), &events.UserForgotten{Reason: reason})
	if err != nil && !errors.Is(err, ErrJellyfinLogout) {
		return err
	}
	if derr := s.d.Sealer.Destroy(ctx, uid); derr != nil {
		return errors.Join(err, derr)
	}
	if err != nil {
		return fmt.Errorf("user forgotten (data key destroyed), %w", err)
	}
	return nil
}

// ReleasePasswordHold ends a user's password hold after too many wrong passwords,
// and the pause of a server without the admin API key (password_hold_released).
// Without that key jfguard cannot see Jellyfin's count of failed sign-ins, so the
// administrator checks the user at Jellyfin first.
func (s *Service) ReleasePasswordHold(ctx context.Context, a Admin, uid, reason string) error {
	_, err := s.execUser(ctx, uid, a.context(), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecidePasswordHoldReleased(u, reason, now)
	})
	return err
}

// Ban is one ban in force.
type Ban struct {
	// IP is the address, or the IPv6 prefix, the ban holds for; Prefix is the same
	// block in CIDR form (an IPv4 address is a /32).
	IP     string    `json:"ip"`
	Prefix string    `json:"prefix"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Bans lists the bans in force now, by address.
func (s *Service) Bans() []Ban {
	now := s.now()
	out := []Ban{}
	s.read(func(st *projections.State) {
		for id, a := range st.Addresses {
			if a.Banned(now) {
				ip := events.IPFromAggregateID(id)
				out = append(out, Ban{IP: ip, Prefix: cidr(ip), Until: a.BannedUntil, Reason: a.BanReason})
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

// BanTarget is what a ban or an unban was about.
type BanTarget struct {
	// Input is the address the administrator gave, or the prefix.
	Input string
	// Prefix is the block banned or unbanned, in CIDR form.
	Prefix string
}

// Ban bans the block of the given address (its IPv6 prefix, by default), or the given
// prefix, for d (a day when zero) with reason, and says which block that is. A target
// that is no such block is a domain.ErrBanTarget that says what to give instead.
func (s *Service) Ban(ctx context.Context, a Admin, target string, d time.Duration, reason string) (BanTarget, error) {
	block, addr, err := domain.ParseBanTarget(target, s.d.IPv6Prefix)
	if err != nil {
		return BanTarget{}, err
	}
	out := BanTarget{Input: banInput(block, addr), Prefix: block.String()}
	_, err = s.execAddress(ctx, domain.AddressKey(block), a.banContext(addr), func(ad *domain.Address, now time.Time) ([]events.Payload, error) {
		return domain.DecideBan(ad, d, reason, now), nil
	})
	return out, err
}

// Unban lifts the ban on the block of the given address (or on the given prefix).
// For an address it also lifts a ban an older version of jfguard recorded on the
// address alone, and names the block of the first ban it lifted. A ban recorded under
// another security.ipv6_prefix is listed with its own prefix, and lifted by it. A
// block not banned is domain.ErrNotFound.
func (s *Service) Unban(ctx context.Context, a Admin, target, reason string) (BanTarget, error) {
	block, addr, err := domain.ParseBanTarget(target, s.d.IPv6Prefix)
	if err != nil {
		listed, perr := netip.ParsePrefix(strings.TrimSpace(target))
		if perr != nil || !s.banned(domain.AddressKey(listed.Masked())) {
			return BanTarget{}, err
		}
		block = listed.Masked()
	}
	keys := []string{domain.AddressKey(block)}
	if addr.IsValid() {
		keys = domain.BanKeys(addr, s.d.IPv6Prefix)
	}
	out := BanTarget{Input: banInput(block, addr)}
	for _, key := range keys {
		_, err := s.execAddress(ctx, key, a.banContext(addr), func(ad *domain.Address, now time.Time) ([]events.Payload, error) {
			return domain.DecideUnban(ad, reason, now)
		})
		switch {
		case errors.Is(err, domain.ErrNotFound):
		case err != nil:
			return out, err
		case out.Prefix == "":
			out.Prefix = cidr(events.IPFromAggregateID(key))
		}
	}
	if out.Prefix == "" {
		return out, fmt.Errorf("%w: %s is not banned", domain.ErrNotFound, block)
	}
	return out, nil
}

// banned reports whether the IP aggregate id is banned now.
func (s *Service) banned(id string) bool {
	now := s.now()
	var banned bool
	s.read(func(st *projections.State) { banned = st.Addresses[id].Banned(now) })
	return banned
}

// banContext names the administrator and, when one was given, the address banned.
func (a Admin) banContext(addr netip.Addr) events.Context {
	ec := a.context()
	if addr.IsValid() {
		ec.IP = addr.String()
	}
	return ec
}

// banInput is the address an administrator gave, or the prefix.
func banInput(block netip.Prefix, addr netip.Addr) string {
	if addr.IsValid() {
		return addr.String()
	}
	return events.IPFromAggregateID(domain.AddressKey(block))
}

// cidr writes an address or prefix as a prefix.
func cidr(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return ip
}

// SetSetting records an administrator's new value of a policy key, old being the
// value in force; both are in the policy's own spelling (the caller validated and
// rendered them). It reports whether the value changed: an unchanged value records
// nothing.
func (s *Service) SetSetting(ctx context.Context, a Admin, key, old, value string) (bool, error) {
	evs := domain.DecideSettingChanged(key, old, value, "control_api")
	if len(evs) == 0 {
		return false, nil
	}
	if err := s.execSystem(ctx, "settings", a.context(), evs...); err != nil {
		return false, err
	}
	return true, nil
}

// ErrAlreadyAdopted: the sessions were adopted once already; adopting them again
// takes force.
var ErrAlreadyAdopted = errors.New("sessions were already adopted once; pass force to adopt again")

// AdoptSessions marks the Jellyfin sessions that exist now as verified, once: the
// sessions of users who were signed in before jfguard was installed. Sessions jfguard
// knows stay as they are. It returns how many it adopted.
func (s *Service) AdoptSessions(ctx context.Context, a Admin, force bool) (int, error) {
	var done bool
	s.read(func(st *projections.State) { done = st.Counts[events.TypeSessionsAdopted] > 0 })
	if done && !force {
		return 0, ErrAlreadyAdopted
	}
	devs, err := s.d.Jellyfin.Devices(ctx)
	if err != nil {
		return 0, err
	}
	adopted := 0
	for _, d := range devs {
		if d.AccessToken == "" || !events.ValidAggregateID(d.LastUserID) {
			continue
		}
		h := TokenHash(d.AccessToken)
		var known bool
		s.read(func(st *projections.State) { _, known = st.Tokens[h] })
		if known {
			continue
		}
		sealed, err := s.d.Sealer.Seal(ctx, d.LastUserID, []byte(d.AccessToken))
		if err != nil {
			return adopted, err
		}
		ec := a.context()
		ec.Device = &events.Device{ID: d.ID, Name: d.Name, Client: d.AppName, Version: d.AppVersion}
		_, err = s.execUser(ctx, d.LastUserID, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			var evs []events.Payload
			if d.LastUser != "" {
				evs = domain.DecideDiscovered(u, d.LastUser, false)
			}
			return append(evs, domain.NewSessionVerified(h, domain.ReasonAdopted, sealed)), nil
		})
		if err != nil {
			return adopted, err
		}
		adopted++
	}
	if err := s.execSystem(ctx, "sessions", a.context(), &events.SessionsAdopted{Count: adopted}); err != nil {
		return adopted, err
	}
	return adopted, nil
}

// RevokeUserDevice removes a user's paired device (or pairing) and logs its session
// out at Jellyfin.
func (s *Service) RevokeUserDevice(ctx context.Context, a Admin, uid, pairingID string) error {
	var token events.Sealed
	_, err := s.execUser(ctx, uid, a.context(), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, t, err := domain.DecideRevokeDevice(u, pairingID)
		token = t
		return evs, err
	})
	if err != nil {
		return err
	}
	s.LogoutSealed(uid, token)
	return nil
}

// Device is a device as its app names itself when it signs in.
type Device struct {
	ID     string
	Client string
	Name   string
}

// Preapproved is a device approved before it signs in.
type Preapproved struct {
	PairingID string
	// Until is the end of the pairing window: the device must sign in before it.
	Until time.Time
}

// PreapproveDevice approves a device for a user before it signs in: its next
// sign-in within the pairing window succeeds.
func (s *Service) PreapproveDevice(ctx context.Context, a Admin, uid string, d Device) (Preapproved, error) {
	out := Preapproved{PairingID: s.NewID()[:16]}
	pol := s.Policy()
	_, err := s.execUser(ctx, uid, a.context(), func(_ *domain.User, now time.Time) ([]events.Payload, error) {
		var evs []events.Payload
		evs, out.Until = domain.DecidePreapproveDevice(pol, domain.Preapproval{PairingID: out.PairingID, DeviceID: d.ID, Client: d.Client, Name: d.Name}, now)
		return evs, nil
	})
	return out, err
}

// AddSubscriber gives an external system a NATS credential: the public key of a
// key pair made where the administrator runs the CLI, so the seed never travels.
// A name or key in use is domain.ErrSubscriberExists; a name NATS subjects cannot
// carry is domain.ErrSubscriberName.
func (s *Service) AddSubscriber(ctx context.Context, a Admin, name, publicKey string) (projections.Subscriber, error) {
	seq, err := projections.AddSubscriber(ctx, s.d.Store, a.context(), name, publicKey, s.now())
	if err != nil {
		return projections.Subscriber{}, err
	}
	if err := s.d.Projector.WaitFor(ctx, seq); err != nil {
		return projections.Subscriber{}, err
	}
	var sub projections.Subscriber
	s.read(func(st *projections.State) { sub = st.Subscribers[name] })
	return sub, nil
}

// RemoveSubscriber withdraws a subscriber's credential; the embedded NATS server cuts
// its connections. A subscriber that does not exist is domain.ErrNotFound.
func (s *Service) RemoveSubscriber(ctx context.Context, a Admin, name string) error {
	seq, err := projections.RemoveSubscriber(ctx, s.d.Store, a.context(), name, s.now())
	if err != nil {
		return err
	}
	return s.d.Projector.WaitFor(ctx, seq)
}
