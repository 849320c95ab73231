package domain

import (
	"net/netip"
	"time"
)

// Policy is the security policy decisions are made under. Its values come from the
// settings file and from settings_changed events.
type Policy struct {
	// Enabled is the master switch: off lets every sign-in through (recorded).
	Enabled bool
	// RequireAll makes every user need a second factor, enrolled or not.
	RequireAll bool
	// LANBypass lets sign-ins from LANCIDRs skip the second factor.
	LANBypass bool
	LANCIDRs  []netip.Prefix
	// LoopbackBypass adds 127.0.0.0/8 and ::1 to the LAN (off by default: a reverse
	// proxy on the same host would make every request look local).
	LoopbackBypass bool

	TrustCookieDays int

	ChallengeTTL         time.Duration
	MaxChallengeFailures int

	LockoutThreshold int
	LockoutWindow    time.Duration
	LockoutDuration  time.Duration

	BanThreshold int
	BanWindow    time.Duration
	BanDuration  time.Duration

	// The password step, before Jellyfin sees a password (see password.go).
	// PasswordFailuresPerIP is how many failed sign-ins a minute one address block
	// may have before its password step waits; 0 = no limit.
	PasswordFailuresPerIP int
	// PasswordHoldAfter wrong passwords for one user within PasswordHoldWindow hold
	// the user's password step for PasswordHoldDuration; 0 = never.
	PasswordHoldAfter    int
	PasswordHoldWindow   time.Duration
	PasswordHoldDuration time.Duration
	// JellyfinLockout is the LoginAttemptsBeforeLockout jfguard assumes when it
	// cannot read the user's policy at Jellyfin (no admin API key); 0 = none.
	JellyfinLockout int

	PairingTTL         time.Duration
	PairingWindow      time.Duration
	MaxPendingPairings int
	MaxAppPasswords    int

	EmailCodeTTL time.Duration

	// StepUpWindow is how long a proven second factor lets a session change the
	// account (step-up, "sudo mode").
	StepUpWindow time.Duration

	// NewLocationSecondFactor: a sign-in from a network new to the user needs the
	// second factor even from a trusted browser (location.go).
	NewLocationSecondFactor bool
	// AdminNetworks are where administrators may sign in from; empty means
	// anywhere (networks.go).
	AdminNetworks []netip.Prefix
}

// DefaultPolicy is the policy of a fresh install.
func DefaultPolicy() Policy {
	return Policy{
		Enabled:   true,
		LANBypass: true,
		LANCIDRs: []netip.Prefix{
			netip.MustParsePrefix("192.168.0.0/16"),
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("172.16.0.0/12"),
		},
		TrustCookieDays:      30,
		ChallengeTTL:         5 * time.Minute,
		MaxChallengeFailures: 5,
		LockoutThreshold:     5,
		LockoutWindow:        15 * time.Minute,
		LockoutDuration:      15 * time.Minute,
		BanThreshold:         20,
		BanWindow:            15 * time.Minute,
		BanDuration:          time.Hour,
		PairingTTL:           15 * time.Minute,
		PairingWindow:        15 * time.Minute,
		MaxPendingPairings:   10,
		MaxAppPasswords:      20,
		EmailCodeTTL:         5 * time.Minute,
		StepUpWindow:         DefaultStepUpWindow,

		// A person mistypes a password a few times; ten failures a minute from one
		// network, or five for one name in a quarter of an hour, are guessing.
		PasswordFailuresPerIP: 10,
		PasswordHoldAfter:     5,
		PasswordHoldWindow:    15 * time.Minute,
		PasswordHoldDuration:  15 * time.Minute,
		// Jellyfin's documented default lockout for users.
		JellyfinLockout: 3,
	}
}

// InLAN reports whether ip is in the bypass ranges.
func (p Policy) InLAN(ip netip.Addr) bool {
	ip = ip.Unmap()
	if p.LoopbackBypass && ip.IsLoopback() {
		return true
	}
	for _, c := range p.LANCIDRs {
		if c.Contains(ip) {
			return true
		}
	}
	return false
}

// TrustDuration is how long a trusted browser stays trusted.
func (p Policy) TrustDuration() time.Duration {
	d := p.TrustCookieDays
	if d <= 0 {
		d = 30
	}
	return time.Duration(d) * 24 * time.Hour
}
