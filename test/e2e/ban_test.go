package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// proxySettings make the loopback peer a trusted reverse proxy, so a test can speak
// for clients at any address with X-Forwarded-For.
var proxySettings = map[string]string{"security.trust_forwarded_for": "true", "security.trusted_proxies": "127.0.0.1"}

// TestBanCoversTheIPv6Prefix: whoever holds an IPv6 /64 can pick any of its 2^64
// addresses, so failed sign-ins and bans count the /64 as one client. Twenty failures
// from twenty addresses of one /64 ban the /64: an address of it never seen before is
// refused by the gate, by jfguard's own API and at the password step, while the next
// /64 is not. The administrator sees and lifts the ban as the prefix; a ban an older
// version recorded on an IPv6 address alone still holds for that address.
func TestBanCoversTheIPv6Prefix(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{settings: proxySettings})
	setup := g.signedIn(t, "alice", alicePassword, "alice-setup")

	for i := 1; i <= 20; i++ {
		// Spread over ten minutes, inside the ban window, as a patient attacker would.
		g.clock.Advance(30 * time.Second)
		from := fmt.Sprintf("2001:db8:1:2:%x::1", i)
		res := g.signIn(t, fmt.Sprintf("nobody-%d", i), "guess", "rotating-"+from, "X-Forwarded-For", from)
		if res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d from %s: status %d: %s", i, from, res.status, res.body)
		}
	}
	bans := g.eventsOf(t, "ip_banned")
	if len(bans) != 1 || bans[0].AggregateID != "2001:db8:1:2::_64" {
		t.Fatalf("ip_banned events %+v, want one on 2001:db8:1:2::_64", bans)
	}

	newcomer := []string{"X-Forwarded-For", "2001:db8:1:2:ffff:ffff:ffff:fffe"}
	elsewhere := []string{"X-Forwarded-For", "2001:db8:1:3::1"}
	refused := func(t *testing.T, from []string) {
		t.Helper()
		for _, tc := range []struct {
			name   string
			method string
			path   string
			body   any
			header []string
		}{
			{"the gate", http.MethodGet, "/System/Info/Public", nil, nil},
			{"the password step", http.MethodPost, "/Users/AuthenticateByName", map[string]string{"Username": "alice", "Pw": alicePassword},
				[]string{"Authorization", clientHeader("newcomer", "")}},
			{"jfguard's sign-in", http.MethodPost, "/jfguard/api/login", map[string]string{"username": "alice", "password": alicePassword}, nil},
			{"self-service", http.MethodGet, "/jfguard/api/me", nil, []string{"Authorization", tokenHeader(setup)}},
		} {
			if res := g.do(t, tc.method, tc.path, tc.body, append(tc.header, from...)...); res.status != http.StatusForbidden {
				t.Errorf("%s from %s: status %d, want 403: %s", tc.name, from[1], res.status, res.body)
			}
		}
	}
	refused(t, newcomer)
	if res := g.signIn(t, "alice", alicePassword, "elsewhere", elsewhere...); res.status != http.StatusOK {
		t.Errorf("alice from another /64: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodGet, "/jfguard/api/me", nil, append([]string{"Authorization", tokenHeader(setup)}, elsewhere...)...); res.status != http.StatusOK {
		t.Errorf("self-service from another /64: status %d: %s", res.status, res.body)
	}

	raw, rerr := g.rpc(t, "bans.list", map[string]any{})
	var list []struct{ IP, Prefix string }
	if rerr != nil || json.Unmarshal(raw, &list) != nil || len(list) != 1 || list[0].IP != "2001:db8:1:2::/64" || list[0].Prefix != "2001:db8:1:2::/64" {
		t.Errorf("bans.list: %s %v", raw, rerr)
	}
	if _, rerr := g.rpc(t, "bans.add", map[string]any{"ip": "2001:db8:7::/48"}); rerr == nil || !strings.Contains(rerr.Message, "/64 (security.ipv6_prefix)") {
		t.Errorf("banning a /48 while clients are counted by /64: %+v", rerr)
	}
	raw, rerr = g.rpc(t, "bans.add", map[string]any{"ip": "2001:db8:1:4::9", "duration": "1h"})
	var added struct {
		IP, Prefix string
		Banned     bool
	}
	if rerr != nil || json.Unmarshal(raw, &added) != nil || added.Prefix != "2001:db8:1:4::/64" || !added.Banned {
		t.Errorf("bans.add of an address: %s %v", raw, rerr)
	}
	refused(t, []string{"X-Forwarded-For", "2001:db8:1:4::1"})

	raw, rerr = g.rpc(t, "bans.remove", map[string]any{"ip": "2001:db8:1:2:ffff:ffff:ffff:fffe"})
	var removed struct {
		Prefix   string
		Unbanned bool
	}
	if rerr != nil || json.Unmarshal(raw, &removed) != nil || removed.Prefix != "2001:db8:1:2::/64" || !removed.Unbanned {
		t.Fatalf("bans.remove of an address of the banned /64: %s %v", raw, rerr)
	}
	if res := g.do(t, http.MethodGet, "/System/Info/Public", nil, newcomer...); res.status != http.StatusOK {
		t.Errorf("the /64 after its ban was lifted: status %d", res.status)
	}

	// A stream from before prefixes: a ban on one IPv6 address still holds for it,
	// and only for it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.main.Projector().ExecAddress(ctx, events.IPAggregateID("2001:db8:9::1"), events.Context{Actor: "admin", IP: "2001:db8:9::1"},
		func(_ *domain.Address, now time.Time) ([]events.Payload, error) {
			return []events.Payload{&events.IPBanned{Until: now.Add(time.Hour), Reason: "banned before prefixes"}}, nil
		}); err != nil {
		t.Fatal(err)
	}
	refused(t, []string{"X-Forwarded-For", "2001:db8:9::1"})
	if res := g.do(t, http.MethodGet, "/System/Info/Public", nil, "X-Forwarded-For", "2001:db8:9::2"); res.status != http.StatusOK {
		t.Errorf("a neighbour of an address banned alone: status %d", res.status)
	}
	raw, rerr = g.rpc(t, "bans.remove", map[string]any{"ip": "2001:db8:9::1"})
	if rerr != nil || json.Unmarshal(raw, &removed) != nil || removed.Prefix != "2001:db8:9::1/128" {
		t.Errorf("bans.remove of an address banned alone: %s %v", raw, rerr)
	}
}
