package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase/geo/geotest"
)

// locationGateway is a gateway behind a trusted proxy on loopback (so tests choose
// the client's address with X-Forwarded-For), with the test geolocation database
// (Berlin, Sydney, Potsdam) and a webhook that hears the default alerts.
func locationGateway(t *testing.T, extra map[string]string) (*testGateway, *hook) {
	t.Helper()
	h := startHook(t, nil)
	settings := maps.Clone(proxySettings)
	settings["notify.allow_private_hosts"] = "127.0.0.1"
	settings["geo.database_file"] = geotest.Write(t, geotest.Default)
	maps.Copy(settings, extra)
	g := startGateway(t, options{
		settings:      settings,
		configFile:    writeSettings(t, fmt.Sprintf("notify:\n  webhooks:\n    - url: %q\n      secret: %q\n", h.URL+"/jfguard", "whsec-location-1")),
		notifyBackoff: 20 * time.Millisecond,
	})
	return g, h
}

// from is the header of a client at ip behind the trusted proxy.
func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

// TestNewLocationAndImpossibleTravel: bob (no second factor) signs in in Berlin,
// then from a new network in Sydney minutes later. The stream records the new
// location and the impossible journey, and the webhook is told of both.
func TestNewLocationAndImpossibleTravel(t *testing.T) {
	t.Parallel()
	g, h := locationGateway(t, nil)
	g.signedIn(t, "bob", bobPassword, "bob-laptop", from("192.0.2.10")...)
	// The first sign-in has nothing to compare with; the same /24 again is known.
	g.clock.Advance(time.Minute)
	g.signedIn(t, "bob", bobPassword, "bob-laptop", from("192.0.2.99")...)
	if n := g.eventTypes(t)[events.TypeNewLocation]; n != 0 {
		t.Fatalf("%d new_location events for known networks", n)
	}

	g.clock.Advance(5 * time.Minute)
	g.signedIn(t, "bob", bobPassword, "bob-phone", from("198.51.100.20")...)
	nl := g.eventsOf(t, events.TypeNewLocation)
	if len(nl) != 1 || nl[0].IP != "198.51.100.20" || nl[0].AggregateID != g.bob.ID {
		t.Fatalf("new_location events: %+v", nl)
	}
	var loc events.NewLocation
	if err := json.Unmarshal(nl[0].Data, &loc); err != nil || loc.Network != "198.51.100.0/24" || loc.City != "Sydney" || loc.Country != "Australia" {
		t.Fatalf("new_location = %+v, %v", loc, err)
	}
	trips := g.eventsOf(t, events.TypeImpossibleTravel)
	if len(trips) != 1 {
		t.Fatalf("%d impossible_travel events", len(trips))
	}
	var trip events.ImpossibleTravel
	if err := json.Unmarshal(trips[0].Data, &trip); err != nil || trip.FromCity != "Berlin" || trip.ToCity != "Sydney" || trip.ElapsedSeconds != 300 {
		t.Fatalf("impossible_travel = %+v, %v", trip, err)
	}

	eventually(t, "both alerts reach the webhook", func() bool {
		return len(h.requests(events.TypeNewLocation)) > 0 && len(h.requests(events.TypeImpossibleTravel)) > 0
	})
	if body := string(h.requests(events.TypeNewLocation)[0].body); !strings.Contains(body, "Sydney") || !strings.Contains(body, "bob") {
		t.Errorf("new_location alert: %s", body)
	}
	if body := string(h.requests(events.TypeImpossibleTravel)[0].body); !strings.Contains(body, "Berlin") || !strings.Contains(body, "Sydney") {
		t.Errorf("impossible_travel alert: %s", body)
	}
}

// TestNewLocationIgnoresForgedForwardedFor: a client that is not a trusted proxy
// cannot choose its location with X-Forwarded-For, neither to raise alerts nor to
// hide behind a known network: the address is the one the gate resolved.
func TestNewLocationIgnoresForgedForwardedFor(t *testing.T) {
	t.Parallel()
	g, _ := locationGateway(t, map[string]string{"security.trusted_proxies": "192.0.2.1"})
	g.signedIn(t, "bob", bobPassword, "bob-laptop", from("192.0.2.10")...)
	g.signedIn(t, "bob", bobPassword, "bob-laptop", from("198.51.100.20")...)
	if n := g.eventTypes(t); n[events.TypeNewLocation]+n[events.TypeImpossibleTravel] != 0 {
		t.Fatalf("forged addresses raised location events: %v", n)
	}
	for _, ev := range g.eventsOf(t, events.TypeSessionVerified) {
		if ev.IP != "127.0.0.1" {
			t.Errorf("a session recorded from %q", ev.IP)
		}
	}
}

// TestNewLocationSecondFactorPolicy: with security.new_location_second_factor on,
// alice's trusted browser skips the second factor at home but is asked for it from
// a network she never used; the cookie stays valid for home.
func TestNewLocationSecondFactorPolicy(t *testing.T) {
	t.Parallel()
	g, _ := locationGateway(t, map[string]string{"security.new_location_second_factor": "true"})
	home := from("203.0.113.9")
	// alice signs in at home, enrolls and trusts her browser there
	g.signedIn(t, "alice", alicePassword, "alice-home", home...)
	f := g.enroll(t, "alice", alicePassword)
	g.clock.Advance(30 * time.Second)
	c := g.challenged(t, "alice-laptop", append(web, home...)...)
	res := g.verify(t, c.id, map[string]any{"method": "totp", "code": g.code(t, f.secret), "trust_browser": true, "device_id": "alice-laptop"}, home...)
	cookie := trustCookie(res)
	if res.status != http.StatusOK || cookie == nil {
		t.Fatalf("trust this browser: status %d: %s", res.status, res.body)
	}
	// from a new network: challenged despite the trusted browser
	away := g.signIn(t, "alice", alicePassword, "alice-laptop", append(web, append(from("198.51.100.20"), "Cookie", "jfguard_trust="+cookie.Value)...)...)
	if _, ok := g.challengeOf(t, away); !ok {
		t.Fatalf("a trusted browser from a new network was let through: status %d: %s", away.status, away.body)
	}
	// at home the same cookie still passes
	back := g.signIn(t, "alice", alicePassword, "alice-laptop", append(web, append(home, "Cookie", "jfguard_trust="+cookie.Value)...)...)
	if back.status != http.StatusOK || trustCookie(back) == nil {
		t.Fatalf("the trusted browser at home: status %d: %s", back.status, back.body)
	}
}
