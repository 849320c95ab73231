package notifiers

import (
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestLocationAlertsSayWhereAndHowFast: the new-network alert names the network and
// the place; the impossible-travel alert names both ends, the distance, the time
// between and the speed; without a place the network stands in for it.
func TestLocationAlertsSayWhereAndHowFast(t *testing.T) {
	t.Parallel()
	d := Describer{NameOf: names(map[string]string{"u1": "alice"}), Location: time.UTC}
	at := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	mk := func(p events.Payload) events.Event {
		return events.Must("u1", at, events.Context{Actor: "u1", IP: "198.51.100.20"}, p)
	}

	a, ok := d.Describe(mk(&events.NewLocation{Network: "198.51.100.0/24", Country: "Australia", City: "Sydney"}))
	if !ok {
		t.Fatal("new_location not described")
	}
	if miss, ok := hasAll(a.Title+"\n"+a.Text(), "alice", "new network", "198.51.100.0/24", "Sydney, Australia", "198.51.100.20", "sign them out everywhere"); !ok {
		t.Errorf("new_location alert lacks %q:\n%s", miss, a.Text())
	}
	a, _ = d.Describe(mk(&events.NewLocation{Network: "2001:db8:7::/48"}))
	if miss, ok := hasAll(a.Text(), "2001:db8:7::/48", "not used before."); !ok {
		t.Errorf("new_location without a place lacks %q:\n%s", miss, a.Text())
	}

	a, _ = d.Describe(mk(&events.ImpossibleTravel{
		FromNetwork: "192.0.2.0/24", FromCountry: "Germany", FromCity: "Berlin",
		ToNetwork: "198.51.100.0/24", ToCountry: "Australia", ToCity: "Sydney",
		DistanceKm: 16095, ElapsedSeconds: 300, SpeedKmh: 193134,
	}))
	if miss, ok := hasAll(a.Title+"\n"+a.Text(), "Impossible travel: alice", "Berlin, Germany (192.0.2.0/24)", "Sydney, Australia (198.51.100.0/24)", "16095 km", "5m0s", "193134 km/h"); !ok {
		t.Errorf("impossible_travel alert lacks %q:\n%s", miss, a.Text())
	}
	if a.Priority != 5 || a.Severity != SeverityCritical {
		t.Errorf("impossible_travel: priority %d severity %s", a.Priority, a.Severity)
	}
	a, _ = d.Describe(mk(&events.ImpossibleTravel{FromNetwork: "192.0.2.0/24", ToNetwork: "198.51.100.0/24", DistanceKm: 500}))
	if miss, ok := hasAll(a.Text(), "the network 192.0.2.0/24", "the network 198.51.100.0/24"); !ok {
		t.Errorf("impossible_travel without places lacks %q:\n%s", miss, a.Text())
	}
}
