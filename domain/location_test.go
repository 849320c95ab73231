package domain

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Places of the location tests, with real coordinates.
var (
	berlin  = Place{Country: "Germany", City: "Berlin", Lat: 52.52, Lon: 13.405, Located: true}
	potsdam = Place{Country: "Germany", City: "Potsdam", Lat: 52.3906, Lon: 13.0645, Located: true}
	sydney  = Place{Country: "Australia", City: "Sydney", Lat: -33.8688, Lon: 151.2093, Located: true}
)

// signedInFrom is a past sign-in of the user from ip at when.
func signedInFrom(ip string, when time.Time) events.Payload {
	return at(when, from(ip, webDevice, passed(ReasonChallenge)))
}

func TestSignInNetwork(t *testing.T) {
	t.Parallel()
	for ip, want := range map[string]string{
		"192.0.2.77":             "192.0.2.0/24",
		"::ffff:192.0.2.77":      "192.0.2.0/24",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1::/48",
		"fe80::1%eth0":           "fe80::/48",
		"2001:db8:ffff:1::dead":  "2001:db8:ffff::/48",
		"198.51.100.255":         "198.51.100.0/24",
		"2001:db8:0:ffff::ffff":  "2001:db8::/48",
		"203.0.113.1":            "203.0.113.0/24",
		"::1":                    "::/48",
		"127.0.0.1":              "127.0.0.0/24",
		"10.1.2.3":               "10.1.2.0/24",
		"2001:db8:abcd:12::1234": "2001:db8:abcd::/48",
	} {
		if got := SignInNetwork(netip.MustParseAddr(ip)).String(); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
	if SignInNetwork(netip.Addr{}).IsValid() {
		t.Error("an invalid address has a network")
	}
}

func TestDecideLocation(t *testing.T) {
	t.Parallel()
	ago := func(d time.Duration) time.Time { return fixedNow.Add(-d) }
	berlinHome := []events.Payload{signedInFrom("192.0.2.7", ago(10*time.Minute))}
	cases := []struct {
		name  string
		given []events.Payload
		in    SignInPlace
		then  []events.Payload
	}{
		{
			// Nothing to compare with: no alert, or every user would alert once.
			name: "a first sign-in raises nothing",
			in:   SignInPlace{IP: netip.MustParseAddr("198.51.100.1"), Here: sydney},
		},
		{
			name:  "a known network raises nothing",
			given: berlinHome,
			in:    SignInPlace{IP: netip.MustParseAddr("192.0.2.200"), Here: berlin, Previous: berlin},
		},
		{
			name:  "a new network is a new location, named when the database knows it",
			given: berlinHome,
			in:    SignInPlace{IP: netip.MustParseAddr("203.0.113.9"), Here: potsdam, Previous: berlin},
			then:  []events.Payload{&events.NewLocation{Network: "203.0.113.0/24", Country: "Germany", City: "Potsdam"}},
		},
		{
			name:  "without a database a new network is still a new location",
			given: berlinHome,
			in:    SignInPlace{IP: netip.MustParseAddr("2001:db8:5::1")},
			then:  []events.Payload{&events.NewLocation{Network: "2001:db8:5::/48"}},
		},
		{
			name:  "Berlin then Sydney ten minutes later is impossible travel",
			given: berlinHome,
			in:    SignInPlace{IP: netip.MustParseAddr("198.51.100.1"), Here: sydney, Previous: berlin},
			then: []events.Payload{
				&events.NewLocation{Network: "198.51.100.0/24", Country: "Australia", City: "Sydney"},
				&events.ImpossibleTravel{
					FromNetwork: "192.0.2.0/24", FromCountry: "Germany", FromCity: "Berlin",
					ToNetwork: "198.51.100.0/24", ToCountry: "Australia", ToCity: "Sydney",
					DistanceKm: 16095, ElapsedSeconds: 600, SpeedKmh: 96567,
				},
			},
		},
		{
			// A stolen session used back and forth: the network is known by now,
			// the journey is still impossible.
			name:  "impossible travel is checked on known networks too",
			given: story(berlinHome, []events.Payload{signedInFrom("198.51.100.1", ago(5*time.Minute))}),
			in:    SignInPlace{IP: netip.MustParseAddr("192.0.2.8"), Here: berlin, Previous: sydney},
			then: []events.Payload{&events.ImpossibleTravel{
				FromNetwork: "198.51.100.0/24", FromCountry: "Australia", FromCity: "Sydney",
				ToNetwork: "192.0.2.0/24", ToCountry: "Germany", ToCity: "Berlin",
				DistanceKm: 16095, ElapsedSeconds: 300, SpeedKmh: 193134,
			}},
		},
		{
			name:  "Berlin then Sydney a day and a half later is a flight",
			given: []events.Payload{signedInFrom("192.0.2.7", ago(36*time.Hour))},
			in:    SignInPlace{IP: netip.MustParseAddr("198.51.100.1"), Here: sydney, Previous: berlin},
			then:  []events.Payload{&events.NewLocation{Network: "198.51.100.0/24", Country: "Australia", City: "Sydney"}},
		},
		{
			// Under MinTravelKm, city-level geolocation error dominates.
			name:  "neighbouring cities a minute apart are not a journey",
			given: []events.Payload{signedInFrom("192.0.2.7", ago(time.Minute))},
			in:    SignInPlace{IP: netip.MustParseAddr("203.0.113.9"), Here: potsdam, Previous: berlin},
			then:  []events.Payload{&events.NewLocation{Network: "203.0.113.0/24", Country: "Germany", City: "Potsdam"}},
		},
		{
			name:  "a previous place the database does not know raises no travel",
			given: berlinHome,
			in:    SignInPlace{IP: netip.MustParseAddr("198.51.100.1"), Here: sydney},
			then:  []events.Payload{&events.NewLocation{Network: "198.51.100.0/24", Country: "Australia", City: "Sydney"}},
		},
		{
			// An adopted session's address is the administrator's.
			name:  "adopted sessions are no history",
			given: []events.Payload{at(ago(time.Minute), from("192.0.2.7", webDevice, passed(ReasonAdopted)))},
			in:    SignInPlace{IP: netip.MustParseAddr("198.51.100.1"), Here: sydney, Previous: berlin},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, story(discovered(), c.given)...)
			c.in.Now = fixedNow
			thenEvents(t, DecideLocation(u, c.in), c.then...)
		})
	}
}

func TestKnownNetworksAreBounded(t *testing.T) {
	t.Parallel()
	var past []events.Payload
	for i := range MaxKnownNetworks + 6 {
		past = append(past, signedInFrom(fmt.Sprintf("10.0.%d.1", i), fixedNow.Add(time.Duration(i-100)*time.Minute)))
	}
	// Network 10.0.0.0/24, the oldest, is used again: it becomes the most recent.
	past = append(past, signedInFrom("10.0.0.2", fixedNow.Add(-time.Second)))
	u := given(t, testUserID, past...)
	if n := len(u.Whereabouts.Networks); n != MaxKnownNetworks {
		t.Fatalf("%d networks kept, want %d", n, MaxKnownNetworks)
	}
	for ip, isNew := range map[string]bool{"10.0.0.9": false, "10.0.69.9": false, "10.0.7.9": false, "10.0.6.9": true, "10.0.1.9": true} {
		if got := u.IsNewNetwork(netip.MustParseAddr(ip)); got != isNew {
			t.Errorf("%s new = %v, want %v", ip, got, isNew)
		}
	}
	if u.Whereabouts.LastIP != netip.MustParseAddr("10.0.0.2") || !u.Whereabouts.LastSignIn.Equal(fixedNow.Add(-time.Second)) {
		t.Errorf("last sign-in %v at %v", u.Whereabouts.LastIP, u.Whereabouts.LastSignIn)
	}
	c := u.Clone()
	c.Whereabouts.Networks[0].Prefix = netip.Prefix{}
	if !u.Whereabouts.Networks[0].Prefix.IsValid() {
		t.Error("a clone shares the networks")
	}
}

func TestImpossibleTravel(t *testing.T) {
	t.Parallel()
	if km := DistanceKm(berlin, sydney); math.Abs(km-16095) > 1 {
		t.Errorf("Berlin–Sydney %.0f km", km)
	}
	for _, c := range []struct {
		km      float64
		elapsed time.Duration
		want    bool
	}{
		{1000, time.Hour, false},        // exactly 1,000 km/h: an airliner
		{1001, time.Hour, true},         // faster
		{16095, 20 * time.Hour, false},  // a long-haul flight
		{16095, 10 * time.Minute, true}, //
		{99, 0, false},                  // under MinTravelKm
		{100, 0, true},                  // at once, far apart
		{500, -time.Minute, true},       // a clock that went back counts as no time
		{100, 7 * time.Minute, false},   // 857 km/h
	} {
		if got := ImpossibleTravel(c.km, c.elapsed); got != c.want {
			t.Errorf("%.0f km in %s: %v, want %v", c.km, c.elapsed, got, c.want)
		}
	}
}

func TestNewLocationSecondFactor(t *testing.T) {
	t.Parallel()
	expires := fixedNow.Add(28 * 24 * time.Hour)
	past := story(discovered(), withTOTP(), []events.Payload{
		trustedBrowser("b1", webDevice.ID, expires),
		signedInFrom(wanIP.String(), fixedNow.Add(-time.Hour)),
	})
	on := DefaultPolicy()
	on.NewLocationSecondFactor = true
	for _, c := range []struct {
		name   string
		pol    Policy
		ip     string
		past   []events.Payload
		passes bool
	}{
		{"policy off: a trusted browser passes from a new network", DefaultPolicy(), "198.51.100.1", past, true},
		{"policy on: a trusted browser passes from a known network", on, "203.0.113.99", past, true},
		{"policy on: a trusted browser is challenged from a new network", on, "198.51.100.1", past, false},
		{"policy on: no history, nothing is new", on, "198.51.100.1", story(discovered(), withTOTP(), []events.Payload{trustedBrowser("b1", webDevice.ID, expires)}), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := baseSignIn()
			in.IP, in.Trust = netip.MustParseAddr(c.ip), cookie("b1", 0)
			out := DecideSignIn(given(t, testUserID, c.past...), c.pol, in)
			if out.Pass != c.passes {
				t.Fatalf("pass = %v (%s), want %v", out.Pass, out.Reason, c.passes)
			}
			if !c.passes {
				// The cookie is not spent: the browser keeps its trust for later.
				thenEvents(t, out.Events, challenged(true, MethodTOTP))
			}
		})
	}
	// A user without a second factor is unaffected.
	in := baseSignIn()
	in.IP = netip.MustParseAddr("198.51.100.1")
	out := DecideSignIn(given(t, testUserID, story(discovered(), []events.Payload{signedInFrom(wanIP.String(), fixedNow.Add(-time.Hour))})...), on, in)
	if !out.Pass || out.Reason != ReasonNoSecondFactor {
		t.Errorf("no second factor: pass = %v (%s)", out.Pass, out.Reason)
	}
}

// The projection's snapshots are gob: the history survives a restart.
func TestWhereaboutsSurviveASnapshot(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, signedInFrom("192.0.2.7", fixedNow.Add(-time.Hour)), signedInFrom("2001:db8:1::9", fixedNow))
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(u); err != nil {
		t.Fatal(err)
	}
	var back User
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	if len(back.Whereabouts.Networks) != 2 || back.Whereabouts.Networks[1].Prefix != netip.MustParsePrefix("2001:db8:1::/48") ||
		back.Whereabouts.LastIP != netip.MustParseAddr("2001:db8:1::9") || !back.Whereabouts.LastSignIn.Equal(fixedNow) {
		t.Fatalf("after a snapshot: %+v", back.Whereabouts)
	}
}
