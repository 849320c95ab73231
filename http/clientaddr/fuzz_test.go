package clientaddr_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
)

// forwardedSeeds are X-Forwarded-For values as proxies write them, and some that no
// proxy should write.
var forwardedSeeds = []string{
	"203.0.113.9", "192.168.1.20, 203.0.113.9", "203.0.113.9, 10.0.1.7, 10.0.1.8",
	"[2001:db8::1]:80, 1.2.3.4:5678", "::ffff:1.2.3.4", "fe80::1%eth0", "unknown, 203.0.113.9",
	"203.0.113.9\n10.0.1.8", "", ",", "1.2.3.4:65536", "[1.2.3.4]", "_hidden",
}

func FuzzParseXForwardedFor(f *testing.F) {
	for _, s := range forwardedSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		lines := strings.Split(header, "\n")
		addrs, err := clientaddr.ParseXForwardedFor(lines)
		if err != nil {
			if !errors.Is(err, clientaddr.ErrMalformedForwardedFor) || addrs != nil {
				t.Fatalf("got %v with error %v", addrs, err)
			}
			return
		}
		if want := strings.Count(header, ",") + len(lines); len(addrs) != want {
			t.Fatalf("%q: %d addresses, want %d", header, len(addrs), want)
		}
		for _, a := range addrs {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("%q: address %v is not normalized", header, a)
			}
			if again, err := clientaddr.ParseXForwardedFor([]string{a.String()}); err != nil || again[0] != a {
				t.Fatalf("%v does not parse back: %v %v", a, again, err)
			}
		}
	})
}

func FuzzResolveClientAddr(f *testing.F) {
	for _, xff := range forwardedSeeds {
		f.Add("10.0.0.2:4000", true, xff, "", true, "10.0.0.2 10.0.1.0/24")
		f.Add("203.0.113.9:4000", true, xff, "", true, "10.0.0.2")
	}
	f.Add("192.168.1.20:51000", false, "", "", false, "")
	f.Add("[::ffff:10.0.0.2]:80", true, "192.168.1.20", "", true, "::ffff:10.0.0.0/104")
	f.Add("10.0.0.2:4000", false, "", "192.168.1.20", true, "10.0.0.0/8")
	f.Add("10.0.0.2:4000", true, "192.168.1.20", "", false, "10.0.0.2")
	f.Add("[fe80::1%eth0]:1", true, "fe80::2", "", true, "fe80::/10")
	f.Add("@", false, "", "", false, "")
	f.Fuzz(func(t *testing.T, remote string, hasXFF bool, xff, realIP string, trustForwarded bool, proxies string) {
		trust := clientaddr.ProxyTrust{TrustForwardedFor: trustForwarded}
		for field := range strings.FieldsSeq(proxies) {
			if p, err := netip.ParsePrefix(field); err == nil {
				trust.TrustedProxies = append(trust.TrustedProxies, p)
			} else if a, err := netip.ParseAddr(field); err == nil {
				trust.TrustedProxies = append(trust.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		h := http.Header{}
		var lines []string
		if hasXFF {
			lines = strings.Split(xff, "\n")
			h["X-Forwarded-For"] = lines
		}
		if realIP != "" {
			h["X-Real-Ip"] = []string{realIP}
		}

		ca, err := clientaddr.ResolveClientAddr(remote, h, trust)
		if ca.Forwarded != (hasXFF || realIP != "") {
			t.Fatalf("Forwarded = %v with X-Forwarded-For %v and X-Real-IP %q", ca.Forwarded, hasXFF, realIP)
		}
		if errors.Is(err, clientaddr.ErrInvalidRemoteAddr) {
			if ca.IP.IsValid() || ca.Peer.IsValid() || ca.BypassSafe {
				t.Fatalf("invalid remote %q gave %+v", remote, ca)
			}
			return
		}
		if err != nil && !errors.Is(err, clientaddr.ErrMalformedForwardedFor) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		for _, a := range []netip.Addr{ca.IP, ca.Peer} {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("address %v is not normalized", a)
			}
		}
		if ca.IP != ca.Peer && !inForwardedFor(lines, ca.IP) {
			t.Fatalf("IP %v is neither the peer %v nor in X-Forwarded-For %q", ca.IP, ca.Peer, lines)
		}
		if err != nil && ca.BypassSafe {
			t.Fatalf("bypass judged safe despite %v", err)
		}
		peerTrusted := false
		for _, p := range trust.TrustedProxies {
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			peerTrusted = peerTrusted || p.Contains(ca.Peer)
		}
		if ca.Forwarded && !peerTrusted && ca.BypassSafe {
			t.Fatalf("bypass judged safe for forwarding headers from untrusted peer %v", ca.Peer)
		}
		if peerTrusted && ca.BypassSafe {
			if _, perr := clientaddr.ParseXForwardedFor(lines); !trustForwarded || !hasXFF || perr != nil {
				t.Fatalf("bypass judged safe for trusted peer %v without a usable X-Forwarded-For", ca.Peer)
			}
		}
		if (!trustForwarded || !peerTrusted) && ca.IP != ca.Peer {
			t.Fatalf("IP %v differs from peer %v although forwarding is not trusted", ca.IP, ca.Peer)
		}
		if key := clientaddr.RateLimitKey(ca.IP, 64); key == "" || !events.ValidAggregateID(key) {
			t.Fatalf("rate-limit key %q for %v is not an aggregate id", key, ca.IP)
		}
	})
}

// inForwardedFor reports whether ip is one of the entries of the header lines, each
// entry parsed on its own so that a malformed neighbour does not hide it.
func inForwardedFor(lines []string, ip netip.Addr) bool {
	for _, line := range lines {
		for entry := range strings.SplitSeq(line, ",") {
			if got, err := clientaddr.ParseXForwardedFor([]string{entry}); err == nil && got[0] == ip {
				return true
			}
		}
	}
	return false
}
