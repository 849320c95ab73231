package domain

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Errors of the sign-in decisions. Callers map them to one generic message for the
// client (no account enumeration) and keep the detail for the audit log.
var (
	ErrChallengeNotFound  = errors.New("challenge not found or expired")
	ErrChallengeCompleted = errors.New("challenge already completed")
	ErrChallengeBurned    = errors.New("challenge burned after too many wrong codes")
	ErrMethodNotAvailable = errors.New("method not available for this user")
	ErrNoFactor           = errors.New("no current factor to prove")
)

// LockedError says the second-factor step is locked until a time.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return fmt.Sprintf("second-factor step locked until %s", e.Until.UTC().Format(time.RFC3339))
}

// SignIn is what the gateway knows after Jellyfin accepted a password.
type SignIn struct {
	UserID, UserName string
	Admin            bool
	TokenHash        string
	Token            events.Sealed // the Jellyfin token, sealed for the user
	AuthResult       events.Sealed // Jellyfin's AuthenticationResult, sealed
	IP               netip.Addr
	BypassSafe       bool // the client address can be trusted for LAN bypass
	Web              bool // the sign-in came through jfguard's web integration
	Device           events.Device
	Trust            *PresentedTrust // a trust cookie whose MAC verified, or nil
	Now              time.Time
	// Ids the decision may use for new things (the domain has no randomness).
	NewChallengeID string
	NewPairingID   string
}

// SignInOutcome is the decision on a sign-in.
type SignInOutcome struct {
	Pass        bool
	Reason      string
	ChallengeID string
	Methods     []string
	PairingID   string // a pairing request was recorded or updated
	BrowserID   string // a trusted browser was used (the caller rotates its cookie)
	// TrustExpiresAt is when the used browser's trust ends, the new cookie's expiry.
	TrustExpiresAt time.Time
	Events         []events.Payload
	// Refused is why the sign-in was refused outright (ErrOutsideNetworks):
	// nothing passes and nothing is held.
	Refused error
}

// PresentedTrust is the trust cookie a sign-in carried, once its MAC verified and
// the projection's index named the browser its secret belongs to.
type PresentedTrust struct {
	BrowserID  string
	SecretHash string
	// NextSecretHash is the hash of the secret that replaces the presented one if
	// the browser is let through; the caller holds the secret itself.
	NextSecretHash string
}

// ConcurrentSignInWindow is how long after a cookie secret was replaced a replay of
// it is taken for a second tab of the same browser rather than a copy: see
// DecideSignIn.
const ConcurrentSignInWindow = 30 * time.Second

// DecideSignIn decides what happens after Jellyfin accepted the password: let the
// token through (and why) or hold it behind a challenge.
func DecideSignIn(u *User, pol Policy, in SignIn) SignInOutcome {
	out := SignInOutcome{Events: DecideProfile(u, in.UserName, in.Admin)}
	if refused, err := DecideNetwork(u, pol, NetworkAttempt{Method: SignInPassword, IP: in.IP, Admin: in.Admin}); err != nil {
		out.Events, out.Refused = append(out.Events, refused...), err
		return out
	}
	pass := func(reason string, extra ...events.Payload) SignInOutcome {
		out.Pass, out.Reason = true, reason
		out.Events = append(out.Events, extra...)
		sv := NewSessionVerified(in.TokenHash, reason, in.Token)
		sv.BrowserID = out.BrowserID
		for _, e := range extra {
			if dp, ok := e.(*events.DevicePaired); ok {
				sv.PairingID = dp.PairingID
			}
		}
		out.Events = append(out.Events, sv)
		return out
	}
	if !pol.Enabled {
		return pass(ReasonDisabled)
	}
	if !u.HasSecondFactor() && !pol.RequireAll {
		return pass(ReasonNoSecondFactor)
	}
	if pol.LANBypass && in.BypassSafe && pol.InLAN(in.IP) {
		return pass(ReasonLAN)
	}
	// With security.new_location_second_factor, a new network asks for the factor
	// even from a trusted browser: a stolen cookie is used from somewhere else.
	if b, replayed := u.trustedBrowser(in.Trust, in.Device.ID, in.Now); b != nil && !u.newLocationNeedsFactor(pol, in.IP) {
		out.BrowserID, out.TrustExpiresAt = b.ID, b.ExpiresAt
		// The cookie is rotated on use, but trust lasts a fixed time from when the
		// user granted it: a browser in daily use is still asked again.
		return pass(ReasonTrustedBrowser, &events.TrustedBrowserUsed{BrowserID: b.ID, ExpiresAt: b.ExpiresAt, SecretHash: in.Trust.NextSecretHash})
	} else if replayed != nil {
		out.Events = append(out.Events, replayed...)
	}
	if p := u.approvedPairing(in.Device, in.Now); p != nil {
		return pass(ReasonPairing, &events.DevicePaired{PairingID: p.ID, TokenHash: in.TokenHash, Token: in.Token})
	}

	out.ChallengeID = in.NewChallengeID
	out.Methods = u.Methods()
	if len(out.Methods) == 0 {
		// Every user must use a second factor (require_all) and this one has none
		// yet: the challenge is where they set one up.
		out.Methods = []string{MethodEnrollTOTP}
	}
	out.Events = append(out.Events, &events.ChallengeIssued{
		ChallengeID: in.NewChallengeID, TokenHash: in.TokenHash, Token: in.Token, AuthResult: in.AuthResult,
		Methods: out.Methods, Web: in.Web, ExpiresAt: in.Now.Add(pol.ChallengeTTL),
	})
	if !in.Web && in.Device.ID != "" {
		if req := u.pairingRequest(pol, in); req != nil {
			out.PairingID = req.PairingID
			out.Events = append(out.Events, req)
		}
	}
	return out
}

// trustedBrowser returns the browser a presented cookie lets through: one of the
// user's browsers whose current secret it is, still trusted and on the device it
// was trusted for. The device id is a second condition, not the binding: it is
// sent by the client, and a thief who copies the cookie copies it too. What binds
// the cookie is its secret, replaced on every use, so a copy works at most until
// the browser it was copied from signs in again.
//
// A secret that was current once and has been replaced is a replay: the browser
// that held it was given the new one, so whoever presents the old one has a copy,
// or is the browser itself racing a second request. It is refused, recorded, and
// the browser's trust revoked, as with refresh-token reuse detection: if the thief
// used the copy first, the thief holds the current secret and the real browser's
// next sign-in is the replay; revoking then cuts the thief off, which refusing
// alone would not. Revoking costs the real user one second factor, so it is spared
// where a replay is most likely innocent: the secret replaced just before, within
// ConcurrentSignInWindow, which is what two tabs signing in at once look like (both
// send the old secret; the first one through replaces it). That replay is refused
// and recorded, and trust is kept: the other tab got the new cookie.
func (u *User) trustedBrowser(t *PresentedTrust, deviceID string, now time.Time) (*Browser, []events.Payload) {
	if t == nil {
		return nil, nil
	}
	b := u.Browsers[t.BrowserID]
	if b == nil || t.SecretHash == "" {
		return nil, nil
	}
	if t.SecretHash == b.SecretHash {
		if !now.Before(b.ExpiresAt) || b.DeviceID != deviceID || t.NextSecretHash == "" {
			return nil, nil
		}
		return b, nil
	}
	i := slices.Index(b.Retired, t.SecretHash)
	if i < 0 {
		return nil, nil
	}
	concurrent := i == len(b.Retired)-1 && now.Sub(b.RotatedAt) < ConcurrentSignInWindow
	evs := []events.Payload{&events.TrustedBrowserReplayed{BrowserID: b.ID, SecretHash: t.SecretHash, Concurrent: concurrent}}
	if !concurrent {
		evs = append(evs, &events.BrowserTrustRevoked{BrowserID: b.ID, Reason: RevokedReplayed})
	}
	return nil, evs
}

// RevokedReplayed is the reason of a browser_trust_revoked that follows a replayed
// cookie.
const RevokedReplayed = "cookie_replayed"

// approvedPairing returns an approved pairing for this device and client that is still
// inside its sign-in window. The device id alone is never enough: the user approved
// it moments ago, for this client.
func (u *User) approvedPairing(d events.Device, now time.Time) *Pairing {
	for _, p := range u.Pairings {
		if p.Status == PairingApproved && now.Before(p.ApprovedUntil) && p.DeviceID == d.ID && p.Client == d.Client {
			return p
		}
	}
	return nil
}

// pairingRequest records (or refreshes) a pending pairing for a native sign-in.
func (u *User) pairingRequest(pol Policy, in SignIn) *events.PairingRequested {
	req := &events.PairingRequested{
		DeviceID: in.Device.ID, DeviceName: in.Device.Name, Client: in.Device.Client, Version: in.Device.Version,
		ExpiresAt: in.Now.Add(pol.PairingTTL),
	}
	pending := 0
	for _, p := range u.Pairings {
		if p.Status == PairingDenied && in.Now.Before(p.ExpiresAt) && p.DeviceID == in.Device.ID && p.Client == in.Device.Client {
			return nil // denied: the device waits until the request would have expired
		}
		if p.Status != PairingPending || !in.Now.Before(p.ExpiresAt) {
			continue
		}
		if p.DeviceID == in.Device.ID && p.Client == in.Device.Client {
			req.PairingID = p.ID // repeated attempts update one request
			return req
		}
		pending++
	}
	if pending >= pol.MaxPendingPairings || in.NewPairingID == "" {
		return nil
	}
	req.PairingID = in.NewPairingID
	return req
}

// FactorProof is a second factor presented by a client, with what the caller
// unsealed for checking it.
type FactorProof struct {
	Method     string
	Code       string
	TOTPSecret string // the unsealed TOTP secret, when the user has one
	// Passkey is the WebAuthn assertion the caller checked, for MethodPasskey.
	Passkey PasskeyAssertion
	Now     time.Time
}

// Attempt is a try at completing a challenge.
type Attempt struct {
	ChallengeID  string
	Proof        FactorProof
	TrustBrowser bool
	NewBrowserID string
	// NewSecretHash is the hash of the secret of the cookie the caller sets if the
	// browser becomes trusted.
	NewSecretHash string
	DeviceID      string
	BrowserName   string
}

// AttemptOutcome is the decision on an attempt. Events are appended whether or not
// Err is set: a failure is a fact too.
type AttemptOutcome struct {
	Challenge *Challenge
	Events    []events.Payload
	Err       error
	BrowserID string
	// TrustExpiresAt is when the new trust ends, the cookie's expiry.
	TrustExpiresAt time.Time
}

// DecideAttempt checks a second factor against a challenge.
func DecideAttempt(u *User, pol Policy, a Attempt) AttemptOutcome {
	now := a.Proof.Now
	c := u.Challenges[a.ChallengeID]
	if c == nil || (!c.Done && !now.Before(c.ExpiresAt)) {
		return AttemptOutcome{Err: ErrChallengeNotFound}
	}
	out := AttemptOutcome{Challenge: c}
	if c.Done {
		if c.Verified {
			out.Err = ErrChallengeCompleted
		} else {
			out.Err = ErrChallengeBurned
		}
		return out
	}
	if u.Locked(now) {
		out.Err = &LockedError{Until: u.LockedUntil}
		return out
	}
	factor, err := u.proveFactor(pol, c.ID, a.Proof, "")
	if err != nil {
		out.Events, out.Err = factor, err
		return out
	}
	out.Events = append(out.Events, factor...)
	sv := NewSessionVerified(c.TokenHash, ReasonChallenge, c.Token)
	sv.ChallengeID = c.ID
	// Trust binds to the device that signed in, never to one the caller names.
	if a.TrustBrowser && a.NewBrowserID != "" && a.NewSecretHash != "" && a.DeviceID != "" && a.DeviceID == c.Device.ID {
		out.BrowserID, out.TrustExpiresAt = a.NewBrowserID, now.Add(pol.TrustDuration())
		sv.BrowserID = a.NewBrowserID
		out.Events = append(out.Events, &events.BrowserTrusted{
			BrowserID: a.NewBrowserID, DeviceID: a.DeviceID, Name: a.BrowserName, ExpiresAt: out.TrustExpiresAt, SecretHash: a.NewSecretHash,
		})
	}
	out.Events = append(out.Events, sv)
	return out
}

// proveFactor checks a proof of a second factor, for a challenge (challengeID) or
// for a self-service change (purpose), and returns the events of the outcome: the
// verification and what it spent, or the failure and what the failure triggers.
func (u *User) proveFactor(pol Policy, challengeID string, p FactorProof, purpose string) ([]events.Payload, error) {
	if p.Method == MethodPasskey {
		if !p.Passkey.Verified {
			return u.failure(pol, challengeID, MethodPasskey, ErrPasskeyInvalid, p.Now, purpose)
		}
		return DecidePasskeyAssertion(u, pol, p.Passkey.CredentialID, p.Passkey.SignCount, purpose, challengeID, p.Now)
	}
	v, err := u.checkFactor(pol, u.Challenges[challengeID], p)
	if err != nil {
		return u.failure(pol, challengeID, p.Method, err, p.Now, purpose)
	}
	v.ChallengeID, v.Purpose = challengeID, purpose
	evs := []events.Payload{v}
	if v.Method == MethodRecovery {
		evs = append(evs, &events.RecoveryCodeUsed{Index: v.RecoveryIndex})
	}
	return evs, nil
}

// checkFactor verifies a code and returns the factor_verified payload.
func (u *User) checkFactor(pol Policy, c *Challenge, p FactorProof) (*events.FactorVerified, error) {
	switch p.Method {
	case MethodTOTP:
		if u.TOTP == nil {
			return nil, ErrMethodNotAvailable
		}
		step, err := VerifyTOTP(p.TOTPSecret, p.Code, p.Now, u.TOTP.LastStep)
		if err != nil {
			return nil, err
		}
		return &events.FactorVerified{Method: MethodTOTP, TOTPStep: step}, nil
	case MethodRecovery:
		if len(u.Recovery) == 0 {
			return nil, ErrMethodNotAvailable
		}
		i, err := MatchRecoveryCode(u.Recovery, u.RecoveryUsed, p.Code)
		if err != nil {
			return nil, err
		}
		return &events.FactorVerified{Method: MethodRecovery, RecoveryIndex: i}, nil
	case MethodEmail:
		if u.Email == nil || !u.Email.Confirmed {
			return nil, ErrMethodNotAvailable
		}
		// A challenge has its own code; a proof for a self-service change uses the
		// code sent to the user outside any challenge.
		hash, expires := u.Email.CodeHash, u.Email.CodeExpires
		if c != nil {
			hash, expires = c.EmailCodeHash, c.EmailExpires
		}
		if hash == "" {
			return nil, ErrMethodNotAvailable
		}
		if !p.Now.Before(expires) {
			return nil, ErrCodeExpired
		}
		if err := VerifyEmailCode(hash, p.Code); err != nil {
			return nil, err
		}
		return &events.FactorVerified{Method: MethodEmail}, nil
	}
	return nil, ErrMethodNotAvailable
}

// ErrCodeExpired: an emailed code is past its lifetime.
var ErrCodeExpired = errors.New("code: expired")

// failure records a failed factor, burning the challenge and locking the user when
// the thresholds are reached.
func (u *User) failure(pol Policy, challengeID, method string, cause error, now time.Time, purpose string) ([]events.Payload, error) {
	evs := []events.Payload{&events.FactorFailed{ChallengeID: challengeID, Method: method, Reason: failureReason(cause), Purpose: purpose}}
	if c := u.Challenges[challengeID]; c != nil && pol.MaxChallengeFailures > 0 && c.Failures+1 >= pol.MaxChallengeFailures {
		evs = append(evs, &events.ChallengeBurned{ChallengeID: challengeID, Failures: c.Failures + 1})
		cause = ErrChallengeBurned
	}
	recent := 1
	for _, t := range u.Failures {
		if now.Sub(t) < pol.LockoutWindow {
			recent++
		}
	}
	if pol.LockoutThreshold > 0 && recent >= pol.LockoutThreshold {
		until := now.Add(pol.LockoutDuration)
		evs = append(evs, &events.LockoutStarted{Until: until, Failures: recent})
		cause = &LockedError{Until: until}
	}
	return evs, cause
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, ErrCodeFormat):
		return "malformed"
	case errors.Is(err, ErrCodeReused):
		return "reused"
	case errors.Is(err, ErrCodeExpired):
		return "expired"
	case errors.Is(err, ErrMethodNotAvailable):
		return "method_not_available"
	case errors.Is(err, ErrPasskeyInvalid):
		return "invalid_assertion"
	case errors.Is(err, ErrPasskeyCloned):
		return "clone_suspected"
	}
	return "wrong_code"
}

// DecideProof checks a current factor for a sensitive self-service change
// (regenerating recovery codes, disabling 2FA, removing a passkey or the email
// address). A failure counts toward lockout like a failed challenge.
func DecideProof(u *User, pol Policy, p FactorProof, purpose string) ([]events.Payload, error) {
	if !u.HasSecondFactor() {
		return nil, ErrNoFactor
	}
	if u.Locked(p.Now) {
		return nil, &LockedError{Until: u.LockedUntil}
	}
	return u.proveFactor(pol, "", p, purpose)
}

// ExpiredChallenges lists the challenges past their lifetime at now that were not
// completed; the caller records challenge_expired and logs their tokens out.
func (u *User) ExpiredChallenges(now time.Time) []*Challenge {
	var out []*Challenge
	for _, c := range u.Challenges {
		if !c.Verified && !now.Before(c.ExpiresAt) {
			out = append(out, c)
		}
	}
	return out
}
