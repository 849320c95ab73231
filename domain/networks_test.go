package domain

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events"
)

func TestParseNetworks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{name: "empty is anywhere", in: nil, want: []string{}},
		{name: "masked to the network", in: []string{"192.0.2.77/24", "2001:db8:0:2::5/48"}, want: []string{"192.0.2.0/24", "2001:db8::/48"}},
		{name: "an address is a host network", in: []string{"198.51.100.7", "2001:db8::1"}, want: []string{"198.51.100.7/32", "2001:db8::1/128"}},
		{name: "IPv4-mapped IPv6 is IPv4", in: []string{"::ffff:192.0.2.0/120", "::ffff:198.51.100.7"}, want: []string{"192.0.2.0/24", "198.51.100.7/32"}},
		{name: "sorted and without duplicates", in: []string{" 10.0.0.0/8", "10.1.2.3/8", "192.0.2.0/24", "10.0.0.0/8"}, want: []string{"10.0.0.0/8", "192.0.2.0/24"}},
		{name: "not a network", in: []string{"192.0.2.0/24", "lan"}, err: `"lan" is not a network`},
		{name: "prefix too long", in: []string{"192.0.2.0/33"}, err: `"192.0.2.0/33"`},
		{name: "empty entry", in: []string{""}, err: `"" is not a network`},
		{name: "zone", in: []string{"fe80::1%eth0"}, err: "is not a network"},
		{name: "mixed IPv4 and IPv6", in: []string{"::ffff:0:0/80"}, err: "mixes IPv4 and IPv6"},
		{name: "too many", in: slices.Repeat([]string{"192.0.2.0/24"}, MaxNetworks+1), err: "at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNetworks(tc.in)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrNetworkList) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := NetworkStrings(got); !slices.Equal(s, tc.want) {
				t.Fatalf("got %v; want %v", s, tc.want)
			}
		})
	}
}

// networksSet is the user_networks_set an administrator recorded.
func networksSet(nets ...string) []events.Payload {
	return []events.Payload{&events.UserNetworksSet{Networks: nets}}
}

func refusedFrom(rule, method, address string) *events.SignInRefused {
	return &events.SignInRefused{Reason: RefusedNetwork, Rule: rule, Method: method, Address: address}
}

func TestDecideNetwork(t *testing.T) {
	t.Parallel()
	adminsOnlyLAN := DefaultPolicy()
	adminsOnlyLAN.AdminNetworks = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name  string
		given []events.Payload
		pol   Policy
		when  NetworkAttempt
		then  []events.Payload
	}{
		{name: "no list: anywhere", given: discovered(), pol: adminsOnlyLAN,
			when: NetworkAttempt{Method: SignInPassword, IP: wanIP}},
		{name: "inside the user's IPv4 network", given: story(discovered(), networksSet("203.0.113.0/24")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInPassword, IP: wanIP}},
		{name: "inside the user's IPv6 network", given: story(discovered(), networksSet("192.0.2.0/24", "2001:db8::/48")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInPasskey, IP: netip.MustParseAddr("2001:db8:0:7::1")}},
		{name: "IPv4-mapped address inside", given: story(discovered(), networksSet("203.0.113.0/24")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInPassword, IP: netip.MustParseAddr("::ffff:203.0.113.7")}},
		{name: "outside the user's networks", given: story(discovered(), networksSet("192.0.2.0/24", "2001:db8::/48")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInAppPassword, IP: wanIP},
			then: []events.Payload{refusedFrom(NetworkRuleUser, SignInAppPassword, "203.0.113.7")}},
		{name: "next to the IPv6 network", given: story(discovered(), networksSet("2001:db8::/48")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInQuickConnect, IP: netip.MustParseAddr("2001:db8:1::1")},
			then: []events.Payload{refusedFrom(NetworkRuleUser, SignInQuickConnect, "2001:db8:1::1")}},
		{name: "an unknown address is outside", given: story(discovered(), networksSet("0.0.0.0/0")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInPassword},
			then: []events.Payload{refusedFrom(NetworkRuleUser, SignInPassword, "")}},
		{name: "the LAN is no exception", given: story(discovered(), networksSet("192.0.2.0/24")), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInPassword, IP: netip.MustParseAddr("192.168.1.20")},
			then: []events.Payload{refusedFrom(NetworkRuleUser, SignInPassword, "192.168.1.20")}},
		{name: "the set back to anywhere", given: story(discovered(), networksSet("192.0.2.0/24"), networksSet()), pol: DefaultPolicy(),
			when: NetworkAttempt{Method: SignInPassword, IP: wanIP}},
		{name: "an administrator outside the admins' networks", given: discovered(), pol: adminsOnlyLAN,
			when: NetworkAttempt{Method: SignInPassword, IP: wanIP, Admin: true},
			then: []events.Payload{refusedFrom(NetworkRuleAdmins, SignInPassword, "203.0.113.7")}},
		{name: "an administrator inside the admins' networks", given: discovered(), pol: adminsOnlyLAN,
			when: NetworkAttempt{Method: SignInPassword, IP: netip.MustParseAddr("fd12::5"), Admin: true}},
		{name: "a user is not held to the admins' networks", given: discovered(), pol: adminsOnlyLAN,
			when: NetworkAttempt{Method: SignInPassword, IP: wanIP}},
		{name: "an administrator needs both lists", given: story(discovered(), networksSet("203.0.113.0/24")), pol: adminsOnlyLAN,
			when: NetworkAttempt{Method: SignInPasskey, IP: wanIP, Admin: true},
			then: []events.Payload{refusedFrom(NetworkRuleAdmins, SignInPasskey, "203.0.113.7")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := given(t, testUserID, tc.given...)
			got, err := DecideNetwork(u, tc.pol, tc.when)
			thenEvents(t, got, tc.then...)
			if len(tc.then) > 0 {
				thenErr(t, err, ErrOutsideNetworks)
			} else if err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestDecideSetNetworks(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, discovered()...)
	evs, kept, err := DecideSetNetworks(u, []string{"2001:db8::5/48", "192.0.2.9/24"})
	if err != nil {
		t.Fatal(err)
	}
	thenEvents(t, evs, &events.UserNetworksSet{Networks: []string{"192.0.2.0/24", "2001:db8::/48"}})
	if !slices.Equal(kept, []string{"192.0.2.0/24", "2001:db8::/48"}) {
		t.Errorf("kept %v", kept)
	}

	// Folded, the list is the user's; the same list again records nothing.
	fold(t, u, evs...)
	if got := NetworkStrings(u.Networks); !slices.Equal(got, kept) {
		t.Fatalf("folded networks %v; want %v", got, kept)
	}
	again, _, err := DecideSetNetworks(u, []string{"192.0.2.0/24", "2001:db8::/48"})
	if err != nil || len(again) != 0 {
		t.Fatalf("the same list again: %v, %v; want nothing recorded", again, err)
	}

	// A clone does not share the list.
	c := u.Clone()
	c.Networks[0] = netip.MustParsePrefix("10.0.0.0/8")
	if u.Networks[0].String() != "192.0.2.0/24" {
		t.Error("the clone shares the network list")
	}

	// An invalid list is refused whole, naming the entry.
	_, _, err = DecideSetNetworks(u, []string{"192.0.2.0/24", "192.0.2.300/24"})
	thenErr(t, err, ErrNetworkList)

	// Empty is anywhere.
	evs, kept, err = DecideSetNetworks(u, []string{})
	if err != nil || len(kept) != 0 {
		t.Fatal(kept, err)
	}
	thenEvents(t, evs, &events.UserNetworksSet{Networks: []string{}})
}

// The network rule comes before every way a password sign-in could pass: a
// refused sign-in is neither let through nor held.
func TestDecideSignInOutsideNetworks(t *testing.T) {
	t.Parallel()
	adminsOnlyLAN := DefaultPolicy()
	adminsOnlyLAN.AdminNetworks = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}
	for _, tc := range []struct {
		name   string
		given  []events.Payload
		pol    Policy
		in     func(*SignIn)
		refuse *events.SignInRefused
	}{
		{name: "no second factor, outside", given: story(discovered(), networksSet("192.0.2.0/24")), pol: DefaultPolicy(),
			refuse: refusedFrom(NetworkRuleUser, SignInPassword, "203.0.113.7")},
		{name: "with a second factor, outside: no challenge", given: story(discovered(), withTOTP(), withRecovery(placeholderRecovery), networksSet("192.0.2.0/24")), pol: DefaultPolicy(),
			refuse: refusedFrom(NetworkRuleUser, SignInPassword, "203.0.113.7")},
		{name: "LAN bypass does not override", given: story(discovered(), withTOTP(), networksSet("192.0.2.0/24")), pol: DefaultPolicy(),
			in:     func(in *SignIn) { in.IP = netip.MustParseAddr("192.168.1.20") },
			refuse: refusedFrom(NetworkRuleUser, SignInPassword, "192.168.1.20")},
		{name: "jfguard switched off does not override", given: story(discovered(), networksSet("192.0.2.0/24")),
			pol:    func() Policy { p := DefaultPolicy(); p.Enabled = false; return p }(),
			refuse: refusedFrom(NetworkRuleUser, SignInPassword, "203.0.113.7")},
		{name: "an administrator from the internet", given: discovered(), pol: adminsOnlyLAN,
			in:     func(in *SignIn) { in.Admin = true },
			refuse: refusedFrom(NetworkRuleAdmins, SignInPassword, "203.0.113.7")},
		{name: "an administrator on the LAN", given: discovered(), pol: adminsOnlyLAN,
			in: func(in *SignIn) { in.Admin, in.IP = true, netip.MustParseAddr("192.168.1.20") }},
		{name: "inside the user's networks", given: story(discovered(), networksSet("203.0.113.0/24")), pol: DefaultPolicy()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := given(t, testUserID, tc.given...)
			in := baseSignIn()
			if tc.in != nil {
				tc.in(&in)
			}
			out := DecideSignIn(u, tc.pol, in)
			if tc.refuse == nil {
				if out.Refused != nil || !out.Pass && out.ChallengeID == "" {
					t.Fatalf("refused: %+v", out)
				}
				return
			}
			thenErr(t, out.Refused, ErrOutsideNetworks)
			if out.Pass || out.ChallengeID != "" || out.PairingID != "" {
				t.Fatalf("a refused sign-in passed or was held: %+v", out)
			}
			want := DecideProfile(u, in.UserName, in.Admin)
			thenEvents(t, out.Events, append(want, tc.refuse)...)
		})
	}
}
