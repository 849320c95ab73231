package domain

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Second-factor methods, as named in challenges, events and the API.
const (
	MethodTOTP     = "totp"
	MethodRecovery = "recovery"
	MethodPasskey  = "passkey"
	MethodEmail    = "email"
	// MethodEnrollTOTP: the user has no factor but must use one (require_all);
	// completing the challenge means adding an authenticator app.
	MethodEnrollTOTP = "enroll_totp"
)

// Reasons a session is verified, recorded in session_verified.
const (
	ReasonNoSecondFactor = "no_2fa"
	ReasonDisabled       = "jfguard_disabled"
	ReasonLAN            = "lan"
	ReasonTrustedBrowser = "trusted_browser"
	ReasonChallenge      = "challenge"
	ReasonPairing        = "pairing"
	ReasonAppPassword    = "app_password"
	ReasonPasskey        = "passkey_sign_in"
	ReasonQuickConnect   = "quick_connect"
	ReasonAdopted        = "adopted"
)

// User is the state of one user aggregate, folded from its events.
type User struct {
	ID        string
	Name      string
	Admin     bool
	Version   uint64 // stream sequence of the user's last event
	Forgotten bool

	TOTP         *TOTP
	PendingTOTP  events.Sealed
	Recovery     []events.RecoveryCode
	RecoveryUsed []bool
	Passkeys     map[string]*Passkey
	Email        *Email

	Challenges  map[string]*Challenge
	Failures    []time.Time // second-factor failures since the last lockout
	LockedUntil time.Time
	Password    PasswordGuard // the password step (password.go)

	Sessions     map[string]*Session // by token hash
	Browsers     map[string]*Browser
	Pairings     map[string]*Pairing
	AppPasswords map[string]*AppPassword
	Whereabouts  Whereabouts // networks signed in from (location.go)

	// Networks are where the user may sign in from; empty means anywhere
	// (networks.go).
	Networks []netip.Prefix
}

// TOTP is a confirmed authenticator app.
type TOTP struct {
	Secret     events.Sealed
	LastStep   int64
	EnrolledAt time.Time
}

// Passkey is a registered WebAuthn credential.
type Passkey struct {
	events.PasskeyRegistered
	CreatedAt time.Time
	LastUsed  time.Time
}

// Email is the address codes are sent to.
type Email struct {
	Address     events.Sealed
	Confirmed   bool
	CodeHash    string
	CodeExpires time.Time
	Sends       []time.Time
}

// Challenge is a held sign-in waiting for a second factor.
type Challenge struct {
	ID         string
	TokenHash  string
	Token      events.Sealed
	AuthResult events.Sealed
	Methods    []string
	Web        bool
	IssuedAt   time.Time
	ExpiresAt  time.Time
	Failures   int
	Done       bool // verified, burned or expired
	Verified   bool
	IP         string
	Device     events.Device

	EmailCodeHash string
	EmailExpires  time.Time
	EmailSends    []time.Time
}

// Session is a token the gate lets through.
type Session struct {
	TokenHash     string
	Token         events.Sealed
	Reason        string
	VerifiedAt    time.Time
	IP            string
	Device        events.Device
	BrowserID     string
	PairingID     string
	AppPasswordID string
	// Assurance is the level the session was created at; FactorAt when it last
	// proved a second factor (at sign-in or by a step-up), zero if never.
	Assurance Assurance
	FactorAt  time.Time
}

// Browser is a trusted browser.
type Browser struct {
	ID        string
	DeviceID  string
	Name      string
	CreatedAt time.Time
	LastUsed  time.Time
	ExpiresAt time.Time
	IP        string
	// SecretHash is the hash of the secret the browser's cookie holds now; empty
	// for a browser trusted before cookies carried one, which no cookie matches.
	SecretHash string
	// Retired are the hashes of the secrets it held before, oldest first, at most
	// RetiredSecretsKept: presenting one of them again is a replay.
	Retired []string
	// RotatedAt is when SecretHash replaced the newest of Retired.
	RotatedAt time.Time
}

// RetiredSecretsKept bounds how many replaced secrets a browser remembers for
// replay detection. Secrets are replaced at password sign-ins only, so this covers
// months of use; an older copy is refused as unknown rather than as a replay.
const RetiredSecretsKept = 64

// retire returns the hashes a browser remembers once current is replaced. It
// builds a new slice: a copy of the state handed to a decision may share the old
// one.
func retire(retired []string, current string) []string {
	if current == "" {
		return retired
	}
	keep := retired
	if len(keep) >= RetiredSecretsKept {
		keep = keep[len(keep)-RetiredSecretsKept+1:]
	}
	out := make([]string, 0, len(keep)+1)
	return append(append(out, keep...), current)
}

// Pairing states.
const (
	PairingPending  = "pending"
	PairingApproved = "approved"
	PairingDenied   = "denied"
	PairingPaired   = "paired"
)

// Pairing is a native app's request to be let in, and later the paired device.
type Pairing struct {
	ID            string
	DeviceID      string
	DeviceName    string
	Client        string
	Version       string
	IP            string
	RequestedAt   time.Time
	ExpiresAt     time.Time
	Attempts      int
	Status        string
	ApprovedUntil time.Time
	TokenHash     string
	PairedAt      time.Time
	LastUsed      time.Time
}

// AppPassword is a stored app password.
type AppPassword struct {
	ID        string
	Label     string
	Hash      string
	CreatedAt time.Time
	LastUsed  time.Time
	LastIP    string
}

// NewUser is the empty state of a user aggregate.
func NewUser(id string) *User {
	return &User{
		ID:           id,
		Passkeys:     map[string]*Passkey{},
		Challenges:   map[string]*Challenge{},
		Sessions:     map[string]*Session{},
		Browsers:     map[string]*Browser{},
		Pairings:     map[string]*Pairing{},
		AppPasswords: map[string]*AppPassword{},
	}
}

// Known reports whether jfguard has seen this user.
func (u *User) Known() bool { return u != nil && u.Version > 0 }

// HasSecondFactor reports whether the user has a usable second factor.
func (u *User) HasSecondFactor() bool {
	return u.TOTP != nil || len(u.Passkeys) > 0 || (u.Email != nil && u.Email.Confirmed)
}

// Methods lists the user's usable second-factor methods in display order.
func (u *User) Methods() []string {
	var m []string
	if u.TOTP != nil {
		m = append(m, MethodTOTP)
	}
	if len(u.Passkeys) > 0 {
		m = append(m, MethodPasskey)
	}
	if u.Email != nil && u.Email.Confirmed {
		m = append(m, MethodEmail)
	}
	if u.RecoveryLeft() > 0 && len(m) > 0 {
		m = append(m, MethodRecovery)
	}
	return m
}

// RecoveryLeft counts unspent recovery codes.
func (u *User) RecoveryLeft() int {
	n := 0
	for i := range u.Recovery {
		if i >= len(u.RecoveryUsed) || !u.RecoveryUsed[i] {
			n++
		}
	}
	return n
}

// Locked reports whether the second-factor step is locked at now.
func (u *User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// SortedPairings returns pairings newest first.
func (u *User) SortedPairings() []*Pairing {
	out := make([]*Pairing, 0, len(u.Pairings))
	for _, p := range u.Pairings {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestedAt.After(out[j].RequestedAt) })
	return out
}

// Evolve applies one event of this user to the state. p is the decoded payload of ev.
// It never fails: an event is a fact, and facts the fold does not know are ignored.
func (u *User) Evolve(ev events.Event, p events.Payload) {
	u.Version = ev.Seq
	now := ev.Time
	dev := events.Device{}
	if ev.Device != nil {
		dev = *ev.Device
	}
	u.Password.evolve(now, p)
	u.Whereabouts.evolve(ev, p)
	u.evolveNetworks(p)
	switch e := p.(type) {
	case *events.UserDiscovered:
		u.Name, u.Admin = e.Name, e.Admin
	case *events.UserProfileChanged:
		u.Name, u.Admin = e.Name, e.Admin
	case *events.UserForgotten:
		u.Forgotten = true
		u.clearFactors()
		u.AppPasswords = map[string]*AppPassword{}
	case *events.UserReset:
		u.clearFactors()
		u.Failures, u.LockedUntil = nil, time.Time{}

	case *events.ChallengeIssued:
		u.Challenges[e.ChallengeID] = &Challenge{
			ID: e.ChallengeID, TokenHash: e.TokenHash, Token: e.Token, AuthResult: e.AuthResult,
			Methods: e.Methods, Web: e.Web, IssuedAt: now, ExpiresAt: e.ExpiresAt, IP: ev.IP, Device: dev,
		}
	case *events.FactorVerified:
		if c := u.Challenges[e.ChallengeID]; c != nil {
			c.Done, c.Verified = true, true
		}
		if e.Method == MethodTOTP && u.TOTP != nil && e.TOTPStep > u.TOTP.LastStep {
			u.TOTP.LastStep = e.TOTPStep
		}
		if e.Method == MethodEmail {
			if c := u.Challenges[e.ChallengeID]; c != nil {
				c.EmailCodeHash = ""
			} else if e.ChallengeID == "" && u.Email != nil {
				u.Email.CodeHash = ""
			}
		}
	case *events.FactorFailed:
		if c := u.Challenges[e.ChallengeID]; c != nil {
			c.Failures++
		}
		// A typo while setting up an authenticator is not an attack on sign-in.
		if e.Purpose != "enroll" {
			u.Failures = append(u.Failures, now)
			if len(u.Failures) > 64 {
				u.Failures = append(u.Failures[:0], u.Failures[len(u.Failures)-64:]...)
			}
		}
	case *events.ChallengeBurned:
		if c := u.Challenges[e.ChallengeID]; c != nil {
			c.Done = true
		}
	case *events.ChallengeExpired:
		if c := u.Challenges[e.ChallengeID]; c != nil {
			c.Done = true
		}
		delete(u.Challenges, e.ChallengeID)
	case *events.LockoutStarted:
		u.LockedUntil = e.Until
		u.Failures = nil
	case *events.SessionVerified:
		s := &Session{
			TokenHash: e.TokenHash, Token: e.Token, Reason: e.Reason, VerifiedAt: now, IP: ev.IP, Device: dev,
			BrowserID: e.BrowserID, PairingID: e.PairingID, AppPasswordID: e.AppPasswordID,
			Assurance: Assurance(e.Assurance),
		}
		if s.Assurance == "" {
			// Version 1 events are upcast with their level; a current one without it
			// is a writer's bug, read as the weakest level.
			s.Assurance = AssuranceDevice
		}
		if s.Assurance == AssuranceAAL2 && startsRecent(e.Reason) {
			s.FactorAt = now
		}
		u.Sessions[e.TokenHash] = s
		if e.ChallengeID != "" {
			if c := u.Challenges[e.ChallengeID]; c != nil {
				if s := u.Sessions[e.TokenHash]; s.Token == "" {
					s.Token = c.Token
				}
				// A completed challenge has nothing left to hold.
				delete(u.Challenges, e.ChallengeID)
			}
		}
	case *events.SessionRevoked:
		delete(u.Sessions, e.TokenHash)
	case *events.SessionSteppedUp:
		if s := u.Sessions[e.TokenHash]; s != nil {
			s.FactorAt = now
		}
	case *events.SignedOutEverywhere:
		for h := range u.Sessions {
			if h != e.KeptTokenHash {
				delete(u.Sessions, h)
			}
		}
		u.Challenges = map[string]*Challenge{}
		u.AppPasswords = map[string]*AppPassword{}
		u.Pairings = map[string]*Pairing{}
		u.Browsers = map[string]*Browser{}

	case *events.TOTPEnrollmentStarted:
		u.PendingTOTP = e.Secret
	case *events.TOTPEnrolled:
		u.TOTP = &TOTP{Secret: u.PendingTOTP, LastStep: e.Step, EnrolledAt: now}
		u.PendingTOTP = ""
	case *events.TOTPRemoved:
		u.TOTP = nil
	case *events.RecoveryCodesGenerated:
		u.Recovery = e.Codes
		u.RecoveryUsed = make([]bool, len(e.Codes))
	case *events.RecoveryCodeUsed:
		if e.Index >= 0 && e.Index < len(u.RecoveryUsed) {
			u.RecoveryUsed[e.Index] = true
		}
	case *events.TwoFactorDisabled:
		u.clearFactors()
	case *events.PasskeyRegistered:
		u.Passkeys[e.CredentialID] = &Passkey{PasskeyRegistered: *e, CreatedAt: now}
	case *events.PasskeyRenamed:
		if k := u.Passkeys[e.CredentialID]; k != nil {
			k.Label = e.Label
		}
	case *events.PasskeyRemoved:
		delete(u.Passkeys, e.CredentialID)
	case *events.PasskeyUsed:
		if k := u.Passkeys[e.CredentialID]; k != nil {
			k.SignCount, k.LastUsed = e.SignCount, now
		}
	case *events.EmailAddressAdded:
		u.Email = &Email{Address: e.Address, CodeHash: e.CodeHash, CodeExpires: e.ExpiresAt, Sends: []time.Time{now}}
	case *events.EmailAddressConfirmed:
		if u.Email != nil {
			u.Email.Confirmed, u.Email.CodeHash = true, ""
		}
	case *events.EmailAddressRemoved:
		u.Email = nil
	case *events.EmailCodeSent:
		if c := u.Challenges[e.ChallengeID]; c != nil {
			c.EmailCodeHash, c.EmailExpires = e.CodeHash, e.ExpiresAt
			c.EmailSends = append(c.EmailSends, now)
		} else if u.Email != nil {
			u.Email.CodeHash, u.Email.CodeExpires = e.CodeHash, e.ExpiresAt
		}
		if u.Email != nil {
			u.Email.Sends = append(u.Email.Sends, now)
		}

	case *events.BrowserTrusted:
		u.Browsers[e.BrowserID] = &Browser{ID: e.BrowserID, DeviceID: e.DeviceID, Name: e.Name, CreatedAt: now, LastUsed: now, ExpiresAt: e.ExpiresAt, IP: ev.IP, SecretHash: e.SecretHash}
	case *events.TrustedBrowserUsed:
		if b := u.Browsers[e.BrowserID]; b != nil {
			b.LastUsed, b.ExpiresAt, b.IP = now, e.ExpiresAt, ev.IP
			if e.SecretHash != "" && e.SecretHash != b.SecretHash {
				b.Retired, b.SecretHash, b.RotatedAt = retire(b.Retired, b.SecretHash), e.SecretHash, now
			}
		}
	case *events.BrowserTrustRevoked:
		delete(u.Browsers, e.BrowserID)
	case *events.PairingRequested:
		p := u.Pairings[e.PairingID]
		if p == nil {
			// A request expires a fixed time after it was first made: retries refresh
			// what it shows, not how long it lives.
			p = &Pairing{ID: e.PairingID, RequestedAt: now, Status: PairingPending, ExpiresAt: e.ExpiresAt}
			u.Pairings[e.PairingID] = p
		}
		p.DeviceID, p.DeviceName, p.Client, p.Version = e.DeviceID, e.DeviceName, e.Client, e.Version
		p.IP, p.LastUsed = ev.IP, now
		p.Attempts++
	case *events.PairingApproved:
		if p := u.Pairings[e.PairingID]; p != nil {
			p.Status, p.ApprovedUntil = PairingApproved, e.Until
		}
	case *events.PairingDenied:
		if p := u.Pairings[e.PairingID]; p != nil {
			p.Status = PairingDenied
		}
	case *events.DevicePaired:
		if p := u.Pairings[e.PairingID]; p != nil {
			p.Status, p.TokenHash, p.PairedAt, p.LastUsed, p.IP = PairingPaired, e.TokenHash, now, now, ev.IP
		}
	case *events.DeviceRevoked:
		delete(u.Pairings, e.PairingID)
	case *events.AppPasswordCreated:
		u.AppPasswords[e.ID] = &AppPassword{ID: e.ID, Label: e.Label, Hash: e.Hash, CreatedAt: now}
	case *events.AppPasswordUsed:
		if a := u.AppPasswords[e.ID]; a != nil {
			a.LastUsed, a.LastIP = now, ev.IP
		}
	case *events.AppPasswordRevoked:
		delete(u.AppPasswords, e.ID)
	}
}

// clearFactors removes every second factor of the user and every browser trusted on
// them: what forgetting a user, resetting one and disabling two-step sign-in share.
func (u *User) clearFactors() {
	u.TOTP, u.PendingTOTP, u.Email = nil, "", nil
	u.Recovery, u.RecoveryUsed = nil, nil
	u.Passkeys = map[string]*Passkey{}
	u.Browsers = map[string]*Browser{}
}

// Clone returns a deep copy, so a decision can run without holding the projection's
// lock (some factor checks take tens of milliseconds).
func (u *User) Clone() *User {
	c := *u
	if u.TOTP != nil {
		t := *u.TOTP
		c.TOTP = &t
	}
	if u.Email != nil {
		e := *u.Email
		e.Sends = append([]time.Time(nil), u.Email.Sends...)
		c.Email = &e
	}
	c.Recovery = append([]events.RecoveryCode(nil), u.Recovery...)
	c.RecoveryUsed = append([]bool(nil), u.RecoveryUsed...)
	c.Failures = append([]time.Time(nil), u.Failures...)
	c.Password = u.Password.clone()
	c.Whereabouts = u.Whereabouts.clone()
	c.Passkeys = cloneMap(u.Passkeys)
	for _, k := range c.Passkeys {
		k.Transports = append([]string(nil), k.Transports...)
	}
	c.Challenges = cloneMap(u.Challenges)
	for _, ch := range c.Challenges {
		ch.Methods = append([]string(nil), ch.Methods...)
		ch.EmailSends = append([]time.Time(nil), ch.EmailSends...)
	}
	c.Sessions = cloneMap(u.Sessions)
	c.Browsers = cloneMap(u.Browsers)
	for _, b := range c.Browsers {
		b.Retired = append([]string(nil), b.Retired...)
	}
	c.Pairings = cloneMap(u.Pairings)
	c.AppPasswords = cloneMap(u.AppPasswords)
	c.Networks = slices.Clone(u.Networks)
	return &c
}

func cloneMap[T any](m map[string]*T) map[string]*T {
	out := make(map[string]*T, len(m))
	for k, v := range m {
		c := *v
		out[k] = &c
	}
	return out
}

// Clone returns a copy of the address state.
func (a *Address) Clone() *Address {
	c := *a
	c.Failures = append([]time.Time(nil), a.Failures...)
	return &c
}

// pruneAfter is how long finished things (expired browsers and pairing requests,
// answered requests) stay in the state after they stop mattering.
const pruneAfter = 24 * time.Hour

// Prune drops what can no longer affect a decision at now: trusted browsers and
// pairing requests that expired more than a day ago. It is deterministic in now (the
// time of the event being folded), so a replay prunes exactly as the live fold did.
func (u *User) Prune(now time.Time) {
	for id, b := range u.Browsers {
		if now.Sub(b.ExpiresAt) > pruneAfter {
			delete(u.Browsers, id)
		}
	}
	for id, p := range u.Pairings {
		switch p.Status {
		case PairingPending, PairingDenied:
			if now.Sub(p.ExpiresAt) > pruneAfter {
				delete(u.Pairings, id)
			}
		case PairingApproved:
			if now.Sub(p.ApprovedUntil) > pruneAfter {
				delete(u.Pairings, id)
			}
		}
	}
}

// Idle reports whether an address holds nothing that matters at now: no ban and no
// failure within a day (longer than any ban window).
func (a *Address) Idle(now time.Time) bool {
	if a.Banned(now) {
		return false
	}
	return len(a.Failures) == 0 || now.Sub(a.Failures[len(a.Failures)-1]) > pruneAfter
}

// SupersededSessions lists the user's sessions that a new session from the same
// device replaces: Jellyfin ends a device's earlier session when it signs in again.
func (u *User) SupersededSessions(d events.Device, tokenHash string) []string {
	if d.ID == "" {
		return nil
	}
	var out []string
	for h, s := range u.Sessions {
		if h != tokenHash && s.Device.ID == d.ID && s.Device.Client == d.Client {
			out = append(out, h)
		}
	}
	return out
}
