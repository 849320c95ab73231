package domain

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// The sign-in every case starts from: alice's password was right, through the web
// integration, from an internet address a trusted proxy reported.
func baseSignIn() SignIn {
	return SignIn{
		UserID: testUserID, UserName: "alice",
		TokenHash: "token-hash-1", Token: "sealed:token-1", AuthResult: "sealed:auth-1",
		IP: wanIP, BypassSafe: true, Web: true, Device: webDevice, Now: fixedNow,
		NewChallengeID: "challenge-new", NewPairingID: "pairing-new",
	}
}

// passed is the session_verified a passing sign-in records.
func passed(reason string) *events.SessionVerified {
	return &events.SessionVerified{TokenHash: "token-hash-1", Reason: reason, Token: "sealed:token-1", Assurance: string(AssuranceOf(reason))}
}

// challenged is the challenge_issued a held sign-in records.
func challenged(web bool, methods ...string) *events.ChallengeIssued {
	return &events.ChallengeIssued{
		ChallengeID: "challenge-new", TokenHash: "token-hash-1", Token: "sealed:token-1", AuthResult: "sealed:auth-1",
		Methods: methods, Web: web, ExpiresAt: fixedNow.Add(DefaultPolicy().ChallengeTTL),
	}
}

// requested is the pairing_requested of a TV sign-in.
func requested(id string) *events.PairingRequested {
	return &events.PairingRequested{
		PairingID: id, DeviceID: tvDevice.ID, DeviceName: tvDevice.Name, Client: tvDevice.Client, Version: tvDevice.Version,
		ExpiresAt: fixedNow.Add(DefaultPolicy().PairingTTL),
	}
}

func pendingPairing(id string, d events.Device, expires time.Time) events.Payload {
	return from("198.51.100.9", d, &events.PairingRequested{
		PairingID: id, DeviceID: d.ID, DeviceName: d.Name, Client: d.Client, Version: d.Version, ExpiresAt: expires,
	})
}

// trustedBrowser is a browser trusted two days ago for a device; its cookie holds
// secret number 0 (see secret).
func trustedBrowser(id, deviceID string, expires time.Time) events.Payload {
	return at(fixedNow.Add(-48*time.Hour), &events.BrowserTrusted{BrowserID: id, DeviceID: deviceID, Name: "Firefox", ExpiresAt: expires, SecretHash: secret(id, 0)})
}

// browserUsed is a past use of a trusted browser at when, which gave its cookie
// secret number n.
func browserUsed(id string, n int, when, expires time.Time) events.Payload {
	return at(when, &events.TrustedBrowserUsed{BrowserID: id, ExpiresAt: expires, SecretHash: secret(id, n)})
}

// secret stands for the hash of a browser's n-th cookie secret.
func secret(browserID string, n int) string { return fmt.Sprintf("%s-secret-%d", browserID, n) }

// nextSecret stands for the hash of the secret the gateway holds ready for the
// cookie of a browser it lets through.
const nextSecret = "next-secret"

// cookie is the trust cookie a sign-in presents: a browser's n-th secret.
func cookie(browserID string, n int) *PresentedTrust {
	return &PresentedTrust{BrowserID: browserID, SecretHash: secret(browserID, n), NextSecretHash: nextSecret}
}

func native(in *SignIn) { in.Web, in.Device = false, tvDevice }

func TestDecideSignIn(t *testing.T) {
	t.Parallel()
	totpUser := story(discovered(), withTOTP(), withRecovery(placeholderRecovery))
	approved := func(id string, d events.Device, until time.Time) []events.Payload {
		return []events.Payload{
			at(fixedNow.Add(-3*time.Minute), pendingPairing(id, d, fixedNow.Add(12*time.Minute))),
			at(fixedNow.Add(-2*time.Minute), &events.PairingApproved{PairingID: id, Until: until}),
		}
	}

	for _, tc := range []struct {
		name  string
		given []events.Payload
		pol   func(*Policy)
		in    func(*SignIn)
		want  SignInOutcome // without Events
		then  []events.Payload
	}{
		{
			name: "unknown user without a factor is discovered and passes",
			want: SignInOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then: []events.Payload{&events.UserDiscovered{Name: "alice"}, passed(ReasonNoSecondFactor)},
		},
		{
			name: "unknown administrator is discovered as one",
			in:   func(in *SignIn) { in.Admin = true },
			want: SignInOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then: []events.Payload{&events.UserDiscovered{Name: "alice", Admin: true}, passed(ReasonNoSecondFactor)},
		},
		{
			name:  "known user as before records only the session",
			given: discovered(),
			want:  SignInOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then:  []events.Payload{passed(ReasonNoSecondFactor)},
		},
		{
			name:  "known user renamed in Jellyfin",
			given: discovered(),
			in:    func(in *SignIn) { in.UserName = "alice.b" },
			want:  SignInOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then:  []events.Payload{&events.UserProfileChanged{Name: "alice.b"}, passed(ReasonNoSecondFactor)},
		},
		{
			name:  "known user made administrator in Jellyfin",
			given: discovered(),
			in:    func(in *SignIn) { in.Admin = true },
			want:  SignInOutcome{Pass: true, Reason: ReasonNoSecondFactor},
			then:  []events.Payload{&events.UserProfileChanged{Name: "alice", Admin: true}, passed(ReasonNoSecondFactor)},
		},
		{
			name:  "policy disabled lets a user with a factor through",
			given: totpUser,
			pol:   func(p *Policy) { p.Enabled = false },
			want:  SignInOutcome{Pass: true, Reason: ReasonDisabled},
			then:  []events.Payload{passed(ReasonDisabled)},
		},
		{
			name:  "user with an authenticator from the internet is challenged",
			given: totpUser,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "challenge lifetime follows the policy",
			given: story(discovered(), withTOTP()),
			pol:   func(p *Policy) { p.ChallengeTTL = time.Minute },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP}},
			then: []events.Payload{&events.ChallengeIssued{
				ChallengeID: "challenge-new", TokenHash: "token-hash-1", Token: "sealed:token-1", AuthResult: "sealed:auth-1",
				Methods: []string{MethodTOTP}, Web: true, ExpiresAt: fixedNow.Add(time.Minute),
			}},
		},
		{
			name:  "renamed user with a factor is challenged and renamed",
			given: totpUser,
			in:    func(in *SignIn) { in.UserName = "alice.b" },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{&events.UserProfileChanged{Name: "alice.b"}, challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "LAN address from a trusted source bypasses",
			given: totpUser,
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("192.168.1.20") },
			want:  SignInOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{passed(ReasonLAN)},
		},
		{
			name:  "IPv4-mapped LAN address bypasses",
			given: totpUser,
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("::ffff:10.1.2.3") },
			want:  SignInOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{passed(ReasonLAN)},
		},
		{
			// The address came from a header nobody vouches for: it could be forged.
			name:  "LAN address not safe for bypass is challenged",
			given: totpUser,
			in:    func(in *SignIn) { in.IP, in.BypassSafe = netip.MustParseAddr("192.168.1.20"), false },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "LAN address with LAN bypass off is challenged",
			given: totpUser,
			pol:   func(p *Policy) { p.LANBypass = false },
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("192.168.1.20") },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "address outside the configured LAN ranges is challenged",
			given: totpUser,
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("172.32.0.1") },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			// A reverse proxy on the same host makes every request look local.
			name:  "loopback without loopback bypass is challenged",
			given: totpUser,
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("127.0.0.1") },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "loopback with loopback bypass passes",
			given: totpUser,
			pol:   func(p *Policy) { p.LoopbackBypass = true },
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("127.0.0.1") },
			want:  SignInOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{passed(ReasonLAN)},
		},
		{
			name:  "IPv6 loopback with loopback bypass passes",
			given: totpUser,
			pol:   func(p *Policy) { p.LoopbackBypass = true },
			in:    func(in *SignIn) { in.IP = netip.IPv6Loopback() },
			want:  SignInOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{passed(ReasonLAN)},
		},
		{
			name:  "loopback bypass needs LAN bypass on",
			given: totpUser,
			pol:   func(p *Policy) { p.LoopbackBypass, p.LANBypass = true, false },
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("127.0.0.1") },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			// Nothing to prove with, but the policy wants a second factor: the
			// token is held, not let through.
			// The challenge is where such a user sets up their first factor.
			name:  "require-all with no factor is challenged to enroll",
			given: discovered(),
			pol:   func(p *Policy) { p.RequireAll = true },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodEnrollTOTP}},
			then:  []events.Payload{challenged(true, MethodEnrollTOTP)},
		},
		{
			name: "require-all discovers and challenges an unknown user",
			pol:  func(p *Policy) { p.RequireAll = true },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodEnrollTOTP}},
			then: []events.Payload{&events.UserDiscovered{Name: "alice"}, challenged(true, MethodEnrollTOTP)},
		},
		{
			name:  "require-all still honours the LAN bypass",
			given: discovered(),
			pol:   func(p *Policy) { p.RequireAll = true },
			in:    func(in *SignIn) { in.IP = netip.MustParseAddr("10.0.0.5") },
			want:  SignInOutcome{Pass: true, Reason: ReasonLAN},
			then:  []events.Payload{passed(ReasonLAN)},
		},
		{
			name:  "current secret of a trusted browser on its device passes",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour))}),
			in:    func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want:  SignInOutcome{Pass: true, Reason: ReasonTrustedBrowser, BrowserID: "b1", TrustExpiresAt: fixedNow.Add(28 * 24 * time.Hour)},
			then: []events.Payload{
				// Use replaces the secret but keeps the expiry of the original grant.
				&events.TrustedBrowserUsed{BrowserID: "b1", ExpiresAt: fixedNow.Add(28 * 24 * time.Hour), SecretHash: nextSecret},
				&events.SessionVerified{TokenHash: "token-hash-1", Reason: ReasonTrustedBrowser, Token: "sealed:token-1", BrowserID: "b1", Assurance: "aal2"},
			},
		},
		{
			name:  "trusted browser use does not extend the trust",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(time.Hour))}),
			pol:   func(p *Policy) { p.TrustCookieDays = 7 },
			in:    func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want:  SignInOutcome{Pass: true, Reason: ReasonTrustedBrowser, BrowserID: "b1", TrustExpiresAt: fixedNow.Add(time.Hour)},
			then: []events.Payload{
				&events.TrustedBrowserUsed{BrowserID: "b1", ExpiresAt: fixedNow.Add(time.Hour), SecretHash: nextSecret},
				&events.SessionVerified{TokenHash: "token-hash-1", Reason: ReasonTrustedBrowser, Token: "sealed:token-1", BrowserID: "b1", Assurance: "aal2"},
			},
		},
		{
			name: "the secret a use gave is the one that passes next",
			given: story(totpUser, []events.Payload{
				trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
				browserUsed("b1", 1, fixedNow.Add(-time.Hour), fixedNow.Add(28*24*time.Hour)),
			}),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 1) },
			want: SignInOutcome{Pass: true, Reason: ReasonTrustedBrowser, BrowserID: "b1", TrustExpiresAt: fixedNow.Add(28 * 24 * time.Hour)},
			then: []events.Payload{
				&events.TrustedBrowserUsed{BrowserID: "b1", ExpiresAt: fixedNow.Add(28 * 24 * time.Hour), SecretHash: nextSecret},
				&events.SessionVerified{TokenHash: "token-hash-1", Reason: ReasonTrustedBrowser, Token: "sealed:token-1", BrowserID: "b1", Assurance: "aal2"},
			},
		},
		{
			// A copy of the cookie taken before the browser's last use: the
			// browser holds the new secret, so this is a copy. Refused, recorded,
			// and the trust revoked, which also stops a thief who used the copy
			// first and holds the current secret.
			name: "replaced secret presented again revokes the browser",
			given: story(totpUser, []events.Payload{
				trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
				browserUsed("b1", 1, fixedNow.Add(-time.Hour), fixedNow.Add(28*24*time.Hour)),
			}),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{
				&events.TrustedBrowserReplayed{BrowserID: "b1", SecretHash: secret("b1", 0)},
				&events.BrowserTrustRevoked{BrowserID: "b1", Reason: RevokedReplayed},
				challenged(true, MethodTOTP, MethodRecovery),
			},
		},
		{
			// Two tabs signing in at once both send the old secret; the first
			// one through replaced it a moment ago and its tab has the new cookie.
			name: "secret replaced moments ago presented again is refused and trust kept",
			given: story(totpUser, []events.Payload{
				trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
				browserUsed("b1", 1, fixedNow.Add(-ConcurrentSignInWindow+time.Second), fixedNow.Add(28*24*time.Hour)),
			}),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{
				&events.TrustedBrowserReplayed{BrowserID: "b1", SecretHash: secret("b1", 0), Concurrent: true},
				challenged(true, MethodTOTP, MethodRecovery),
			},
		},
		{
			name: "secret replaced a window ago presented again revokes the browser",
			given: story(totpUser, []events.Payload{
				trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
				browserUsed("b1", 1, fixedNow.Add(-ConcurrentSignInWindow), fixedNow.Add(28*24*time.Hour)),
			}),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{
				&events.TrustedBrowserReplayed{BrowserID: "b1", SecretHash: secret("b1", 0)},
				&events.BrowserTrustRevoked{BrowserID: "b1", Reason: RevokedReplayed},
				challenged(true, MethodTOTP, MethodRecovery),
			},
		},
		{
			// Only the secret replaced just now can be a second tab's: an older one
			// is a copy even if the browser was used a moment ago.
			name: "older secret presented moments after a use revokes the browser",
			given: story(totpUser, []events.Payload{
				trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
				browserUsed("b1", 1, fixedNow.Add(-time.Hour), fixedNow.Add(28*24*time.Hour)),
				browserUsed("b1", 2, fixedNow.Add(-time.Second), fixedNow.Add(28*24*time.Hour)),
			}),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{
				&events.TrustedBrowserReplayed{BrowserID: "b1", SecretHash: secret("b1", 0)},
				&events.BrowserTrustRevoked{BrowserID: "b1", Reason: RevokedReplayed},
				challenged(true, MethodTOTP, MethodRecovery),
			},
		},
		{
			name: "secret replaced longer ago than the browser remembers is refused without a record",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour))}, func() []events.Payload {
				var uses []events.Payload
				for n := 1; n <= RetiredSecretsKept+1; n++ {
					uses = append(uses, browserUsed("b1", n, fixedNow.Add(-time.Hour), fixedNow.Add(28*24*time.Hour)))
				}
				return uses
			}()),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name: "revoked browser is challenged",
			given: story(totpUser, []events.Payload{
				trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
				&events.BrowserTrustRevoked{BrowserID: "b1"},
			}),
			in:   func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			// The server-side expiry rules; the cookie says nothing about time.
			name:  "browser trusted until now is challenged",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow)}),
			in:    func(in *SignIn) { in.Trust = cookie("b1", 0) },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			// The device id stays a second condition, though the secret is what
			// binds the cookie.
			name:  "current secret from another device is challenged",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour))}),
			in: func(in *SignIn) {
				in.Trust = cookie("b1", 0)
				in.Device.ID = "another-device"
			},
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "secret of one browser presented for another is challenged",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)), trustedBrowser("b2", webDevice.ID, fixedNow.Add(28*24*time.Hour))}),
			in: func(in *SignIn) {
				in.Trust = cookie("b1", 0)
				in.Trust.SecretHash = secret("b2", 0)
			},
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "cookie naming a browser the user does not have is challenged",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour))}),
			in:    func(in *SignIn) { in.Trust = cookie("b2", 0) },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			// Trusted before cookies carried a secret: no cookie can match it, so
			// after the upgrade the browser is asked for a code once.
			name:  "browser trusted with a cookie of the old format is challenged",
			given: story(totpUser, []events.Payload{at(fixedNow.Add(-48*time.Hour), &events.BrowserTrusted{BrowserID: "b1", DeviceID: webDevice.ID, ExpiresAt: fixedNow.Add(28 * 24 * time.Hour)})}),
			in: func(in *SignIn) {
				in.Trust = cookie("b1", 0)
				in.Trust.SecretHash = ""
			},
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "trusted browser without a next secret to hand out is challenged",
			given: story(totpUser, []events.Payload{trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour))}),
			in: func(in *SignIn) {
				in.Trust = cookie("b1", 0)
				in.Trust.NextSecretHash = ""
			},
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(true, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "native sign-in is challenged and asks to pair",
			given: totpUser,
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
		{
			name:  "native sign-in without a device id cannot pair",
			given: totpUser,
			in:    func(in *SignIn) { native(in); in.Device.ID = "" },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "native sign-in with no id to give a pairing records none",
			given: totpUser,
			in:    func(in *SignIn) { native(in); in.NewPairingID = "" },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "repeated native sign-in updates its pending pairing",
			given: story(totpUser, []events.Payload{at(fixedNow.Add(-2*time.Minute), pendingPairing("p1", tvDevice, fixedNow.Add(13*time.Minute)))}),
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "p1"},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("p1")},
		},
		{
			name:  "same device with another client asks for its own pairing",
			given: story(totpUser, []events.Payload{pendingPairing("p1", events.Device{ID: tvDevice.ID, Client: "Kodi"}, fixedNow.Add(13*time.Minute))}),
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
		{
			name:  "expired pending pairing is not reused",
			given: story(totpUser, []events.Payload{at(fixedNow.Add(-20*time.Minute), pendingPairing("p1", tvDevice, fixedNow))}),
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
		{
			name: "too many pending pairings records no new one",
			given: story(totpUser, []events.Payload{
				pendingPairing("p1", events.Device{ID: "kodi-1", Client: "Kodi"}, fixedNow.Add(10*time.Minute)),
				pendingPairing("p2", events.Device{ID: "roku-1", Client: "Roku"}, fixedNow.Add(10*time.Minute)),
			}),
			pol:  func(p *Policy) { p.MaxPendingPairings = 2 },
			in:   native,
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then: []events.Payload{challenged(false, MethodTOTP, MethodRecovery)},
		},
		{
			name: "at the pending limit a device still refreshes its own request",
			given: story(totpUser, []events.Payload{
				pendingPairing("p1", events.Device{ID: "kodi-1", Client: "Kodi"}, fixedNow.Add(10*time.Minute)),
				pendingPairing("p2", tvDevice, fixedNow.Add(10*time.Minute)),
			}),
			pol:  func(p *Policy) { p.MaxPendingPairings = 2 },
			in:   native,
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "p2"},
			then: []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("p2")},
		},
		{
			name: "expired and answered pairings do not count toward the limit",
			given: story(totpUser, []events.Payload{
				at(fixedNow.Add(-20*time.Minute), pendingPairing("p1", events.Device{ID: "kodi-1", Client: "Kodi"}, fixedNow.Add(-5*time.Minute))),
				pendingPairing("p2", events.Device{ID: "roku-1", Client: "Roku"}, fixedNow.Add(10*time.Minute)),
				&events.PairingDenied{PairingID: "p2"},
			}),
			pol:  func(p *Policy) { p.MaxPendingPairings = 1 },
			in:   native,
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then: []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
		{
			name:  "approved pairing within its window pairs the device",
			given: story(totpUser, approved("p1", tvDevice, fixedNow.Add(13*time.Minute))),
			in:    native,
			want:  SignInOutcome{Pass: true, Reason: ReasonPairing},
			then: []events.Payload{
				&events.DevicePaired{PairingID: "p1", TokenHash: "token-hash-1", Token: "sealed:token-1"},
				&events.SessionVerified{TokenHash: "token-hash-1", Reason: ReasonPairing, Token: "sealed:token-1", PairingID: "p1", Assurance: "device"},
			},
		},
		{
			// The device id alone is never a credential: the user approved this
			// client on this device.
			name:  "approved device id from another client is challenged",
			given: story(totpUser, approved("p1", tvDevice, fixedNow.Add(13*time.Minute))),
			in:    func(in *SignIn) { native(in); in.Device.Client = "Jellyfin Media Player" },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then: []events.Payload{challenged(false, MethodTOTP, MethodRecovery), &events.PairingRequested{
				PairingID: "pairing-new", DeviceID: tvDevice.ID, DeviceName: tvDevice.Name, Client: "Jellyfin Media Player",
				Version: tvDevice.Version, ExpiresAt: fixedNow.Add(DefaultPolicy().PairingTTL),
			}},
		},
		{
			// Someone who learned the device id and client later cannot ride on
			// an approval whose window closed.
			name:  "approved device after the window is challenged",
			given: story(totpUser, approved("p1", tvDevice, fixedNow)),
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
		{
			name: "paired device signing in again needs a new approval",
			given: story(totpUser, approved("p1", tvDevice, fixedNow.Add(13*time.Minute)), []events.Payload{
				&events.DevicePaired{PairingID: "p1", TokenHash: "old-token-hash"},
			}),
			in:   native,
			want: SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then: []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
		{
			name:  "denied device is not let in",
			given: story(totpUser, []events.Payload{pendingPairing("p1", tvDevice, fixedNow.Add(10*time.Minute)), &events.PairingDenied{PairingID: "p1"}}),
			in:    func(in *SignIn) { native(in); in.NewPairingID = "" },
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery)},
		},
		{
			// A denial sticks until the request would have expired: the device
			// cannot fill the approval list by signing in again.
			name:  "denied device signing in again makes no new request",
			given: story(totpUser, []events.Payload{pendingPairing("p1", tvDevice, fixedNow.Add(10*time.Minute)), &events.PairingDenied{PairingID: "p1"}}),
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery)},
		},
		{
			name:  "denied device may ask again once the denied request expired",
			given: story(totpUser, []events.Payload{pendingPairing("p1", tvDevice, fixedNow.Add(-time.Minute)), &events.PairingDenied{PairingID: "p1"}}),
			in:    native,
			want:  SignInOutcome{ChallengeID: "challenge-new", Methods: []string{MethodTOTP, MethodRecovery}, PairingID: "pairing-new"},
			then:  []events.Payload{challenged(false, MethodTOTP, MethodRecovery), requested("pairing-new")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			pol := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&pol)
			}
			in := baseSignIn()
			if tc.in != nil {
				tc.in(&in)
			}

			got := DecideSignIn(u, pol, in)

			thenEvents(t, got.Events, tc.then...)
			got.Events = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("outcome %+v; want %+v", got, tc.want)
			}
		})
	}
}

// The challenge the attempt cases complete: issued a minute ago to alice's browser.
const (
	challengeID   = "challenge-1"
	heldTokenHash = "held-token-hash"
	heldToken     = events.Sealed("sealed:held-token")
)

var challengeExpires = fixedNow.Add(4 * time.Minute)

func issuedChallenge(id string) events.Payload {
	return at(fixedNow.Add(-time.Minute), from("203.0.113.7", webDevice, &events.ChallengeIssued{
		ChallengeID: id, TokenHash: heldTokenHash, Token: heldToken, AuthResult: "sealed:auth",
		Methods: []string{MethodTOTP, MethodRecovery}, Web: true, ExpiresAt: challengeExpires,
	}))
}

// failedBefore is a wrong code on a challenge (or on a self-service proof when the
// id is empty) at a time.
func failedBefore(challenge string, when time.Time) events.Payload {
	return at(when, &events.FactorFailed{ChallengeID: challenge, Method: MethodTOTP, Reason: "wrong_code"})
}

func attempt(method, code string) Attempt {
	return Attempt{ChallengeID: challengeID, Proof: FactorProof{Method: method, Code: code, TOTPSecret: totpSecret, Now: fixedNow}}
}

// verifiedBy is the session a completed challenge records.
func verifiedBy(browserID string) *events.SessionVerified {
	return &events.SessionVerified{TokenHash: heldTokenHash, Reason: ReasonChallenge, ChallengeID: challengeID, Token: heldToken, BrowserID: browserID, Assurance: "aal2"}
}

func wrongAt(reason string) *events.FactorFailed {
	return &events.FactorFailed{ChallengeID: challengeID, Method: MethodTOTP, Reason: reason}
}

func TestDecideAttempt(t *testing.T) {
	t.Parallel()
	plain, stored := recoverySet(t, 1)
	_, newerSet := recoverySet(t, 6)
	emailCode := "482913"
	emailHash, err := HashEmailCode(emailCode, factorRand(2), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	step := TOTPStep(fixedNow)
	codeNow := totpCode(t, fixedNow)
	wrong := wrongCode(t, fixedNow)
	pending := story(discovered(), withTOTP(), withRecovery(stored), []events.Payload{issuedChallenge(challengeID)})
	// usedNow is an authenticator whose code of fixedNow's step was spent on an
	// earlier challenge.
	usedNow := story(pending, []events.Payload{&events.FactorVerified{ChallengeID: "challenge-0", Method: MethodTOTP, TOTPStep: step}})
	withEmailCode := func(forChallenge string, expires time.Time) []events.Payload {
		return story(pending, withEmail(), []events.Payload{&events.EmailCodeSent{ChallengeID: forChallenge, CodeHash: emailHash, ExpiresAt: expires}})
	}
	noLockout := func(p *Policy) { p.LockoutThreshold = 100 }
	lockedUntil := fixedNow.Add(DefaultPolicy().LockoutDuration)

	for _, tc := range []struct {
		name    string
		given   []events.Payload
		pol     func(*Policy)
		when    Attempt
		then    []events.Payload
		err     error
		browser string
	}{
		{
			name:  "right authenticator code completes the challenge",
			given: pending,
			when:  attempt(MethodTOTP, codeNow),
			then:  []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}, verifiedBy("")},
		},
		{
			name:  "code typed with a space is the same code",
			given: pending,
			when:  attempt(MethodTOTP, codeNow[:3]+" "+codeNow[3:]),
			then:  []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}, verifiedBy("")},
		},
		{
			name:  "code of the previous step absorbs clock drift",
			given: pending,
			when:  attempt(MethodTOTP, totpCode(t, fixedNow.Add(-TOTPPeriod))),
			then:  []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step - 1}, verifiedBy("")},
		},
		{
			name:  "code of the current step spent before is reused",
			given: usedNow,
			when:  attempt(MethodTOTP, codeNow),
			then:  []events.Payload{wrongAt("reused")},
			err:   ErrCodeReused,
		},
		{
			name:  "code of an earlier step than the last used one is reused",
			given: usedNow,
			when:  attempt(MethodTOTP, totpCode(t, fixedNow.Add(-TOTPPeriod))),
			then:  []events.Payload{wrongAt("reused")},
			err:   ErrCodeReused,
		},
		{
			name:  "code of a later step than the last used one passes",
			given: usedNow,
			when:  attempt(MethodTOTP, totpCode(t, fixedNow.Add(TOTPPeriod))),
			then:  []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step + 1}, verifiedBy("")},
		},
		{
			name:  "wrong code fails",
			given: pending,
			when:  attempt(MethodTOTP, wrong),
			then:  []events.Payload{wrongAt("wrong_code")},
			err:   ErrCodeInvalid,
		},
		{
			name:  "code two steps old fails",
			given: pending,
			when:  attempt(MethodTOTP, totpCode(t, fixedNow.Add(-2*TOTPPeriod))),
			then:  []events.Payload{wrongAt("wrong_code")},
			err:   ErrCodeInvalid,
		},
		{
			name:  "malformed code fails and counts",
			given: pending,
			when:  attempt(MethodTOTP, "12ab56"),
			then:  []events.Payload{wrongAt("malformed")},
			err:   ErrCodeFormat,
		},
		{
			name:  "method the user does not have fails and counts",
			given: pending,
			when:  attempt(MethodEmail, "123456"),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodEmail, Reason: "method_not_available"}},
			err:   ErrMethodNotAvailable,
		},
		{
			name:  "unknown method fails and counts",
			given: pending,
			when:  attempt("sms", "123456"),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: "sms", Reason: "method_not_available"}},
			err:   ErrMethodNotAvailable,
		},
		{
			name:  "unknown challenge",
			given: pending,
			when:  Attempt{ChallengeID: "challenge-x", Proof: FactorProof{Method: MethodTOTP, Code: codeNow, TOTPSecret: totpSecret, Now: fixedNow}},
			err:   ErrChallengeNotFound,
		},
		{
			name:  "challenge at the end of its lifetime is gone",
			given: pending,
			when:  Attempt{ChallengeID: challengeID, Proof: FactorProof{Method: MethodTOTP, Code: totpCode(t, challengeExpires), TOTPSecret: totpSecret, Now: challengeExpires}},
			err:   ErrChallengeNotFound,
		},
		{
			name:  "expired and recorded challenge is gone",
			given: story(pending, []events.Payload{&events.ChallengeExpired{ChallengeID: challengeID}}),
			when:  attempt(MethodTOTP, codeNow),
			err:   ErrChallengeNotFound,
		},
		{
			// Only reachable between the two events of one append; the fold of the
			// whole append drops the challenge (see TestAttemptSequences).
			name:  "challenge verified but not yet turned into a session",
			given: story(pending, []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}}),
			when:  attempt(MethodTOTP, totpCode(t, fixedNow.Add(TOTPPeriod))),
			err:   ErrChallengeCompleted,
		},
		{
			name:  "burned challenge takes no more codes, not even the right one",
			given: story(pending, []events.Payload{&events.ChallengeBurned{ChallengeID: challengeID, Failures: 5}}),
			when:  attempt(MethodTOTP, codeNow),
			err:   ErrChallengeBurned,
		},
		{
			name:  "locked user gets no check and no event",
			given: story(pending, []events.Payload{&events.LockoutStarted{Until: fixedNow.Add(time.Minute), Failures: 5}}),
			when:  attempt(MethodTOTP, codeNow),
			err:   &LockedError{Until: fixedNow.Add(time.Minute)},
		},
		{
			name:  "lockout that ended no longer blocks",
			given: story(pending, []events.Payload{&events.LockoutStarted{Until: fixedNow, Failures: 5}}),
			when:  attempt(MethodTOTP, codeNow),
			then:  []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}, verifiedBy("")},
		},
		{
			name: "fifth wrong code on one challenge burns it",
			given: story(pending, []events.Payload{
				failedBefore(challengeID, fixedNow.Add(-50*time.Second)), failedBefore(challengeID, fixedNow.Add(-40*time.Second)),
				failedBefore(challengeID, fixedNow.Add(-30*time.Second)), failedBefore(challengeID, fixedNow.Add(-20*time.Second)),
			}),
			pol:  noLockout,
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code"), &events.ChallengeBurned{ChallengeID: challengeID, Failures: 5}},
			err:  ErrChallengeBurned,
		},
		{
			name: "fourth wrong code on one challenge does not burn it",
			given: story(pending, []events.Payload{
				failedBefore(challengeID, fixedNow.Add(-50*time.Second)), failedBefore(challengeID, fixedNow.Add(-40*time.Second)),
				failedBefore(challengeID, fixedNow.Add(-30*time.Second)),
			}),
			pol:  noLockout,
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code")},
			err:  ErrCodeInvalid,
		},
		{
			// With the defaults the burn and the lockout come together; the lockout
			// is what the caller reports.
			name: "fifth wrong code with default thresholds burns and locks",
			given: story(pending, []events.Payload{
				failedBefore(challengeID, fixedNow.Add(-50*time.Second)), failedBefore(challengeID, fixedNow.Add(-40*time.Second)),
				failedBefore(challengeID, fixedNow.Add(-30*time.Second)), failedBefore(challengeID, fixedNow.Add(-20*time.Second)),
			}),
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{
				wrongAt("wrong_code"),
				&events.ChallengeBurned{ChallengeID: challengeID, Failures: 5},
				&events.LockoutStarted{Until: lockedUntil, Failures: 5},
			},
			err: &LockedError{Until: lockedUntil},
		},
		{
			name: "failures across challenges and proofs within the window lock the user",
			given: story(pending, []events.Payload{
				issuedChallenge("challenge-0"),
				failedBefore("challenge-0", fixedNow.Add(-14*time.Minute)), failedBefore("challenge-0", fixedNow.Add(-10*time.Minute)),
				failedBefore("", fixedNow.Add(-5*time.Minute)), failedBefore(challengeID, fixedNow.Add(-time.Second)),
			}),
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code"), &events.LockoutStarted{Until: lockedUntil, Failures: 5}},
			err:  &LockedError{Until: lockedUntil},
		},
		{
			name: "failures older than the window do not count",
			given: story(pending, []events.Payload{
				failedBefore("challenge-0", fixedNow.Add(-time.Hour)), failedBefore("challenge-0", fixedNow.Add(-20*time.Minute)),
				failedBefore("", fixedNow.Add(-16*time.Minute)), failedBefore("", fixedNow.Add(-15*time.Minute-time.Second)),
			}),
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code")},
			err:  ErrCodeInvalid,
		},
		{
			// Exactly one window ago is outside it.
			name: "failure at the window edge does not count",
			given: story(pending, []events.Payload{
				failedBefore("", fixedNow.Add(-DefaultPolicy().LockoutWindow)),
				failedBefore("", fixedNow.Add(-3*time.Minute)), failedBefore("", fixedNow.Add(-2*time.Minute)),
				failedBefore("", fixedNow.Add(-time.Minute)),
			}),
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code")},
			err:  ErrCodeInvalid,
		},
		{
			name: "failure just inside the window counts",
			given: story(pending, []events.Payload{
				failedBefore("", fixedNow.Add(-DefaultPolicy().LockoutWindow+time.Second)),
				failedBefore("", fixedNow.Add(-3*time.Minute)), failedBefore("", fixedNow.Add(-2*time.Minute)),
				failedBefore("", fixedNow.Add(-time.Minute)),
			}),
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code"), &events.LockoutStarted{Until: lockedUntil, Failures: 5}},
			err:  &LockedError{Until: lockedUntil},
		},
		{
			name: "a lockout starts the count afresh",
			given: story(pending, []events.Payload{
				failedBefore("", fixedNow.Add(-14*time.Minute)), failedBefore("", fixedNow.Add(-13*time.Minute)),
				failedBefore("", fixedNow.Add(-12*time.Minute)), failedBefore("", fixedNow.Add(-11*time.Minute)),
				at(fixedNow.Add(-10*time.Minute), &events.LockoutStarted{Until: fixedNow.Add(-time.Second), Failures: 5}),
			}),
			when: attempt(MethodTOTP, wrong),
			then: []events.Payload{wrongAt("wrong_code")},
			err:  ErrCodeInvalid,
		},
		{
			name:  "lockout threshold follows the policy",
			given: story(pending, []events.Payload{failedBefore("", fixedNow.Add(-time.Minute))}),
			pol:   func(p *Policy) { p.LockoutThreshold, p.LockoutDuration = 2, time.Hour },
			when:  attempt(MethodTOTP, wrong),
			then:  []events.Payload{wrongAt("wrong_code"), &events.LockoutStarted{Until: fixedNow.Add(time.Hour), Failures: 2}},
			err:   &LockedError{Until: fixedNow.Add(time.Hour)},
		},
		{
			name:  "recovery code completes the challenge and is spent",
			given: pending,
			when:  attempt(MethodRecovery, plain[3]),
			then: []events.Payload{
				&events.FactorVerified{ChallengeID: challengeID, Method: MethodRecovery, RecoveryIndex: 3},
				&events.RecoveryCodeUsed{Index: 3},
				verifiedBy(""),
			},
		},
		{
			name:  "spent recovery code is reused",
			given: story(pending, []events.Payload{&events.RecoveryCodeUsed{Index: 3}}),
			when:  attempt(MethodRecovery, plain[3]),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodRecovery, Reason: "reused"}},
			err:   ErrCodeReused,
		},
		{
			name:  "recovery code of a replaced set fails",
			given: story(pending, withRecovery(newerSet)),
			when:  attempt(MethodRecovery, plain[3]),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodRecovery, Reason: "wrong_code"}},
			err:   ErrCodeInvalid,
		},
		{
			name:  "trust this browser binds the trust to the device",
			given: pending,
			when: Attempt{
				ChallengeID: challengeID, Proof: FactorProof{Method: MethodTOTP, Code: codeNow, TOTPSecret: totpSecret, Now: fixedNow},
				TrustBrowser: true, NewBrowserID: "browser-new", NewSecretHash: nextSecret, DeviceID: webDevice.ID, BrowserName: "Firefox on Linux",
			},
			then: []events.Payload{
				&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step},
				&events.BrowserTrusted{BrowserID: "browser-new", DeviceID: webDevice.ID, Name: "Firefox on Linux", ExpiresAt: fixedNow.Add(30 * 24 * time.Hour), SecretHash: nextSecret},
				verifiedBy("browser-new"),
			},
			browser: "browser-new",
		},
		{
			// Trust is bound to a device id; without one there is nothing to bind.
			name:  "trust this browser without a device id trusts nothing",
			given: pending,
			when: Attempt{
				ChallengeID: challengeID, Proof: FactorProof{Method: MethodTOTP, Code: codeNow, TOTPSecret: totpSecret, Now: fixedNow},
				TrustBrowser: true, NewBrowserID: "browser-new", NewSecretHash: nextSecret,
			},
			then: []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}, verifiedBy("")},
		},
		{
			// Trust lives in a cookie; without one to set there is nothing to grant.
			name:  "trust this browser without a cookie secret trusts nothing",
			given: pending,
			when: Attempt{
				ChallengeID: challengeID, Proof: FactorProof{Method: MethodTOTP, Code: codeNow, TOTPSecret: totpSecret, Now: fixedNow},
				TrustBrowser: true, NewBrowserID: "browser-new", DeviceID: webDevice.ID,
			},
			then: []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}, verifiedBy("")},
		},
		{
			// A caller cannot name another device than the one that signed in.
			name:  "trust this browser for a device other than the signing-in one trusts nothing",
			given: pending,
			when: Attempt{
				ChallengeID: challengeID, Proof: FactorProof{Method: MethodTOTP, Code: codeNow, TOTPSecret: totpSecret, Now: fixedNow},
				TrustBrowser: true, NewBrowserID: "browser-new", NewSecretHash: nextSecret, DeviceID: "some-other-device",
			},
			then: []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodTOTP, TOTPStep: step}, verifiedBy("")},
		},
		{
			name:  "trust this browser with a wrong code trusts nothing",
			given: pending,
			when: Attempt{
				ChallengeID: challengeID, Proof: FactorProof{Method: MethodTOTP, Code: wrong, TOTPSecret: totpSecret, Now: fixedNow},
				TrustBrowser: true, NewBrowserID: "browser-new", NewSecretHash: nextSecret, DeviceID: webDevice.ID,
			},
			then: []events.Payload{wrongAt("wrong_code")},
			err:  ErrCodeInvalid,
		},
		{
			name:  "emailed code completes the challenge it was sent for",
			given: withEmailCode(challengeID, fixedNow.Add(4*time.Minute)),
			when:  attempt(MethodEmail, emailCode),
			then:  []events.Payload{&events.FactorVerified{ChallengeID: challengeID, Method: MethodEmail}, verifiedBy("")},
		},
		{
			name:  "wrong emailed code fails",
			given: withEmailCode(challengeID, fixedNow.Add(4*time.Minute)),
			when:  attempt(MethodEmail, "482914"),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodEmail, Reason: "wrong_code"}},
			err:   ErrCodeInvalid,
		},
		{
			name:  "emailed code past its lifetime fails",
			given: withEmailCode(challengeID, fixedNow),
			when:  attempt(MethodEmail, emailCode),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodEmail, Reason: "expired"}},
			err:   ErrCodeExpired,
		},
		{
			name:  "code emailed for another challenge does not complete this one",
			given: withEmailCode("challenge-0", fixedNow.Add(4*time.Minute)),
			when:  attempt(MethodEmail, emailCode),
			then:  []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodEmail, Reason: "method_not_available"}},
			err:   ErrMethodNotAvailable,
		},
		{
			name: "emailed code to an unconfirmed address fails",
			given: story(pending, []events.Payload{
				&events.EmailAddressAdded{Address: "sealed:address", CodeHash: "placeholder", ExpiresAt: fixedNow.Add(time.Minute)},
				&events.EmailCodeSent{ChallengeID: challengeID, CodeHash: emailHash, ExpiresAt: fixedNow.Add(4 * time.Minute)},
			}),
			when: attempt(MethodEmail, emailCode),
			then: []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: MethodEmail, Reason: "method_not_available"}},
			err:  ErrMethodNotAvailable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			pol := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&pol)
			}

			got := DecideAttempt(u, pol, tc.when)

			thenEvents(t, got.Events, tc.then...)
			thenErr(t, got.Err, tc.err)
			if got.BrowserID != tc.browser {
				t.Errorf("browser id %q; want %q", got.BrowserID, tc.browser)
			}
			if tc.browser != "" && !got.TrustExpiresAt.Equal(fixedNow.Add(30*24*time.Hour)) {
				t.Errorf("trust expires %s; want in 30 days", got.TrustExpiresAt)
			}
			if tc.err == nil && (got.Challenge == nil || got.Challenge.ID != challengeID) {
				t.Errorf("outcome challenge %+v; want %s", got.Challenge, challengeID)
			}
		})
	}
}

// TestAttemptSequences runs decisions one after another on the state their own
// events fold into, as the projection would between two requests.
func TestAttemptSequences(t *testing.T) {
	t.Parallel()
	plain, stored := recoverySet(t, 3)
	pending := story(discovered(), withTOTP(), withRecovery(stored), []events.Payload{issuedChallenge(challengeID)})

	t.Run("a code completes one challenge once", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		code := totpCode(t, fixedNow)
		first := DecideAttempt(u, DefaultPolicy(), attempt(MethodTOTP, code))
		thenErr(t, first.Err, nil)
		foldAt(t, u, fixedNow, first.Events...)
		if s := u.Sessions[heldTokenHash]; s == nil || s.Reason != ReasonChallenge || s.Token != heldToken {
			t.Fatalf("session after the challenge: %+v", s)
		}

		// The completed challenge has nothing left to hold: the same code sent
		// again finds nothing and records nothing.
		again := attempt(MethodTOTP, code)
		again.Proof.Now = fixedNow.Add(5 * time.Second)
		second := DecideAttempt(u, DefaultPolicy(), again)
		thenEvents(t, second.Events)
		thenErr(t, second.Err, ErrChallengeNotFound)

		// On the next sign-in's challenge the same code is spent.
		fold(t, u, at(fixedNow.Add(10*time.Second), issuedChallenge("challenge-2")))
		replay := Attempt{ChallengeID: "challenge-2", Proof: FactorProof{Method: MethodTOTP, Code: code, TOTPSecret: totpSecret, Now: fixedNow.Add(10 * time.Second)}}
		third := DecideAttempt(u, DefaultPolicy(), replay)
		thenEvents(t, third.Events, &events.FactorFailed{ChallengeID: "challenge-2", Method: MethodTOTP, Reason: "reused"})
		thenErr(t, third.Err, ErrCodeReused)
	})

	t.Run("a recovery code works once", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		first := DecideAttempt(u, DefaultPolicy(), attempt(MethodRecovery, plain[0]))
		thenErr(t, first.Err, nil)
		foldAt(t, u, fixedNow, first.Events...)
		if got := u.RecoveryLeft(); got != RecoveryCodeCount-1 {
			t.Errorf("recovery codes left %d; want %d", got, RecoveryCodeCount-1)
		}

		fold(t, u, at(fixedNow, issuedChallenge("challenge-2")))
		second := DecideAttempt(u, DefaultPolicy(), Attempt{ChallengeID: "challenge-2", Proof: FactorProof{Method: MethodRecovery, Code: plain[0], Now: fixedNow}})
		thenEvents(t, second.Events, &events.FactorFailed{ChallengeID: "challenge-2", Method: MethodRecovery, Reason: "reused"})
		thenErr(t, second.Err, ErrCodeReused)
	})

	t.Run("wrong codes burn the challenge, then it refuses even the right one", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		pol := DefaultPolicy()
		pol.LockoutThreshold = 100
		wrong := wrongCode(t, fixedNow)
		for i := range pol.MaxChallengeFailures {
			out := DecideAttempt(u, pol, attempt(MethodTOTP, wrong))
			foldAt(t, u, fixedNow, out.Events...)
			if i < pol.MaxChallengeFailures-1 {
				thenErr(t, out.Err, ErrCodeInvalid)
			} else {
				thenErr(t, out.Err, ErrChallengeBurned)
			}
		}
		out := DecideAttempt(u, pol, attempt(MethodTOTP, totpCode(t, fixedNow)))
		thenEvents(t, out.Events)
		thenErr(t, out.Err, ErrChallengeBurned)
	})

	t.Run("a lockout holds every challenge until it ends", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		pol := DefaultPolicy()
		wrong := wrongCode(t, fixedNow)
		var last AttemptOutcome
		for i := range pol.LockoutThreshold {
			// A new challenge per try: the lockout is the user's, not one challenge's.
			id := "challenge-try-" + string(rune('a'+i))
			fold(t, u, at(fixedNow, issuedChallenge(id)))
			last = DecideAttempt(u, pol, Attempt{ChallengeID: id, Proof: FactorProof{Method: MethodTOTP, Code: wrong, TOTPSecret: totpSecret, Now: fixedNow}})
			foldAt(t, u, fixedNow, last.Events...)
		}
		until := fixedNow.Add(pol.LockoutDuration)
		thenErr(t, last.Err, &LockedError{Until: until})

		locked := DecideAttempt(u, pol, attempt(MethodTOTP, totpCode(t, fixedNow)))
		thenEvents(t, locked.Events)
		thenErr(t, locked.Err, &LockedError{Until: until})

		// After the lockout a new sign-in's challenge takes the right code.
		later := until.Add(time.Second)
		fold(t, u, at(later, &events.ChallengeIssued{ChallengeID: "challenge-late", TokenHash: "late-hash", Methods: []string{MethodTOTP}, ExpiresAt: later.Add(5 * time.Minute)}))
		out := DecideAttempt(u, pol, Attempt{ChallengeID: "challenge-late", Proof: FactorProof{Method: MethodTOTP, Code: totpCode(t, later), TOTPSecret: totpSecret, Now: later}})
		thenErr(t, out.Err, nil)
	})

	t.Run("a trusted browser skips the next challenges on its device only, with a new secret each time", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		a := attempt(MethodTOTP, totpCode(t, fixedNow))
		a.TrustBrowser, a.NewBrowserID, a.NewSecretHash, a.DeviceID, a.BrowserName = true, "browser-new", "secret-0", webDevice.ID, "Firefox"
		out := DecideAttempt(u, DefaultPolicy(), a)
		thenErr(t, out.Err, nil)
		foldAt(t, u, fixedNow, out.Events...)

		next := baseSignIn()
		next.Device.ID = "another-device"
		next.Now = fixedNow.Add(24 * time.Hour)
		next.Trust = &PresentedTrust{BrowserID: "browser-new", SecretHash: "secret-0", NextSecretHash: "secret-1"}
		if got := DecideSignIn(u, DefaultPolicy(), next); got.Pass || len(got.Events) != 1 {
			t.Errorf("sign-in with the cookie on another device: %+v", got)
		}
		next.Device.ID = webDevice.ID
		for n := range 3 {
			next.Trust = &PresentedTrust{BrowserID: "browser-new", SecretHash: fmt.Sprint("secret-", n), NextSecretHash: fmt.Sprint("secret-", n+1)}
			got := DecideSignIn(u, DefaultPolicy(), next)
			if !got.Pass || got.Reason != ReasonTrustedBrowser || got.BrowserID != "browser-new" {
				t.Fatalf("sign-in %d with the browser's current secret: %+v", n+1, got)
			}
			foldAt(t, u, next.Now, got.Events...)
			next.Now = next.Now.Add(time.Hour)
		}
		if b := u.Browsers["browser-new"]; b.SecretHash != "secret-3" || !slices.Equal(b.Retired, []string{"secret-0", "secret-1", "secret-2"}) {
			t.Errorf("browser secrets: current %q, retired %q", b.SecretHash, b.Retired)
		}
		next.Trust = &PresentedTrust{BrowserID: "browser-new", SecretHash: "secret-1", NextSecretHash: "secret-x"}
		got := DecideSignIn(u, DefaultPolicy(), next)
		thenEvents(t, got.Events,
			&events.TrustedBrowserReplayed{BrowserID: "browser-new", SecretHash: "secret-1"},
			&events.BrowserTrustRevoked{BrowserID: "browser-new", Reason: RevokedReplayed},
			&events.ChallengeIssued{ChallengeID: "challenge-new", TokenHash: "token-hash-1", Token: "sealed:token-1", AuthResult: "sealed:auth-1",
				Methods: []string{MethodTOTP, MethodRecovery}, Web: true, ExpiresAt: next.Now.Add(DefaultPolicy().ChallengeTTL)})
		foldAt(t, u, next.Now, got.Events...)
		next.Trust = &PresentedTrust{BrowserID: "browser-new", SecretHash: "secret-3", NextSecretHash: "secret-4"}
		if got := DecideSignIn(u, DefaultPolicy(), next); got.Pass {
			t.Errorf("the current secret passed after a replay revoked the browser: %+v", got)
		}
	})

	t.Run("an emailed code is single use", func(t *testing.T) {
		t.Parallel()
		hash, err := HashEmailCode("246810", factorRand(4), factorTestParams)
		if err != nil {
			t.Fatal(err)
		}
		u := given(t, testUserID, story(pending, withEmail(), []events.Payload{
			&events.EmailCodeSent{ChallengeID: challengeID, CodeHash: hash, ExpiresAt: fixedNow.Add(4 * time.Minute)},
		})...)
		first := DecideAttempt(u, DefaultPolicy(), attempt(MethodEmail, "246810"))
		thenErr(t, first.Err, nil)
		// factor_verified alone already spends the code.
		spent := u.Clone()
		foldAt(t, spent, fixedNow, first.Events[0])
		if spent.Challenges[challengeID].EmailCodeHash != "" {
			t.Error("emailed code still usable after factor_verified")
		}
		foldAt(t, u, fixedNow, first.Events...)
		if _, held := u.Challenges[challengeID]; held {
			t.Error("challenge still held after the emailed code completed it")
		}
	})
}

func TestDecideAttemptLeavesStateAlone(t *testing.T) {
	t.Parallel()
	// Deciding is pure: only folding the events changes the state.
	_, stored := recoverySet(t, 5)
	history := story(discovered(), withTOTP(), withRecovery(stored), []events.Payload{issuedChallenge(challengeID)})
	u := given(t, testUserID, history...)
	for _, a := range []Attempt{attempt(MethodTOTP, totpCode(t, fixedNow)), attempt(MethodTOTP, wrongCode(t, fixedNow))} {
		DecideAttempt(u, DefaultPolicy(), a)
	}
	DecideSignIn(u, DefaultPolicy(), baseSignIn())
	if want := given(t, testUserID, history...); !reflect.DeepEqual(u, want) {
		t.Errorf("deciding changed the state:\n got %+v\nwant %+v", u, want)
	}
}

func TestDecideExpireChallengeEndsOnlyAHeldSignIn(t *testing.T) {
	// given a user with a held sign-in
	u := given(t, testUserID,
		&events.UserDiscovered{Name: "alice"},
		&events.ChallengeIssued{ChallengeID: "c1", TokenHash: "h1", Token: "sealed:t1", ExpiresAt: fixedNow.Add(5 * time.Minute)},
	)
	// when it is expired
	evs, token := DecideExpireChallenge(u, "c1")
	// then the expiry is recorded and the held token is returned to be logged out
	if len(evs) != 1 || token != "sealed:t1" {
		t.Fatalf("events = %v, token = %q", evs, token)
	}
	if e, ok := evs[0].(*events.ChallengeExpired); !ok || e.ChallengeID != "c1" {
		t.Fatalf("event = %#v", evs[0])
	}
	// and a challenge that does not exist yields nothing
	if evs, token := DecideExpireChallenge(u, "nope"); len(evs) != 0 || token != "" {
		t.Fatalf("unknown challenge: %v %q", evs, token)
	}
}
