package domain

import (
	"net/netip"
	"testing"

	"github.com/jfguard/jfguard/events"
)

// outside is the session every case starts from: alice's token, met from an
// internet address a trusted proxy reported.
func outside() OutsideSession {
	return OutsideSession{UserName: "alice", TokenHash: "token-hash-1", Token: "sealed:token-1", IP: wanIP, BypassSafe: true}
}

var lanIP = netip.MustParseAddr("192.168.1.20")

// alreadyVerified is the session of the token, recorded before.
func alreadyVerified(reason string) []events.Payload {
	return []events.Payload{NewSessionVerified("token-hash-1", reason, "sealed:token-1")}
}

func TestDecideResolvedSession(t *testing.T) {
	t.Parallel()
	totpUser := story(discovered(), withTOTP())
	for _, tc := range []struct {
		name  string
		given []events.Payload
		pol   func(*Policy)
		in    func(*OutsideSession)
		want  OutsideOutcome // without Events
		then  []events.Payload
	}{
		{
			name: "unknown user without a factor is discovered and passes",
			want: OutsideOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then: []events.Payload{&events.UserDiscovered{Name: "alice"}, passed(ReasonNoSecondFactor)},
		},
		{
			name:  "known user without a factor records only the session",
			given: discovered(),
			want:  OutsideOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then:  []events.Payload{passed(ReasonNoSecondFactor)},
		},
		{
			name:  "user with a factor is refused and nothing is recorded",
			given: totpUser,
		},
		{
			name: "unknown user is refused when every user needs a factor",
			pol:  func(p *Policy) { p.RequireAll = true },
		},
		{
			name:  "jfguard off lets a user with a factor through",
			given: totpUser,
			pol:   func(p *Policy) { p.Enabled = false },
			want:  OutsideOutcome{Pass: true, Reason: ReasonDisabled},
			then:  []events.Payload{passed(ReasonDisabled)},
		},
		{
			name:  "LAN address from a trusted source bypasses",
			given: totpUser,
			in:    func(in *OutsideSession) { in.IP = lanIP },
			want:  OutsideOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{passed(ReasonLAN)},
		},
		{
			name:  "LAN address nobody vouches for is refused",
			given: totpUser,
			in:    func(in *OutsideSession) { in.IP, in.BypassSafe = lanIP, false },
		},
		{
			name:  "a session already recorded is not recorded again",
			given: story(discovered(), alreadyVerified(ReasonNoSecondFactor)),
			want:  OutsideOutcome{Pass: true, Reason: ReasonNoSecondFactor},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			pol := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&pol)
			}
			in := outside()
			if tc.in != nil {
				tc.in(&in)
			}
			out := DecideResolvedSession(u, pol, in)
			if out.Pass != tc.want.Pass || out.Reason != tc.want.Reason {
				t.Errorf("pass %v reason %q; want %v %q", out.Pass, out.Reason, tc.want.Pass, tc.want.Reason)
			}
			thenEvents(t, out.Events, tc.then...)
		})
	}
}

// deviceSession is the session_verified of a device let in by Quick Connect.
func deviceSession(reason string) *events.SessionVerified {
	sv := passed(reason)
	sv.Assurance = string(AssuranceDevice)
	return sv
}

func TestDecideQuickConnectSignIn(t *testing.T) {
	t.Parallel()
	totpUser := story(discovered(), withTOTP())
	for _, tc := range []struct {
		name         string
		given        []events.Payload
		pol          func(*Policy)
		in           func(*OutsideSession)
		authorizedBy string
		want         OutsideOutcome // without Events
		then         []events.Payload
	}{
		{
			name:         "code authorized through jfguard by the user lets the device in",
			given:        totpUser,
			authorizedBy: testUserID,
			want:         OutsideOutcome{Pass: true, Reason: ReasonQuickConnect},
			then:         []events.Payload{deviceSession(ReasonQuickConnect)},
		},
		{
			name:         "code authorized by another user does not",
			given:        totpUser,
			authorizedBy: "0123456789abcdef0123456789abcdef",
		},
		{
			name:  "code authorized outside jfguard is refused for a user with a factor",
			given: totpUser,
		},
		{
			name: "an unknown user is discovered even when refused",
			pol:  func(p *Policy) { p.RequireAll = true },
			then: []events.Payload{&events.UserDiscovered{Name: "alice"}},
		},
		{
			name: "a user without a factor passes, as a device",
			want: OutsideOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then: []events.Payload{&events.UserDiscovered{Name: "alice"}, deviceSession(ReasonNoSecondFactor)},
		},
		{
			name:  "jfguard off lets the device in",
			given: totpUser,
			pol:   func(p *Policy) { p.Enabled = false },
			want:  OutsideOutcome{Pass: true, Reason: ReasonDisabled},
			then:  []events.Payload{deviceSession(ReasonDisabled)},
		},
		{
			name:  "LAN address from a trusted source bypasses",
			given: totpUser,
			in:    func(in *OutsideSession) { in.IP = lanIP },
			want:  OutsideOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{deviceSession(ReasonLAN)},
		},
		{
			name:  "a retry with the token already recorded passes as it is",
			given: story(totpUser, alreadyVerified(ReasonQuickConnect)),
			want:  OutsideOutcome{Pass: true, Reason: ReasonQuickConnect},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			pol := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&pol)
			}
			in := outside()
			if tc.in != nil {
				tc.in(&in)
			}
			out := DecideQuickConnectSignIn(u, pol, in, tc.authorizedBy)
			if out.Pass != tc.want.Pass || out.Reason != tc.want.Reason {
				t.Errorf("pass %v reason %q; want %v %q", out.Pass, out.Reason, tc.want.Pass, tc.want.Reason)
			}
			thenEvents(t, out.Events, tc.then...)
		})
	}
}

func TestDecideAppPasswordSignIn(t *testing.T) {
	t.Parallel()
	// given a user with an app password
	u := given(t, testUserID, story(discovered(), []events.Payload{
		&events.AppPasswordCreated{ID: "7k2qm9xd3fhv", Label: "Living room TV", Hash: "placeholder"},
	})...)
	// when it signs an app in
	evs, err := DecideAppPasswordSignIn(u, "7k2qm9xd3fhv", "token-hash-1", "sealed:token-1")
	// then its use and the app's session, a device's named after it, are recorded
	thenErr(t, err, nil)
	sv := NewSessionVerified("token-hash-1", ReasonAppPassword, "sealed:token-1")
	sv.AppPasswordID = "7k2qm9xd3fhv"
	thenEvents(t, evs, &events.AppPasswordUsed{ID: "7k2qm9xd3fhv", TokenHash: "token-hash-1"}, sv)
	if sv.Assurance != string(AssuranceDevice) {
		t.Errorf("app password session at %q, want a device's", sv.Assurance)
	}
	// and an app password revoked in the meantime signs nothing in
	fold(t, u, &events.AppPasswordRevoked{ID: "7k2qm9xd3fhv"})
	evs, err = DecideAppPasswordSignIn(u, "7k2qm9xd3fhv", "token-hash-1", "sealed:token-1")
	thenErr(t, err, ErrNotFound)
	thenEvents(t, evs)
}
