package gateway

import (
	"net/netip"
	"testing"

	"github.com/jfguard/jfguard/http/clientaddr"
)

// TestAddrSource: the labels of jfguard_client_addresses_total, which jfguard doctor
// reads to tell requests that went around the proxy from those it forwarded.
func TestAddrSource(t *testing.T) {
	for _, tt := range []struct {
		addr clientaddr.ClientAddr
		want string
	}{
		{clientaddr.ClientAddr{}, "direct"},
		{clientaddr.ClientAddr{Forwarded: true}, "untrusted_header"},
		{clientaddr.ClientAddr{ViaProxy: true, Forwarded: true}, "proxy"},
		{clientaddr.ClientAddr{ViaProxy: true}, "proxy_without_header"},
	} {
		if got := addrSource(tt.addr); got != tt.want {
			t.Errorf("addrSource(%+v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	for path, want := range map[string]bool{
		"/jfguard/rpc": true, "/jfguard/healthz": true, "/jfguard/readyz/": true, "/jfguard/metrics": true,
		"/jfguard/login": false, "/Users/AuthenticateByName": false, "/web/": false,
	} {
		if got := operatorRoute(path); got != want {
			t.Errorf("operatorRoute(%s) = %v, want %v", path, got, want)
		}
	}
}

// TestClientAddrHeader: the client address the front hands the engine reads back
// as it was, whatever its flags, and the engine reads nothing else.
func TestClientAddrHeader(t *testing.T) {
	ip, peer := netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("192.0.2.1")
	for _, a := range []clientaddr.ClientAddr{
		{},
		{Forwarded: true},
		{IP: peer, Peer: peer, BypassSafe: true},
		{IP: ip, Peer: peer, Forwarded: true, ViaProxy: true, BypassSafe: true},
		{IP: ip, Peer: peer, ViaProxy: true},
	} {
		got, err := parseClientAddr(formatClientAddr(a))
		if err != nil || got != a {
			t.Errorf("%+v came back as %+v (%v) from %q", a, got, err, formatClientAddr(a))
		}
	}
	for _, v := range []string{"", "-", "- -", "- - -x", "- - bb x", "1.2.3.4 1.2.3.4 q", "1.2.3.4  b", "fe80::1%eth0 - b", "1.2.3.4:80 - b"} {
		if _, err := parseClientAddr(v); err == nil {
			t.Errorf("read %q", v)
		}
	}
}
