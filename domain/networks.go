package domain

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/jfguard/jfguard/events"
)

// Network allowlists: where an account may sign in from. An administrator sets a
// user's own list (user_networks_set; empty means anywhere) and, as a policy
// setting, one list for every administrator (security.admin_networks): "admins
// only from the LAN or the VPN". jfguard has no groups of its own; Jellyfin's
// administrator role is the one group it knows, and the admin list covers it.
//
// The rule is checked once a sign-in's credential proved right (Jellyfin accepted
// the password, the passkey or app password verified, Quick Connect handed out a
// token) and before anything is unlocked: no challenge is issued, no session
// minted or recorded. It applies whatever else would let the sign-in through (the
// LAN bypass, a trusted browser, a paired device), since it says where the account
// may be used at all.

// Errors of the network allowlists.
var (
	// ErrOutsideNetworks: the sign-in comes from an address outside the networks
	// the account may sign in from. It was recorded (sign_in_refused).
	ErrOutsideNetworks = errors.New("sign-in refused: this account may not sign in from this network")
	// ErrNetworkList: a network list is not one jfguard can keep.
	ErrNetworkList = errors.New("invalid network list")
)

// MaxNetworks is how many networks one list may name.
const MaxNetworks = 64

// RefusedNetwork is the reason of a sign_in_refused from outside the networks.
const RefusedNetwork = "network"

// The lists a network refusal can come from (sign_in_refused.rule).
const (
	NetworkRuleUser   = "user"
	NetworkRuleAdmins = "admins"
)

// The sign-in methods a refusal names (sign_in_refused.method).
const (
	SignInPassword     = "password"
	SignInPasskey      = "passkey"
	SignInAppPassword  = "app_password"
	SignInQuickConnect = "quick_connect"
	SignInOIDC         = "oidc"
	SignInChallenge    = "challenge"
)

// ParseNetworks reads a network list: CIDRs (192.0.2.0/24, 2001:db8::/48) or single
// addresses (a /32 or /128). Each is masked to its network (192.0.2.7/24 is kept as
// 192.0.2.0/24), IPv4-mapped IPv6 is kept as IPv4, duplicates are dropped and the
// list is sorted, so equal lists read the same. An entry that is neither is an
// error naming it, as is a list longer than MaxNetworks.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	if len(list) > MaxNetworks {
		return nil, fmt.Errorf("%w: %d networks; at most %d", ErrNetworkList, len(list), MaxNetworks)
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := parseNetwork(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, fmt.Errorf("%w: %q mixes IPv4 and IPv6; write the IPv4 network (like 192.0.2.0/24)", ErrNetworkList, s)
			}
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a.WithZone(""), bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a network (like 192.0.2.0/24 or 2001:db8::/48) or an address", ErrNetworkList, s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NetworkStrings writes a network list as the events and the control API show it.
func NetworkStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// inNetworks reports whether ip is in one of the networks. An address jfguard could
// not resolve is in none: the rule fails closed.
func inNetworks(ps []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// NetworkAttempt is a sign-in whose credential proved right, as the network rule
// sees it: how it signed in, from where, and whether the account is an
// administrator's (as Jellyfin said at this sign-in where it said so).
type NetworkAttempt struct {
	Method string
	IP     netip.Addr
	Admin  bool
}

// DecideNetwork applies the network allowlists to a sign-in: nothing when the
// address is allowed, otherwise sign_in_refused (reason network, naming the list
// that refused it) and ErrOutsideNetworks. The user's own list is checked first;
// an administrator must also be inside the administrators' list.
func DecideNetwork(u *User, pol Policy, a NetworkAttempt) ([]events.Payload, error) {
	rule := ""
	switch {
	case len(u.Networks) > 0 && !inNetworks(u.Networks, a.IP):
		rule = NetworkRuleUser
	case a.Admin && len(pol.AdminNetworks) > 0 && !inNetworks(pol.AdminNetworks, a.IP):
		rule = NetworkRuleAdmins
	default:
		return nil, nil
	}
	address := ""
	if a.IP.IsValid() {
		address = a.IP.Unmap().String()
	}
	return []events.Payload{&events.SignInRefused{Reason: RefusedNetwork, Rule: rule, Method: a.Method, Address: address}}, ErrOutsideNetworks
}

// DecideSetNetworks sets the networks a user may sign in from (empty: anywhere).
// The list is validated and normalised (see ParseNetworks); setting the list the
// user already has records nothing. It returns the list as kept.
func DecideSetNetworks(u *User, list []string) ([]events.Payload, []string, error) {
	ps, err := ParseNetworks(list)
	if err != nil {
		return nil, nil, err
	}
	kept := NetworkStrings(ps)
	if slices.Equal(ps, u.Networks) {
		return nil, kept, nil
	}
	return []events.Payload{&events.UserNetworksSet{Networks: kept}}, kept, nil
}

// evolveNetworks folds the user's network list.
func (u *User) evolveNetworks(p events.Payload) {
	if e, ok := p.(*events.UserNetworksSet); ok {
		// The list was normalised when it was set (DecideSetNetworks).
		u.Networks = make([]netip.Prefix, 0, len(e.Networks))
		for _, s := range e.Networks {
			if p, err := parseNetwork(s); err == nil {
				u.Networks = append(u.Networks, p)
			}
		}
	}
}
