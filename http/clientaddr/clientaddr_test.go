package clientaddr_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/http/clientaddr"
)

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func fwdHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestResolveClientAddr(t *testing.T) {
	proxy := clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: mustPrefixes("10.0.0.2/32", "10.0.1.0/24", "2001:db8:ffff::/48")}
	tests := []struct {
		name       string
		remote     string
		h          http.Header
		trust      clientaddr.ProxyTrust
		wantIP     string
		wantPeer   string
		forwarded  bool
		bypassSafe bool
		wantErr    error
	}{
		{name: "direct LAN client", remote: "192.168.1.20:51000", h: fwdHeader(), wantIP: "192.168.1.20", wantPeer: "192.168.1.20", bypassSafe: true},
		{name: "direct client, forwarding trusted elsewhere", remote: "192.168.1.20:51000", h: fwdHeader(), trust: proxy, wantIP: "192.168.1.20", wantPeer: "192.168.1.20", bypassSafe: true},
		{name: "direct IPv6 client", remote: "[2001:db8:1:2:3:4:5:6]:443", h: fwdHeader(), wantIP: "2001:db8:1:2:3:4:5:6", wantPeer: "2001:db8:1:2:3:4:5:6", bypassSafe: true},
		{name: "IPv4-mapped peer is unmapped", remote: "[::ffff:192.168.1.20]:51000", h: fwdHeader(), wantIP: "192.168.1.20", wantPeer: "192.168.1.20", bypassSafe: true},
		{name: "peer zone is dropped", remote: "[fe80::1%eth0]:51000", h: fwdHeader(), wantIP: "fe80::1", wantPeer: "fe80::1", bypassSafe: true},
		{name: "remote address without port", remote: "192.168.1.20", h: fwdHeader(), wantIP: "192.168.1.20", wantPeer: "192.168.1.20", bypassSafe: true},
		{
			name: "spoofed X-Forwarded-For from an untrusted peer", remote: "203.0.113.9:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "203.0.113.9", forwarded: true,
		},
		{
			name: "X-Real-IP from an untrusted LAN peer", remote: "192.168.1.20:4000", h: fwdHeader("X-Real-IP", "192.168.1.21"),
			wantIP: "192.168.1.20", wantPeer: "192.168.1.20", forwarded: true,
		},
		{
			name: "Forwarded from an untrusted LAN peer", remote: "192.168.1.20:4000", h: fwdHeader("Forwarded", "for=192.168.1.21"),
			wantIP: "192.168.1.20", wantPeer: "192.168.1.20", forwarded: true,
		},
		{
			name: "proxy not listed in trusted_proxies", remote: "192.168.1.5:4000", h: fwdHeader("X-Forwarded-For", "203.0.113.9"), trust: proxy,
			wantIP: "192.168.1.5", wantPeer: "192.168.1.5", forwarded: true,
		},
		{
			name: "trusted proxy forwards an internet client", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "203.0.113.9"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "trusted proxy forwards a LAN client", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20"), trust: proxy,
			wantIP: "192.168.1.20", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "client-supplied entries left of the client are ignored", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20, 203.0.113.9"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "chain of trusted proxies is skipped", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "198.51.100.7, 203.0.113.9, 10.0.1.7, 10.0.1.8"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "all trusted: the leftmost", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "10.0.1.9, 10.0.1.8"), trust: proxy,
			wantIP: "10.0.1.9", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "several header lines read as one list", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20", "X-Forwarded-For", "203.0.113.9, 10.0.1.8"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "entries with ports and IPv6", remote: "[2001:db8:ffff::1]:4000", h: fwdHeader("X-Forwarded-For", "[2001:db8:1::5]:8080, 10.0.1.8:443"), trust: proxy,
			wantIP: "2001:db8:1::5", wantPeer: "2001:db8:ffff::1", forwarded: true, bypassSafe: true,
		},
		{
			name: "IPv4-mapped trusted peer and entry", remote: "[::ffff:10.0.0.2]:4000", h: fwdHeader("X-Forwarded-For", "::ffff:203.0.113.9"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, bypassSafe: true,
		},
		{
			name: "trusted proxy sends no X-Forwarded-For", remote: "10.0.0.2:4000", h: fwdHeader(), trust: proxy,
			wantIP: "10.0.0.2", wantPeer: "10.0.0.2",
		},
		{
			name: "trusted proxy sends only X-Real-IP", remote: "10.0.0.2:4000", h: fwdHeader("X-Real-IP", "192.168.1.20"), trust: proxy,
			wantIP: "10.0.0.2", wantPeer: "10.0.0.2", forwarded: true,
		},
		{
			name: "trusted proxy but forwarding off", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20"),
			trust: clientaddr.ProxyTrust{TrustedProxies: proxy.TrustedProxies}, wantIP: "10.0.0.2", wantPeer: "10.0.0.2", forwarded: true,
		},
		{
			name: "trusted proxy, forwarding off, no headers", remote: "10.0.0.2:4000", h: fwdHeader(),
			trust: clientaddr.ProxyTrust{TrustedProxies: proxy.TrustedProxies}, wantIP: "10.0.0.2", wantPeer: "10.0.0.2",
		},
		{
			name: "forwarding on without trusted proxies", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20"),
			trust: clientaddr.ProxyTrust{TrustForwardedFor: true}, wantIP: "10.0.0.2", wantPeer: "10.0.0.2", forwarded: true,
		},
		{
			name: "junk left of the client keeps the client for rate limits", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "unknown, 203.0.113.9"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, wantErr: clientaddr.ErrMalformedForwardedFor,
		},
		{
			name: "junk where the proxy should have written the client", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "203.0.113.9, junk"), trust: proxy,
			wantIP: "10.0.0.2", wantPeer: "10.0.0.2", forwarded: true, wantErr: clientaddr.ErrMalformedForwardedFor,
		},
		{
			name: "junk behind a trusted hop: the last trusted address", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "203.0.113.9, junk, 10.0.1.7"), trust: proxy,
			wantIP: "10.0.1.7", wantPeer: "10.0.0.2", forwarded: true, wantErr: clientaddr.ErrMalformedForwardedFor,
		},
		{
			name: "empty X-Forwarded-For from a trusted proxy", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", ""), trust: proxy,
			wantIP: "10.0.0.2", wantPeer: "10.0.0.2", forwarded: true, wantErr: clientaddr.ErrMalformedForwardedFor,
		},
		{
			name: "empty entry in the chain", remote: "10.0.0.2:4000", h: fwdHeader("X-Forwarded-For", "192.168.1.20,,203.0.113.9"), trust: proxy,
			wantIP: "203.0.113.9", wantPeer: "10.0.0.2", forwarded: true, wantErr: clientaddr.ErrMalformedForwardedFor,
		},
		{name: "unix socket peer", remote: "@", h: fwdHeader(), wantErr: clientaddr.ErrInvalidRemoteAddr},
		{name: "host name peer", remote: "localhost:80", h: fwdHeader("X-Forwarded-For", "1.2.3.4"), forwarded: true, wantErr: clientaddr.ErrInvalidRemoteAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clientaddr.ResolveClientAddr(tt.remote, tt.h, tt.trust)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			want := clientaddr.ClientAddr{Forwarded: tt.forwarded, BypassSafe: tt.bypassSafe}
			if tt.wantIP != "" {
				want.IP = netip.MustParseAddr(tt.wantIP)
			}
			if tt.wantPeer != "" {
				want.Peer = netip.MustParseAddr(tt.wantPeer)
			}
			// ViaProxy: the peer is in trusted_proxies, forwarding trusted or not.
			for _, p := range tt.trust.TrustedProxies {
				want.ViaProxy = want.ViaProxy || p.Contains(want.Peer)
			}
			if got != want {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseXForwardedFor(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    []string
		wantErr bool
	}{
		{name: "none", values: nil, want: nil},
		{name: "one", values: []string{"203.0.113.9"}, want: []string{"203.0.113.9"}},
		{name: "list with spaces and tabs", values: []string{" 203.0.113.9 ,\t10.0.0.2 "}, want: []string{"203.0.113.9", "10.0.0.2"}},
		{name: "several lines", values: []string{"203.0.113.9", "10.0.0.2, 10.0.0.3"}, want: []string{"203.0.113.9", "10.0.0.2", "10.0.0.3"}},
		{name: "IPv4 with port", values: []string{"1.2.3.4:5678"}, want: []string{"1.2.3.4"}},
		{name: "IPv6 bracketed with port", values: []string{"[2001:db8::1]:80"}, want: []string{"2001:db8::1"}},
		{name: "IPv6 bracketed without port", values: []string{"[2001:db8::1]"}, want: []string{"2001:db8::1"}},
		{name: "IPv6 bare", values: []string{"2001:db8::1"}, want: []string{"2001:db8::1"}},
		{name: "IPv4-mapped is unmapped", values: []string{"::ffff:1.2.3.4", "[::ffff:5.6.7.8]:9"}, want: []string{"1.2.3.4", "5.6.7.8"}},
		{name: "zone dropped", values: []string{"fe80::1%eth0"}, want: []string{"fe80::1"}},
		{name: "empty line", values: []string{""}, wantErr: true},
		{name: "empty entry", values: []string{"1.2.3.4, ,5.6.7.8"}, wantErr: true},
		{name: "trailing comma", values: []string{"1.2.3.4,"}, wantErr: true},
		{name: "unknown", values: []string{"unknown"}, wantErr: true},
		{name: "host name", values: []string{"proxy.lan"}, wantErr: true},
		{name: "port out of range", values: []string{"1.2.3.4:65536"}, wantErr: true},
		{name: "empty port", values: []string{"1.2.3.4:"}, wantErr: true},
		{name: "IPv4 in brackets", values: []string{"[1.2.3.4]:80"}, wantErr: true},
		{name: "IPv6 with port but no brackets", values: []string{"2001:db8::1:80:"}, wantErr: true},
		{name: "obfuscated identifier from RFC 7239", values: []string{"_hidden"}, wantErr: true},
		{name: "one bad entry spoils the header", values: []string{"1.2.3.4", "5.6.7.8, x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clientaddr.ParseXForwardedFor(tt.values)
			if tt.wantErr {
				if !errors.Is(err, clientaddr.ErrMalformedForwardedFor) || got != nil {
					t.Fatalf("got %v, %v; want ErrMalformedForwardedFor and nothing", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			var want []netip.Addr
			for _, s := range tt.want {
				want = append(want, netip.MustParseAddr(s))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// TestRateLimitKey: rate limits and bans count an IPv4 client by its address and an
// IPv6 client by its prefix of security.ipv6_prefix bits, under the IP aggregate id
// of that block.
func TestRateLimitKey(t *testing.T) {
	tests := []struct {
		ip   string
		bits int
		want string
	}{
		{"203.0.113.9", 64, "203_0_113_9"},
		{"::ffff:203.0.113.9", 64, "203_0_113_9"},
		{"203.0.113.9", 48, "203_0_113_9"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::_64"},
		{"2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::_64"},
		{"fe80::1%eth0", 64, "fe80::_64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::_48"},
		{"2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::_56"},
		{"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::_56"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::_64"},
	}
	for _, tt := range tests {
		if got := clientaddr.RateLimitKey(netip.MustParseAddr(tt.ip), tt.bits); got != tt.want {
			t.Errorf("RateLimitKey(%s, %d) = %q, want %q", tt.ip, tt.bits, got, tt.want)
		}
	}
	if got := clientaddr.RateLimitKey(netip.Addr{}, 64); got != "" {
		t.Errorf("RateLimitKey(zero) = %q, want \"\"", got)
	}
}

func TestBypassWarnings(t *testing.T) {
	lan := mustPrefixes("192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12")
	tests := []struct {
		name      string
		lanBypass bool
		lan       []netip.Prefix
		trust     clientaddr.ProxyTrust
		want      []string // one substring per expected warning, in order
	}{
		{name: "defaults", lanBypass: true, lan: lan},
		{name: "proxy with forwarding on", lanBypass: true, lan: lan, trust: clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: mustPrefixes("10.0.0.2/32")}},
		{name: "bypass off", lanBypass: false, lan: mustPrefixes("0.0.0.0/0"), trust: clientaddr.ProxyTrust{TrustedProxies: mustPrefixes("0.0.0.0/0")}},
		{name: "no LAN ranges", lanBypass: true, want: []string{"security.lan_cidrs is empty"}},
		{
			name: "trusted proxies without forwarding", lanBypass: true, lan: lan, trust: clientaddr.ProxyTrust{TrustedProxies: mustPrefixes("192.168.1.2/32")},
			want: []string{"security.trust_forwarded_for is off"},
		},
		{
			name: "forwarding without trusted proxies", lanBypass: true, lan: lan, trust: clientaddr.ProxyTrust{TrustForwardedFor: true},
			want: []string{"security.trusted_proxies is empty"},
		},
		{
			name: "every address trusted", lanBypass: true, lan: lan, trust: clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: mustPrefixes("0.0.0.0/0", "::/0")},
			want: []string{"0.0.0.0/0, which trusts every address", "::/0, which trusts every address"},
		},
		{
			name: "trusted range covers a LAN range", lanBypass: true, lan: lan, trust: clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: mustPrefixes("10.0.0.0/8")},
			want: []string{"10.0.0.0/8 covers the whole LAN range 10.0.0.0/8"},
		},
		{
			name: "IPv4-mapped trusted range", lanBypass: true, lan: lan, trust: clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: mustPrefixes("::ffff:192.0.0.0/98")},
			want: []string{"192.0.0.0/2 covers the whole LAN range 192.168.0.0/16"},
		},
		{
			name: "loopback in LAN ranges", lanBypass: true, lan: mustPrefixes("192.168.0.0/16", "127.0.0.1/32"),
			want: []string{"127.0.0.1/32 includes loopback"},
		},
		{
			name: "public range in LAN ranges", lanBypass: true, lan: mustPrefixes("192.168.0.0/16", "203.0.113.0/24"),
			want: []string{"203.0.113.0/24 includes public internet addresses"},
		},
		{
			name: "everything as LAN", lanBypass: true, lan: mustPrefixes("::/0"),
			want: []string{"::/0 includes loopback", "::/0 includes public internet addresses"},
		},
		{name: "VPN, link-local and unique local LAN ranges are fine", lanBypass: true, lan: mustPrefixes("100.64.0.0/10", "169.254.0.0/16", "fd00::/8", "fe80::/10")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientaddr.BypassWarnings(tt.lanBypass, tt.lan, tt.trust)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d warnings %q, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func ExampleResolveClientAddr() {
	trust := clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}}

	// Caddy on 10.0.0.2 relays a request; the client claimed a LAN address itself.
	h := http.Header{}
	h.Set("X-Forwarded-For", "192.168.1.20, 2001:db8:5:6:7:8:9:a")
	ca, err := clientaddr.ResolveClientAddr("10.0.0.2:41234", h, trust)
	fmt.Println(ca.IP, ca.BypassSafe, clientaddr.RateLimitKey(ca.IP, 64), err)

	// The same claim sent straight to jfguard, bypassing the proxy.
	ca, err = clientaddr.ResolveClientAddr("198.51.100.4:5000", h, trust)
	fmt.Println(ca.IP, ca.BypassSafe, err)
	// Output:
	// 2001:db8:5:6:7:8:9:a true 2001:db8:5:6::_64 <nil>
	// 198.51.100.4 false <nil>
}

func ExampleBypassWarnings() {
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}
	trust := clientaddr.ProxyTrust{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.168.1.2/32")}}
	for _, w := range clientaddr.BypassWarnings(true, lan, trust) {
		fmt.Println(w)
	}
	// Output:
	// security.trusted_proxies is set but security.trust_forwarded_for is off: every request through those proxies carries the proxy's own address, so LAN bypass is refused for all of them (a proxy on the LAN would otherwise make internet sign-ins look local); turn trust_forwarded_for on to use the address the proxy forwards
}
