// Package clientaddr resolves where a request to jfguard comes from: the TCP peer, or
// the client a trusted reverse proxy names in X-Forwarded-For, and whether LAN bypass
// may be decided on that address. It also holds the rate-limit bucket of an address
// and the startup warnings about settings that make LAN bypass unsafe.
package clientaddr

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/jfguard/jfguard/domain"
)

// ProxyTrust says which TCP peers may tell jfguard the client's address. It mirrors
// the settings security.trust_forwarded_for and security.trusted_proxies: both must
// agree before X-Forwarded-For is read, because a header anyone can send must never
// decide who counts as local.
type ProxyTrust struct {
	TrustForwardedFor bool
	TrustedProxies    []netip.Prefix
}

// trusts reports whether ip is one of the trusted proxies. Prefixes written in the
// IPv4-mapped IPv6 form (::ffff:10.0.0.0/104) match the plain IPv4 addresses that
// addresses are unmapped to.
func (t ProxyTrust) trusts(ip netip.Addr) bool {
	for _, p := range t.TrustedProxies {
		if unmapPrefix(p).Contains(ip) {
			return true
		}
	}
	return false
}

// ClientAddr is the gate's view of where a request comes from: the address that
// rate limits, bans and LAN bypass are decided on, and whether LAN bypass may be
// decided on it at all.
type ClientAddr struct {
	IP        netip.Addr // the resolved client IP, unmapped (::ffff:1.2.3.4 becomes 1.2.3.4) and without zone
	Peer      netip.Addr // the TCP peer, unmapped and without zone
	Forwarded bool       // the request carried forwarding headers (X-Forwarded-For, Forwarded, X-Real-IP)
	ViaProxy  bool       // the TCP peer is one of the trusted proxies
	// BypassSafe is false when LAN bypass must be refused for this request even if IP
	// is in a LAN range: forwarding headers from a peer that is not a trusted proxy,
	// a trusted proxy whose forwarding is not trusted or that sent no
	// X-Forwarded-For, or a malformed X-Forwarded-For chain.
	BypassSafe bool
}

// ErrInvalidRemoteAddr means the request's RemoteAddr is not an IP address (with or
// without a port). Nothing can be decided about such a request.
var ErrInvalidRemoteAddr = errors.New("remote address is not an IP address")

// ErrMalformedForwardedFor means an X-Forwarded-For entry is not an IP address (with
// or without a port).
var ErrMalformedForwardedFor = errors.New("malformed X-Forwarded-For")

// The forwarding headers, by their canonical names.
const (
	headerForwardedFor = "X-Forwarded-For"
	headerForwarded    = "Forwarded"
	headerRealIP       = "X-Real-Ip"
)

// ResolveClientAddr resolves the client address of a request from its RemoteAddr and
// headers. The client is the TCP peer, unless trust.TrustForwardedFor is on and the
// peer is a trusted proxy: then X-Forwarded-For is walked from right to left, skipping
// trusted proxies, and the first other address is the client (the leftmost address
// when all are trusted). Entries to the left of that address were written by whoever
// sent the request to the first proxy, so they are never believed.
//
// When the X-Forwarded-For chain is malformed, ResolveClientAddr returns an error
// wrapping ErrMalformedForwardedFor that callers should log, together with a usable
// ClientAddr whose BypassSafe is false. Its IP is still the best address the chain
// gives for rate limits and bans: the address found by the walk when the bad entry lies
// to its left (junk any client can add), otherwise the last trusted address walked
// before the bad entry, otherwise the peer. Falling back to the peer outright would put
// every client of the proxy into one rate-limit bucket that a single client could
// exhaust by sending junk.
//
// When remoteAddr is not an IP address it returns ErrInvalidRemoteAddr and a
// ClientAddr with no IP, on which nothing may be granted.
func ResolveClientAddr(remoteAddr string, h http.Header, trust ProxyTrust) (ClientAddr, error) {
	forwardedFor := h[headerForwardedFor]
	forwarded := len(forwardedFor) > 0 || len(h[headerForwarded]) > 0 || len(h[headerRealIP]) > 0
	peer, ok := parseAddrPort(remoteAddr)
	if !ok {
		return ClientAddr{Forwarded: forwarded}, fmt.Errorf("%w: %q", ErrInvalidRemoteAddr, clipForLog(remoteAddr))
	}
	return Resolve(peer, forwardedFor, forwarded, trust)
}

// Resolve is ResolveClientAddr for a peer address already parsed (unmapped, without
// zone), given the lines of X-Forwarded-For and whether the request carried any
// forwarding header (X-Forwarded-For, Forwarded or X-Real-IP). It keeps no reference
// to the lines.
func Resolve(peer netip.Addr, forwardedFor []string, forwarded bool, trust ProxyTrust) (ClientAddr, error) {
	ca := ClientAddr{Forwarded: forwarded}
	ca.Peer, ca.IP = peer, peer
	ca.ViaProxy = trust.trusts(peer)
	switch {
	case !ca.ViaProxy:
		// A direct client. Forwarding headers from it are a spoof attempt or a proxy
		// missing from trusted_proxies: either way its address may not be what it
		// seems, so no bypass.
		ca.BypassSafe = !ca.Forwarded
		return ca, nil
	case !trust.TrustForwardedFor:
		// A trusted proxy whose forwarding is off: every client behind it would
		// appear with the proxy's (possibly LAN) address.
		return ca, nil
	case len(forwardedFor) == 0:
		// A trusted proxy that did not say whom it forwards for: the request could
		// come from the internet through a LAN-addressed proxy.
		return ca, nil
	}
	ip, err := walkForwardedFor(forwardedFor, trust)
	if ip.IsValid() {
		ca.IP = ip
	}
	if err != nil {
		return ca, err
	}
	ca.BypassSafe = true
	return ca, nil
}

// walkForwardedFor walks the X-Forwarded-For lines from right to left without
// allocating, and returns the client address and an error when any entry, even one
// left of the client, is malformed. See ResolveClientAddr for the address returned
// with an error; the zero Addr means "use the peer".
func walkForwardedFor(lines []string, trust ProxyTrust) (netip.Addr, error) {
	var client, lastTrusted netip.Addr
	for li := len(lines) - 1; li >= 0; li-- {
		line := lines[li]
		for end := len(line); end >= 0; {
			comma := strings.LastIndexByte(line[:end], ',')
			entry := line[comma+1 : end]
			end = comma
			ip, ok := parseAddrPort(trimOWS(entry))
			switch {
			case !ok && client.IsValid():
				return client, malformedForwardedFor(entry)
			case !ok:
				return lastTrusted, malformedForwardedFor(entry)
			case client.IsValid():
				// Only checking that the rest of the chain is well formed.
			case trust.trusts(ip):
				lastTrusted = ip
			default:
				client = ip
			}
		}
	}
	if client.IsValid() {
		return client, nil
	}
	return lastTrusted, nil
}

// ParseXForwardedFor parses every entry of the given X-Forwarded-For header lines,
// left to right as the header reads. An entry is an IPv4 or IPv6 address, optionally
// with a port ("1.2.3.4:5678", "[2001:db8::1]:80"), with whitespace around it. Any
// other entry, an empty one included, makes the whole header unusable: it returns an
// error wrapping ErrMalformedForwardedFor. Addresses are unmapped and stripped of any
// zone, as in ClientAddr.
func ParseXForwardedFor(values []string) ([]netip.Addr, error) {
	n := 0
	for _, v := range values {
		n += strings.Count(v, ",") + 1
	}
	if n == 0 {
		return nil, nil
	}
	addrs := make([]netip.Addr, 0, n)
	for _, v := range values {
		for entry := range strings.SplitSeq(v, ",") {
			ip, ok := parseAddrPort(trimOWS(entry))
			if !ok {
				return nil, malformedForwardedFor(entry)
			}
			addrs = append(addrs, ip)
		}
	}
	return addrs, nil
}

func malformedForwardedFor(entry string) error {
	return fmt.Errorf("%w: entry %q", ErrMalformedForwardedFor, clipForLog(entry))
}

// clipForLog shortens attacker-supplied text before it goes into an error message and on
// to a log.
func clipForLog(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

// parseAddrPort parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port" and returns the
// address unmapped and without zone, so that one client has one spelling.
func parseAddrPort(s string) (netip.Addr, bool) {
	host := s
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 || !validPortSuffix(s[end+1:]) {
			return netip.Addr{}, false
		}
		host = s[1:end]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return netip.Addr{}, false
		}
		return ip.WithZone("").Unmap(), true
	case strings.Count(s, ":") == 1:
		colon := strings.IndexByte(s, ':')
		if !validPortSuffix(s[colon:]) {
			return netip.Addr{}, false
		}
		host = s[:colon]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is4() {
			return netip.Addr{}, false
		}
		return ip, true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

// validPortSuffix accepts "" or ":" followed by a decimal port number.
func validPortSuffix(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) < 2 || len(s) > 6 {
		return false
	}
	port := 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		port = port*10 + int(c-'0')
	}
	return port <= 65535
}

// RateLimitKey returns the rate-limit and ban bucket of ip: an IPv4 address as is, an
// IPv6 address by its prefix of ipv6Bits (security.ipv6_prefix, 64 by default),
// because one subscriber usually holds a whole /64 and could otherwise rotate through
// 2^64 buckets. The key is the address block's IP aggregate id (domain.AddressKey),
// so rate limits and bans always agree on who a client is. It returns "" for the zero
// Addr.
func RateLimitKey(ip netip.Addr, ipv6Bits int) string {
	return domain.AddressKey(domain.AddressBlock(ip, ipv6Bits))
}

// Address ranges that BypassWarnings compares settings against.
var (
	loopbackPrefixes = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	}
	// nonPublicPrefixes are the ranges a LAN may use: private, shared (CGNAT, used by
	// VPNs such as Tailscale), link-local, unique local, and loopback (which has its
	// own warning).
	nonPublicPrefixes = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("::1/128"),
	}
)

// BypassWarnings returns human-readable warnings, meant for the startup log, about
// settings that disable LAN bypass or make it unsafe. Each names the setting and says
// what it does to LAN bypass. It returns nil when LAN bypass is off, since then none of
// these settings can let a request skip the second factor.
func BypassWarnings(lanBypass bool, lanCIDRs []netip.Prefix, trust ProxyTrust) []string {
	if !lanBypass {
		return nil
	}
	var warnings []string
	if len(lanCIDRs) == 0 {
		warnings = append(warnings, "security.lan_bypass is on but security.lan_cidrs is empty: no address counts as local, so LAN bypass never applies")
	}
	switch {
	case len(trust.TrustedProxies) > 0 && !trust.TrustForwardedFor:
		warnings = append(warnings, "security.trusted_proxies is set but security.trust_forwarded_for is off: every request through those proxies carries the proxy's own address, "+
			"so LAN bypass is refused for all of them (a proxy on the LAN would otherwise make internet sign-ins look local); turn trust_forwarded_for on to use the address the proxy forwards")
	case len(trust.TrustedProxies) == 0 && trust.TrustForwardedFor:
		warnings = append(warnings, "security.trust_forwarded_for is on but security.trusted_proxies is empty: X-Forwarded-For is never believed, "+
			"and LAN bypass is refused for every request that carries it; list the reverse proxy's address in trusted_proxies")
	}
	for _, p := range trust.TrustedProxies {
		p = unmapPrefix(p)
		if !p.IsValid() {
			continue
		}
		if p.Bits() == 0 {
			warnings = append(warnings, fmt.Sprintf("security.trusted_proxies contains %s, which trusts every address: any client can claim a LAN address in X-Forwarded-For and skip the second factor", p))
			continue
		}
		for _, l := range lanCIDRs {
			l = unmapPrefix(l)
			if l.IsValid() && prefixCovers(p, l) {
				warnings = append(warnings, fmt.Sprintf("security.trusted_proxies entry %s covers the whole LAN range %s: every host there may set X-Forwarded-For, so any of them can pose as another address; list only the proxies themselves", p, l))
			}
		}
	}
	for _, l := range lanCIDRs {
		l = unmapPrefix(l)
		if !l.IsValid() {
			continue
		}
		if prefixOverlapsAny(l, loopbackPrefixes) {
			warnings = append(warnings, fmt.Sprintf("security.lan_cidrs entry %s includes loopback addresses: a reverse proxy on the same host that is not in trusted_proxies, or any local process, gets LAN bypass for every request it relays", l))
		}
		if !prefixInsideAny(l, nonPublicPrefixes) {
			warnings = append(warnings, fmt.Sprintf("security.lan_cidrs entry %s includes public internet addresses: clients from there skip the second factor", l))
		}
	}
	return warnings
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into its IPv4
// form (10.0.0.0/8), matching the unmapped addresses it is compared with.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// prefixCovers reports whether every address of inner is in outer.
func prefixCovers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func prefixOverlapsAny(p netip.Prefix, set []netip.Prefix) bool {
	for _, q := range set {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

func prefixInsideAny(p netip.Prefix, set []netip.Prefix) bool {
	for _, q := range set {
		if prefixCovers(q, p) {
			return true
		}
	}
	return false
}

// trimOWS drops the optional whitespace of HTTP (spaces and tabs) around s.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
