package domain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Address is the state of one IP aggregate: recent failed sign-ins and any ban.
type Address struct {
	ID          string
	Version     uint64
	Failures    []time.Time
	BannedUntil time.Time
	BanReason   string
}

// Banned reports whether the address is banned at now.
func (a *Address) Banned(now time.Time) bool { return a != nil && now.Before(a.BannedUntil) }

// Evolve applies one event of this address.
func (a *Address) Evolve(ev events.Event, p events.Payload) {
	a.Version = ev.Seq
	switch e := p.(type) {
	case *events.SignInFailed:
		a.Failures = append(a.Failures, ev.Time)
		if len(a.Failures) > 256 {
			a.Failures = append(a.Failures[:0], a.Failures[len(a.Failures)-256:]...)
		}
	case *events.IPBanned:
		a.BannedUntil, a.BanReason = e.Until, e.Reason
		a.Failures = nil
	case *events.IPUnbanned:
		a.BannedUntil, a.BanReason = time.Time{}, ""
		a.Failures = nil
	}
}

// DecideSignInFailed records a failed sign-in from an address and bans it when the
// failures in the window reach the threshold.
func DecideSignInFailed(a *Address, pol Policy, username, reason string, now time.Time) []events.Payload {
	evs := []events.Payload{&events.SignInFailed{Username: username, Reason: reason}}
	if pol.BanThreshold <= 0 || a.Banned(now) {
		return evs
	}
	recent := 1
	for _, t := range a.Failures {
		if now.Sub(t) < pol.BanWindow {
			recent++
		}
	}
	if recent >= pol.BanThreshold {
		evs = append(evs, &events.IPBanned{Until: now.Add(pol.BanDuration), Reason: "too many failed sign-ins", Failures: recent})
	}
	return evs
}

// IPv6 prefix lengths addresses are grouped by (security.ipv6_prefix).
const (
	// DefaultIPv6PrefixBits: one subscriber usually holds a whole /64.
	DefaultIPv6PrefixBits = 64
	// MinIPv6PrefixBits: a /48 is the most a single site is usually given; shorter
	// prefixes would put unrelated networks in one ban.
	MinIPv6PrefixBits = 48
	MaxIPv6PrefixBits = 128
)

// AddressBlock is the block of addresses that failed sign-ins, bans and rate limits
// count together: an IPv4 address alone, an IPv6 address with the other addresses of
// its prefix of ipv6Bits. Whoever holds an IPv6 prefix picks any address in it at
// will, so counting addresses one by one would let a client rotate out of every ban.
// An IPv4-mapped IPv6 address is its IPv4 address. The zero Addr has no block.
func AddressBlock(ip netip.Addr, ipv6Bits int) netip.Prefix {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	if ipv6Bits < MinIPv6PrefixBits || ipv6Bits > MaxIPv6PrefixBits {
		ipv6Bits = DefaultIPv6PrefixBits
	}
	p, _ := ip.Prefix(ipv6Bits)
	return p
}

// AddressKey is the IP aggregate id of a block: the address alone for a block of one
// (so an IPv6 /128 is the id older versions of jfguard gave the address), the prefix
// otherwise, both in the subject-safe form of events.IPAggregateID. It returns "" for
// the zero Prefix.
func AddressKey(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return ""
	case p.IsSingleIP():
		return events.IPAggregateID(p.Addr().String())
	}
	return events.IPAggregateID(p.Masked().String())
}

// BanKeys are the IP aggregates whose bans apply to ip: its block's, and, when the
// block is wider than the address, the address's own, where versions of jfguard that
// counted IPv6 addresses one by one recorded failures and bans (an old ban keeps
// holding until it ends).
func BanKeys(ip netip.Addr, ipv6Bits int) []string {
	block := AddressBlock(ip, ipv6Bits)
	if !block.IsValid() {
		return nil
	}
	keys := []string{AddressKey(block)}
	if !block.IsSingleIP() {
		keys = append(keys, AddressKey(netip.PrefixFrom(ip.WithZone("").Unmap(), 128)))
	}
	return keys
}

// AppendBanKeys appends BanKeys(ip, ipv6Bits) to dst one after the other and
// returns the result and where the second key starts (len(keys) when there is only
// one). It allocates nothing when dst has room (96 bytes is enough), for the ban
// check every request makes.
func AppendBanKeys(dst []byte, ip netip.Addr, ipv6Bits int) (keys []byte, second int) {
	block := AddressBlock(ip, ipv6Bits)
	if !block.IsValid() {
		return dst, len(dst)
	}
	dst = events.AppendIPAggregateID(dst, block)
	second = len(dst)
	if !block.IsSingleIP() {
		dst = events.AppendIPAggregateID(dst, netip.PrefixFrom(ip.WithZone("").Unmap(), 128))
	}
	return dst, second
}

// ErrBanTarget: what an administrator gave to ban or unban is not an address or a
// prefix jfguard counts clients by.
var ErrBanTarget = errors.New("not an address or a prefix jfguard bans")

// ParseBanTarget reads what an administrator bans or unbans: an address, whose block
// (AddressBlock) is meant, or a prefix, which must be a block itself: an IPv6 prefix
// of ipv6Bits (or a /128, an address as older versions of jfguard banned it), or an
// IPv4 /32, since IPv4 clients are counted address by address. addr is the address
// when one was given. The error wraps ErrBanTarget and says what to give instead.
func ParseBanTarget(v string, ipv6Bits int) (block netip.Prefix, addr netip.Addr, err error) {
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		a = a.WithZone("").Unmap()
		return AddressBlock(a, ipv6Bits), a, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("%w: %q is neither; give an address like 203.0.113.7 or 2001:db8::7, or an IPv6 prefix like 2001:db8:1:2::/%d", ErrBanTarget, v, ipv6Bits)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	switch {
	case p.Addr().Is4() && p.Bits() != 32:
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("%w: %s is an IPv4 prefix, and IPv4 clients are counted one address at a time; give the address", ErrBanTarget, p)
	case p.Addr().Is6() && p.Bits() != ipv6Bits && p.Bits() != 128:
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("%w: %s is a /%d, and IPv6 clients are counted by /%d (security.ipv6_prefix); give an address, its /%d prefix, or a /128", ErrBanTarget, p, p.Bits(), ipv6Bits, ipv6Bits)
	}
	return p, netip.Addr{}, nil
}
