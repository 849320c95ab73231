package domain

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

const attackerIP = "198.51.100.66"

// failures is n failed sign-ins from the address, one second apart, the last at
// last.
func failures(n int, last time.Time) []events.Payload {
	out := make([]events.Payload, 0, n)
	for i := n - 1; i >= 0; i-- {
		out = append(out, at(last.Add(-time.Duration(i)*time.Second), &events.SignInFailed{Username: "alice", Reason: "wrong_password"}))
	}
	return out
}

func failedNow() *events.SignInFailed {
	return &events.SignInFailed{Username: "alice", Reason: "wrong_password"}
}

func TestDecideSignInFailed(t *testing.T) {
	t.Parallel()
	pol := DefaultPolicy() // 20 failures in 15 minutes ban for an hour
	banned := &events.IPBanned{Until: fixedNow.Add(pol.BanDuration), Reason: "too many failed sign-ins", Failures: pol.BanThreshold}
	for _, tc := range []struct {
		name  string
		given []events.Payload
		pol   func(*Policy)
		then  []events.Payload
	}{
		{name: "first failure", then: []events.Payload{failedNow()}},
		{name: "below the threshold", given: failures(pol.BanThreshold-2, fixedNow.Add(-time.Minute)), then: []events.Payload{failedNow()}},
		{name: "reaching the threshold bans", given: failures(pol.BanThreshold-1, fixedNow.Add(-time.Minute)), then: []events.Payload{failedNow(), banned}},
		{
			name:  "failures older than the window do not count",
			given: failures(pol.BanThreshold-1, fixedNow.Add(-16*time.Minute)),
			then:  []events.Payload{failedNow()},
		},
		{
			// Exactly one window ago is outside it; one second later is inside.
			name: "window edge",
			given: story(
				failures(1, fixedNow.Add(-pol.BanWindow)),
				failures(pol.BanThreshold-2, fixedNow.Add(-time.Minute)),
			),
			then: []events.Payload{failedNow()},
		},
		{
			name: "just inside the window edge",
			given: story(
				failures(1, fixedNow.Add(-pol.BanWindow+time.Second)),
				failures(pol.BanThreshold-2, fixedNow.Add(-time.Minute)),
			),
			then: []events.Payload{failedNow(), banned},
		},
		{
			name: "old and recent failures: only the recent ones count",
			given: story(
				failures(10, fixedNow.Add(-time.Hour)),
				failures(pol.BanThreshold-1, fixedNow.Add(-time.Second)),
			),
			then: []events.Payload{failedNow(), banned},
		},
		{
			name:  "banned address gets no second ban",
			given: story(failures(3, fixedNow.Add(-2*time.Minute)), []events.Payload{at(fixedNow.Add(-time.Minute), &events.IPBanned{Until: fixedNow.Add(time.Minute), Reason: "too many failed sign-ins", Failures: 20})}, failures(30, fixedNow.Add(-time.Second))),
			then:  []events.Payload{failedNow()},
		},
		{
			// The ban cleared the count it was made of.
			name: "after a ban ends the count starts afresh",
			given: story(
				failures(pol.BanThreshold-1, fixedNow.Add(-3*time.Minute)),
				[]events.Payload{at(fixedNow.Add(-2*time.Minute), &events.IPBanned{Until: fixedNow, Reason: "too many failed sign-ins", Failures: 20})},
			),
			then: []events.Payload{failedNow()},
		},
		{
			name: "an admin unban clears the count",
			given: story(
				failures(pol.BanThreshold-1, fixedNow.Add(-3*time.Minute)),
				[]events.Payload{at(fixedNow.Add(-2*time.Minute), &events.IPUnbanned{Reason: "my own laptop"})},
			),
			then: []events.Payload{failedNow()},
		},
		{
			name:  "threshold and duration follow the policy",
			given: failures(2, fixedNow.Add(-time.Minute)),
			pol:   func(p *Policy) { p.BanThreshold, p.BanDuration = 3, 24*time.Hour },
			then:  []events.Payload{failedNow(), &events.IPBanned{Until: fixedNow.Add(24 * time.Hour), Reason: "too many failed sign-ins", Failures: 3}},
		},
		{
			name:  "threshold zero never bans",
			given: failures(100, fixedNow.Add(-time.Minute)),
			pol:   func(p *Policy) { p.BanThreshold = 0 },
			then:  []events.Payload{failedNow()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := givenAddress(t, attackerIP, tc.given...)
			p := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&p)
			}
			thenEvents(t, DecideSignInFailed(a, p, "alice", "wrong_password", fixedNow), tc.then...)
		})
	}
}

func TestAddressEvolve(t *testing.T) {
	t.Parallel()
	a := givenAddress(t, attackerIP, failures(3, fixedNow.Add(-time.Minute))...)
	if a.ID != "198_51_100_66" || a.Version != 3 || len(a.Failures) != 3 || !a.Failures[2].Equal(fixedNow.Add(-time.Minute)) {
		t.Fatalf("address after 3 failures: %+v", a)
	}
	if a.Banned(fixedNow) {
		t.Fatal("banned without a ban")
	}
	var none *Address
	if none.Banned(fixedNow) {
		t.Fatal("an address never seen is banned")
	}

	ban := DecideSignInFailed(a, Policy{BanThreshold: 4, BanWindow: time.Hour, BanDuration: time.Hour}, "alice", "wrong_password", fixedNow)
	for _, p := range ban {
		ev, decoded := throughStream(t, a.ID, a.Version+1, at(fixedNow, p))
		a.Evolve(ev, decoded)
	}
	if !a.Banned(fixedNow) || !a.Banned(fixedNow.Add(time.Hour-time.Nanosecond)) || a.Banned(fixedNow.Add(time.Hour)) {
		t.Errorf("ban until %s: banned now %v, at the end %v", a.BannedUntil, a.Banned(fixedNow), a.Banned(fixedNow.Add(time.Hour)))
	}
	if a.BanReason != "too many failed sign-ins" || len(a.Failures) != 0 || a.Version != 5 {
		t.Errorf("after the ban: %+v", a)
	}

	// Clone is deep: a decision on a copy cannot reach the projection's state.
	c := a.Clone()
	c.Failures = append(c.Failures, fixedNow)
	c.BannedUntil = time.Time{}
	if len(a.Failures) != 0 || !a.Banned(fixedNow) {
		t.Errorf("changing the clone changed the original: %+v", a)
	}
}

func TestAddressKeepsRecentFailuresOnly(t *testing.T) {
	t.Parallel()
	// The state keeps the last 256 failures: enough for any sane threshold,
	// bounded under a flood.
	a := givenAddress(t, "2001:db8::1", failures(300, fixedNow)...)
	if a.ID != "2001:db8::1" || len(a.Failures) != 256 {
		t.Fatalf("id %q, %d failures kept; want 256", a.ID, len(a.Failures))
	}
	want := failures(256, fixedNow)
	for i, p := range want {
		if !a.Failures[i].Equal(asFact(p).at) {
			t.Fatalf("failure %d at %s; want %s (the newest are kept, in order)", i, a.Failures[i], asFact(p).at)
		}
	}
	c := a.Clone()
	c.Failures[0] = time.Time{}
	if a.Failures[0].IsZero() || !reflect.DeepEqual(a.Failures[1:], c.Failures[1:]) {
		t.Error("clone shares failures with the original")
	}
}

// TestAddressBlock: failures, bans and rate limits count an IPv4 client by its
// address and an IPv6 client by its prefix; the block's aggregate id is the address
// alone for a block of one, so a /128 is where older versions recorded an address.
func TestAddressBlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip    string
		bits  int
		block string
		key   string
		bans  []string
	}{
		{"203.0.113.7", 64, "203.0.113.7/32", "203_0_113_7", []string{"203_0_113_7"}},
		{"::ffff:203.0.113.7", 64, "203.0.113.7/32", "203_0_113_7", []string{"203_0_113_7"}},
		{"2001:db8:1:2:aaaa::1", 64, "2001:db8:1:2::/64", "2001:db8:1:2::_64", []string{"2001:db8:1:2::_64", "2001:db8:1:2:aaaa::1"}},
		{"2001:db8:1:2:bbbb::9", 64, "2001:db8:1:2::/64", "2001:db8:1:2::_64", []string{"2001:db8:1:2::_64", "2001:db8:1:2:bbbb::9"}},
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64", "2001:db8:1:3::_64", []string{"2001:db8:1:3::_64", "2001:db8:1:3::1"}},
		{"2001:db8:1:3::1", 48, "2001:db8:1::/48", "2001:db8:1::_48", []string{"2001:db8:1::_48", "2001:db8:1:3::1"}},
		{"2001:db8:1:3::1", 128, "2001:db8:1:3::1/128", "2001:db8:1:3::1", []string{"2001:db8:1:3::1"}},
		{"fe80::1%eth0", 64, "fe80::/64", "fe80::_64", []string{"fe80::_64", "fe80::1"}},
		{"2001:db8:1:3::1", 7, "2001:db8:1:3::/64", "2001:db8:1:3::_64", []string{"2001:db8:1:3::_64", "2001:db8:1:3::1"}},
	} {
		ip := netip.MustParseAddr(tc.ip)
		block := AddressBlock(ip, tc.bits)
		if block.String() != tc.block {
			t.Errorf("AddressBlock(%s, %d) = %s, want %s", tc.ip, tc.bits, block, tc.block)
		}
		if key := AddressKey(block); key != tc.key {
			t.Errorf("AddressKey(%s) = %q, want %q", block, key, tc.key)
		}
		if bans := BanKeys(ip, tc.bits); !reflect.DeepEqual(bans, tc.bans) {
			t.Errorf("BanKeys(%s, %d) = %q, want %q", tc.ip, tc.bits, bans, tc.bans)
		}
	}
	if AddressBlock(netip.Addr{}, 64).IsValid() || AddressKey(netip.Prefix{}) != "" || BanKeys(netip.Addr{}, 64) != nil {
		t.Error("the zero address has a block")
	}
}

// TestParseBanTarget: an administrator bans an address's block or a block given as a
// prefix; a prefix that is not a block is refused with what to give instead.
func TestParseBanTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, block, addr string
		err             string
	}{
		{in: "203.0.113.7", block: "203.0.113.7/32", addr: "203.0.113.7"},
		{in: " ::ffff:203.0.113.7 ", block: "203.0.113.7/32", addr: "203.0.113.7"},
		{in: "203.0.113.7/32", block: "203.0.113.7/32"},
		{in: "::ffff:203.0.113.7/128", block: "203.0.113.7/32"},
		{in: "2001:db8:1:2::99", block: "2001:db8:1:2::/64", addr: "2001:db8:1:2::99"},
		{in: "2001:db8:1:2::/64", block: "2001:db8:1:2::/64"},
		{in: "2001:db8:1:2:3::/64", block: "2001:db8:1:2::/64"},
		{in: "2001:db8:1:2::99/128", block: "2001:db8:1:2::99/128"},
		{in: "203.0.113.0/24", err: "one address at a time"},
		{in: "2001:db8::/48", err: "counted by /64 (security.ipv6_prefix)"},
		{in: "2001:db8::/96", err: "give an address, its /64 prefix, or a /128"},
		{in: "jellyfin.example.com", err: "neither"},
		{in: "", err: "neither"},
	} {
		block, addr, err := ParseBanTarget(tc.in, 64)
		switch {
		case tc.err != "":
			if !errors.Is(err, ErrBanTarget) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseBanTarget(%q): error %v, want one saying %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParseBanTarget(%q): %v", tc.in, err)
		case block.String() != tc.block || (tc.addr != "" && addr.String() != tc.addr) || (tc.addr == "" && addr.IsValid()):
			t.Errorf("ParseBanTarget(%q) = %s, %v; want %s, %q", tc.in, block, addr, tc.block, tc.addr)
		}
	}
}

// FuzzParseBanTarget: whatever an administrator types, the answer is a block whose
// aggregate id is subject-safe, or an error that says what to give.
func FuzzParseBanTarget(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "2001:db8::1", "2001:db8::/64", "::ffff:1.2.3.4/120", "fe80::1%eth0", "1.2.3.4/33", "::/0", ""} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, in string, bits int) {
		if bits < MinIPv6PrefixBits || bits > MaxIPv6PrefixBits {
			bits = DefaultIPv6PrefixBits
		}
		block, addr, err := ParseBanTarget(in, bits)
		if err != nil {
			if !errors.Is(err, ErrBanTarget) {
				t.Fatalf("error %v does not wrap ErrBanTarget", err)
			}
			return
		}
		key := AddressKey(block)
		if !events.ValidAggregateID(key) {
			t.Fatalf("%q: aggregate id %q is not subject-safe", in, key)
		}
		if block.Addr().Is4() && block.Bits() != 32 || block.Addr().Is6() && block.Bits() != bits && block.Bits() != 128 {
			t.Fatalf("%q: block %s is not one jfguard counts by", in, block)
		}
		if addr.IsValid() && !block.Contains(addr) {
			t.Fatalf("%q: block %s does not hold the address %s", in, block, addr)
		}
		if back := events.IPFromAggregateID(key); back != block.String() && back != block.Addr().String() {
			t.Fatalf("%q: aggregate id %q reads back as %q, not %s", in, key, back, block)
		}
	})
}

// TestAppendBanKeysIsBanKeys: the allocation-free ban keys are BanKeys, for IPv4,
// mapped, IPv6 addresses and every prefix length.
func TestAppendBanKeysIsBanKeys(t *testing.T) {
	for _, s := range []string{"192.0.2.7", "::ffff:192.0.2.7", "2001:db8:1:2:3:4:5:6", "fe80::1%eth0", "::1"} {
		ip := netip.MustParseAddr(s)
		for _, bits := range []int{0, 48, 56, 64, 128} {
			var buf [96]byte
			keys, second := AppendBanKeys(buf[:0], ip, bits)
			var got []string
			if len(keys) > 0 {
				got = append(got, string(keys[:second]))
				if second < len(keys) {
					got = append(got, string(keys[second:]))
				}
			}
			if want := BanKeys(ip, bits); !slices.Equal(got, want) {
				t.Errorf("%s /%d: %q, want %q", s, bits, got, want)
			}
		}
	}
	if keys, _ := AppendBanKeys(nil, netip.Addr{}, 64); len(keys) != 0 {
		t.Errorf("the zero address has keys %q", keys)
	}
}
