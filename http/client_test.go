package gateway

import (
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
