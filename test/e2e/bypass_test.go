package e2e

import (
	"maps"
	"net/http"
	"slices"
	"testing"
)

// TestLANBypass: who counts as local. The test client connects from 127.0.0.1,
// which is not a LAN address unless security.loopback_bypass is on; behind a
// reverse proxy, X-Forwarded-For counts only from a trusted proxy with
// trust_forwarded_for on, and a trusted proxy that names no client never makes a
// sign-in local (a proxy on the LAN relays internet sign-ins too).
func TestLANBypass(t *testing.T) {
	t.Parallel()
	proxy := map[string]string{"security.trust_forwarded_for": "true", "security.trusted_proxies": "127.0.0.1"}
	with := func(base map[string]string, extra ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		header   []string
		bypass   bool
		// upstreamFor is the client address Jellyfin is told (X-Forwarded-For).
		upstreamFor string
	}{
		{name: "loopback is not the LAN by default", settings: nil, bypass: false, upstreamFor: "127.0.0.1"},
		{name: "loopback bypass, direct", settings: map[string]string{"security.loopback_bypass": "true"}, bypass: true, upstreamFor: "127.0.0.1"},
		{name: "trusted proxy forwards a LAN client", settings: proxy,
			header: []string{"X-Forwarded-For", "192.168.1.50"}, bypass: true, upstreamFor: "192.168.1.50"},
		{name: "trusted proxy forwards an internet client", settings: proxy,
			header: []string{"X-Forwarded-For", "203.0.113.9"}, bypass: false, upstreamFor: "203.0.113.9"},
		{name: "internet client claims a LAN address before the proxy", settings: proxy,
			header: []string{"X-Forwarded-For", "192.168.1.50, 203.0.113.9"}, bypass: false, upstreamFor: "203.0.113.9"},
		{name: "spoofed header from a peer that is not a trusted proxy", settings: map[string]string{"security.trust_forwarded_for": "true"},
			header: []string{"X-Forwarded-For", "192.168.1.50"}, bypass: false, upstreamFor: "127.0.0.1"},
		{name: "trusted proxy that sends no X-Forwarded-For", settings: with(proxy, "security.loopback_bypass", "true"),
			bypass: false, upstreamFor: "127.0.0.1"},
		{name: "LAN bypass off", settings: with(proxy, "security.lan_bypass", "false"),
			header: []string{"X-Forwarded-For", "192.168.1.50"}, bypass: false, upstreamFor: "192.168.1.50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, options{settings: tc.settings})
			g.enrollAlice(t)
			res := g.signIn(t, "alice", alicePassword, "alice-lan", tc.header...)
			_, challenged := g.challengeOf(t, res)
			switch {
			case tc.bypass && res.status != http.StatusOK:
				t.Fatalf("want a token without a code; status %d: %s", res.status, res.body)
			case tc.bypass:
				token := g.heldToken(t, "alice-lan")
				if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(token)); res.status != http.StatusOK {
					t.Errorf("the bypassed token: status %d", res.status)
				}
				if reasons := g.sessionReasons(t); !slices.Contains(reasons, "lan") {
					t.Errorf("session reasons %v, want one for the LAN", reasons)
				}
			case !challenged:
				t.Fatalf("want a challenge; status %d: %s", res.status, res.body)
			}
			signIns := g.upstream.Find(http.MethodPost, "/Users/AuthenticateByName")
			if got := signIns[len(signIns)-1].Header.Get("X-Forwarded-For"); got != tc.upstreamFor {
				t.Errorf("Jellyfin was told the client is %q, want %q", got, tc.upstreamFor)
			}
		})
	}
}
