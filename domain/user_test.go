package domain

import (
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/jfguard/jfguard/events"
)

// The decision tests below are "given these events, when this command, then these
// events" tables. The helpers in this file build the given state the way the
// projections do: every past payload goes through a real envelope, the JSON codec
// and events.Decode before User.Evolve folds it, so a field the codec drops or an
// event the fold misreads shows up here and not only in end-to-end tests.

// fixedNow is the clock every decision runs at. Past events are placed relative
// to it, so windows and expiries are exact to the nanosecond.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testUserID is a Jellyfin user id: 32 hex digits, subject-safe.
const testUserID = "f3b9c2a1d4e5f60718293a4b5c6d7e8f"

// The sign-in under test comes from a browser on the internet unless a case says
// otherwise; the TV is the native app of the pairing cases.
var (
	wanIP     = netip.MustParseAddr("203.0.113.7")
	webDevice = events.Device{ID: "TW96aWxsYS81LjA", Name: "Firefox", Client: "Jellyfin Web", Version: "10.11.0"}
	tvDevice  = events.Device{ID: "android-tv-4f2a", Name: "Living room TV", Client: "Jellyfin Android TV", Version: "0.18.0"}
)

// totpSecret is the unsealed authenticator seed of the test user (160 bits);
// sealedTOTP stands for its sealed form, which the domain never opens.
var (
	totpSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("jfguard-test-seed-20"))
	sealedTOTP = events.Sealed("sealed:totp-secret")
)

// enrolledStep is the time step of the code that confirmed the authenticator, long
// enough before fixedNow that every code around fixedNow is still fresh.
var enrolledStep = TOTPStep(fixedNow) - 1000

// totpCode computes the authenticator's code at a time with the pquerna/otp
// implementation, independently of VerifyTOTP.
func totpCode(t testing.TB, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(totpSecret, at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongCode returns a well-formed code that no step of the window around at
// accepts, so "wrong" never depends on luck.
func wrongCode(t testing.TB, at time.Time) string {
	t.Helper()
	window := []string{totpCode(t, at.Add(-TOTPPeriod)), totpCode(t, at), totpCode(t, at.Add(TOTPPeriod))}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !slices.Contains(window, c) {
			return c
		}
	}
	t.Fatal("every candidate wrong code is valid")
	return ""
}

// fact is a past event with the envelope fields the fold reads besides the
// payload: when it happened, and from which address and device. A payload given
// bare happened a minute before fixedNow, from nowhere in particular.
type fact struct {
	events.Payload
	at     time.Time
	ip     string
	device *events.Device
	v      int // the version it was written with; zero: today's
}

func asFact(p events.Payload) fact {
	if f, ok := p.(fact); ok {
		return f
	}
	return fact{Payload: p, at: fixedNow.Add(-time.Minute)}
}

// at dates a past event.
func at(when time.Time, p events.Payload) fact {
	f := asFact(p)
	f.at = when
	return f
}

// writtenAsV says a past event was written by an older jfguard, at version v of its
// type: the fold reads it through the upcasters.
func writtenAsV(v int, p events.Payload) fact {
	f := asFact(p)
	f.v = v
	return f
}

// from says where a past event came from.
func from(ip string, d events.Device, p events.Payload) fact {
	f := asFact(p)
	f.ip, f.device = ip, &d
	return f
}

// story joins histories, so a table case can build on a common past.
func story(parts ...[]events.Payload) []events.Payload {
	var out []events.Payload
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// given folds a user's past into a fresh state, as the projection would.
func given(t testing.TB, userID string, payloads ...events.Payload) *User {
	t.Helper()
	u := NewUser(userID)
	fold(t, u, payloads...)
	return u
}

// fold appends events to the user's stream: each gets the next sequence number.
func fold(t testing.TB, u *User, payloads ...events.Payload) {
	t.Helper()
	for _, p := range payloads {
		ev, decoded := throughStream(t, u.ID, u.Version+1, p)
		u.Evolve(ev, decoded)
	}
}

// foldAt folds a decision's events as the store records them: all at the time the
// decision was made.
func foldAt(t testing.TB, u *User, when time.Time, payloads ...events.Payload) {
	t.Helper()
	for _, p := range payloads {
		fold(t, u, at(when, p))
	}
}

// givenAddress folds an address's past into a fresh state.
func givenAddress(t testing.TB, ip string, payloads ...events.Payload) *Address {
	t.Helper()
	a := &Address{ID: events.IPAggregateID(ip)}
	for _, p := range payloads {
		ev, decoded := throughStream(t, a.ID, a.Version+1, p)
		a.Evolve(ev, decoded)
	}
	return a
}

// throughStream wraps a payload in its envelope and sends it through the wire
// format: marshal, unmarshal, decode. Seq is what the stream assigns on read.
func throughStream(t testing.TB, aggID string, seq uint64, p events.Payload) (events.Event, events.Payload) {
	t.Helper()
	f := asFact(p)
	ev, err := events.New(aggID, f.at, events.Context{IP: f.ip, Device: f.device}, f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if f.v != 0 {
		ev.V = f.v
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var read events.Event
	if err := json.Unmarshal(raw, &read); err != nil {
		t.Fatal(err)
	}
	read.Seq = seq
	decoded, err := events.Decode(read)
	if err != nil {
		t.Fatal(err)
	}
	return read, decoded
}

// thenEvents fails unless a decision produced exactly want, in order.
func thenEvents(t testing.TB, got []events.Payload, want ...events.Payload) {
	t.Helper()
	if !slices.Equal(eventTypes(got), eventTypes(want)) {
		t.Fatalf("events %v; want %v", eventTypes(got), eventTypes(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d (%s):\n got %+v\nwant %+v", i, want[i].EventType(), got[i], want[i])
		}
	}
}

func eventTypes(ps []events.Payload) []events.Type {
	out := make([]events.Type, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.EventType())
	}
	return out
}

// thenErr fails unless err is want: the same sentinel, or a LockedError with the
// same end time. A nil want means success.
func thenErr(t testing.TB, err, want error) {
	t.Helper()
	var wantLock *LockedError
	if errors.As(want, &wantLock) {
		var got *LockedError
		if !errors.As(err, &got) || !got.Until.Equal(wantLock.Until) {
			t.Fatalf("error %v; want locked until %s", err, wantLock.Until)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v; want %v", err, want)
	}
}

// Histories shared by the decision tests.

func discovered() []events.Payload {
	return []events.Payload{&events.UserDiscovered{Name: "alice"}}
}

// withTOTP is an authenticator confirmed at enrolledStep.
func withTOTP() []events.Payload {
	return []events.Payload{
		at(fixedNow.Add(-48*time.Hour), &events.TOTPEnrollmentStarted{Secret: sealedTOTP}),
		at(fixedNow.Add(-48*time.Hour), &events.TOTPEnrolled{Step: enrolledStep}),
	}
}

func withRecovery(codes []RecoveryCode) []events.Payload {
	return []events.Payload{at(fixedNow.Add(-48*time.Hour), &events.RecoveryCodesGenerated{Codes: codes})}
}

// placeholderRecovery stands for a set of recovery codes where only their
// presence matters.
var placeholderRecovery = []RecoveryCode{{Tag: "AAAA", Hash: "placeholder"}, {Tag: "BBBB", Hash: "placeholder"}}

func withEmail() []events.Payload {
	return []events.Payload{
		at(fixedNow.Add(-24*time.Hour), &events.EmailAddressAdded{Address: "sealed:address", CodeHash: "placeholder", ExpiresAt: fixedNow.Add(-24*time.Hour + 5*time.Minute)}),
		at(fixedNow.Add(-24*time.Hour), &events.EmailAddressConfirmed{}),
	}
}

func withPasskey(id string) []events.Payload {
	return []events.Payload{&events.PasskeyRegistered{CredentialID: id, Label: "YubiKey", PublicKey: "pk-" + id, Transports: []string{"usb", "nfc"}}}
}

// recoverySet generates real recovery codes with cheap hash parameters.
func recoverySet(t testing.TB, seed byte) ([]string, []RecoveryCode) {
	t.Helper()
	plain, stored, err := NewRecoveryCodes(factorRand(seed), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	return plain, stored
}

func TestEvolveDiscoversAndTracksVersion(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID)
	if u.Known() {
		t.Fatal("a user without events is known")
	}
	var nilUser *User
	if nilUser.Known() {
		t.Fatal("a nil user is known")
	}

	fold(t, u, &events.UserDiscovered{Name: "alice"})
	if !u.Known() || u.Name != "alice" || u.Admin || u.Version != 1 {
		t.Fatalf("after user_discovered: known %v, name %q, admin %v, version %d", u.Known(), u.Name, u.Admin, u.Version)
	}
	fold(t, u, &events.UserProfileChanged{Name: "alice2", Admin: true})
	if u.Name != "alice2" || !u.Admin || u.Version != 2 {
		t.Fatalf("after user_profile_changed: name %q, admin %v, version %d", u.Name, u.Admin, u.Version)
	}
	// A fact the user fold has no use for still moves the version: optimistic
	// concurrency compares it with the stream's last sequence of the aggregate.
	fold(t, u, &events.NodeStarted{Node: "n1", Version: "dev"})
	if u.Version != 3 || u.Name != "alice2" {
		t.Fatalf("after an ignored event: version %d, name %q", u.Version, u.Name)
	}
}

func TestMethodsOrderAndSecondFactor(t *testing.T) {
	t.Parallel()
	unconfirmedEmail := []events.Payload{&events.EmailAddressAdded{Address: "sealed:address", CodeHash: "placeholder", ExpiresAt: fixedNow}}
	for _, tc := range []struct {
		name       string
		given      []events.Payload
		want       []string
		wantFactor bool
	}{
		{"nothing", discovered(), nil, false},
		// Recovery codes alone are no factor: they back one up.
		{"recovery codes only", story(discovered(), withRecovery(placeholderRecovery)), nil, false},
		{"unconfirmed email", story(discovered(), unconfirmedEmail), nil, false},
		{"totp", story(discovered(), withTOTP()), []string{MethodTOTP}, true},
		{"totp and recovery", story(discovered(), withTOTP(), withRecovery(placeholderRecovery)), []string{MethodTOTP, MethodRecovery}, true},
		{"passkey only", story(discovered(), withPasskey("cred-1")), []string{MethodPasskey}, true},
		{"email only", story(discovered(), withEmail()), []string{MethodEmail}, true},
		{
			"every method, added in reverse display order",
			story(discovered(), withRecovery(placeholderRecovery), withEmail(), withPasskey("cred-1"), withPasskey("cred-2"), withTOTP()),
			[]string{MethodTOTP, MethodPasskey, MethodEmail, MethodRecovery}, true,
		},
		{
			"every recovery code spent",
			story(discovered(), withTOTP(), withRecovery(placeholderRecovery), []events.Payload{&events.RecoveryCodeUsed{Index: 0}, &events.RecoveryCodeUsed{Index: 1}}),
			[]string{MethodTOTP}, true,
		},
		{
			"authenticator removed, email remains",
			story(discovered(), withTOTP(), withEmail(), withRecovery(placeholderRecovery), []events.Payload{&events.TOTPRemoved{}}),
			[]string{MethodEmail, MethodRecovery}, true,
		},
		{
			"email removed",
			story(discovered(), withEmail(), []events.Payload{&events.EmailAddressRemoved{}}),
			nil, false,
		},
		{
			"passkey removed",
			story(discovered(), withPasskey("cred-1"), []events.Payload{&events.PasskeyRemoved{CredentialID: "cred-1"}}),
			nil, false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			if got := u.Methods(); !slices.Equal(got, tc.want) {
				t.Errorf("Methods() = %v; want %v", got, tc.want)
			}
			if got := u.HasSecondFactor(); got != tc.wantFactor {
				t.Errorf("HasSecondFactor() = %v; want %v", got, tc.wantFactor)
			}
		})
	}
}

func TestRecoveryLeft(t *testing.T) {
	t.Parallel()
	codes := []RecoveryCode{{Tag: "A", Hash: "h"}, {Tag: "B", Hash: "h"}, {Tag: "C", Hash: "h"}}
	for _, tc := range []struct {
		name  string
		given []events.Payload
		want  int
	}{
		{"none generated", discovered(), 0},
		{"fresh set", story(discovered(), withRecovery(codes)), 3},
		{"one spent", story(discovered(), withRecovery(codes), []events.Payload{&events.RecoveryCodeUsed{Index: 1}}), 2},
		// Spending a code twice is refused before it is evented; if it were
		// recorded twice, it still counts once.
		{"same code recorded twice", story(discovered(), withRecovery(codes), []events.Payload{&events.RecoveryCodeUsed{Index: 1}, &events.RecoveryCodeUsed{Index: 1}}), 2},
		// An index the set does not have is a fact about another set: ignored.
		{"index out of range", story(discovered(), withRecovery(codes), []events.Payload{&events.RecoveryCodeUsed{Index: 7}, &events.RecoveryCodeUsed{Index: -1}}), 3},
		{"regenerated after use", story(discovered(), withRecovery(codes), []events.Payload{&events.RecoveryCodeUsed{Index: 0}}, withRecovery(codes[:2])), 2},
		{"disabled", story(discovered(), withTOTP(), withRecovery(codes), []events.Payload{&events.TwoFactorDisabled{}}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := given(t, testUserID, tc.given...).RecoveryLeft(); got != tc.want {
				t.Errorf("RecoveryLeft() = %d; want %d", got, tc.want)
			}
		})
	}
}

func TestEvolveChallengeLifecycle(t *testing.T) {
	t.Parallel()
	issuedAt := fixedNow.Add(-2 * time.Minute)
	issue := func(id string, expires time.Time) events.Payload {
		return at(issuedAt, from("203.0.113.7", webDevice, &events.ChallengeIssued{
			ChallengeID: id, TokenHash: "hash-" + id, Token: events.Sealed("sealed:" + id),
			AuthResult: "sealed:auth", Methods: []string{MethodTOTP, MethodRecovery}, Web: true, ExpiresAt: expires,
		}))
	}
	u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{
		issue("c1", fixedNow.Add(3*time.Minute)),
		issue("c2", fixedNow.Add(3*time.Minute)),
		issue("c3", fixedNow),
		at(fixedNow.Add(-time.Minute), &events.FactorFailed{ChallengeID: "c1", Method: MethodTOTP, Reason: "wrong_code"}),
		at(fixedNow.Add(-time.Minute), &events.FactorFailed{ChallengeID: "c1", Method: MethodTOTP, Reason: "wrong_code"}),
		at(fixedNow.Add(-time.Minute), &events.EmailCodeSent{ChallengeID: "c2", CodeHash: "code-hash", ExpiresAt: fixedNow.Add(4 * time.Minute)}),
	})...)

	want := &Challenge{
		ID: "c1", TokenHash: "hash-c1", Token: "sealed:c1", AuthResult: "sealed:auth",
		Methods: []string{MethodTOTP, MethodRecovery}, Web: true, IssuedAt: issuedAt, ExpiresAt: fixedNow.Add(3 * time.Minute),
		Failures: 2, IP: "203.0.113.7", Device: webDevice,
	}
	if got := u.Challenges["c1"]; !reflect.DeepEqual(got, want) {
		t.Errorf("challenge c1:\n got %+v\nwant %+v", got, want)
	}
	if got := len(u.Failures); got != 2 {
		t.Errorf("user failures = %d; want 2", got)
	}
	c2 := u.Challenges["c2"]
	if c2.EmailCodeHash != "code-hash" || !c2.EmailExpires.Equal(fixedNow.Add(4*time.Minute)) || len(c2.EmailSends) != 1 {
		t.Errorf("challenge c2 email code: hash %q, expires %s, sends %v", c2.EmailCodeHash, c2.EmailExpires, c2.EmailSends)
	}

	// Only the challenge past its lifetime is due for challenge_expired.
	expired := u.ExpiredChallenges(fixedNow)
	if len(expired) != 1 || expired[0].ID != "c3" {
		t.Errorf("ExpiredChallenges = %v; want only c3", expired)
	}
	fold(t, u, &events.ChallengeExpired{ChallengeID: "c3"})
	if _, ok := u.Challenges["c3"]; ok {
		t.Error("challenge c3 still held after challenge_expired")
	}

	// A completed challenge gives its token to the verified session and is dropped.
	fold(t, u,
		at(fixedNow, &events.FactorVerified{ChallengeID: "c1", Method: MethodTOTP, TOTPStep: TOTPStep(fixedNow)}),
		writtenAsV(1, at(fixedNow, from("203.0.113.7", webDevice, &events.SessionVerified{TokenHash: "hash-c1", Reason: ReasonChallenge, ChallengeID: "c1"}))),
	)
	if _, ok := u.Challenges["c1"]; ok {
		t.Error("challenge c1 still held after session_verified")
	}
	// A version 1 event, from before sessions carried a level, is read at its
	// reason's level.
	wantSession := &Session{TokenHash: "hash-c1", Token: "sealed:c1", Reason: ReasonChallenge, VerifiedAt: fixedNow, IP: "203.0.113.7", Device: webDevice,
		Assurance: AssuranceAAL2, FactorAt: fixedNow}
	if got := u.Sessions["hash-c1"]; !reflect.DeepEqual(got, wantSession) {
		t.Errorf("session:\n got %+v\nwant %+v", got, wantSession)
	}
	if u.TOTP.LastStep != TOTPStep(fixedNow) {
		t.Errorf("last TOTP step = %d; want %d", u.TOTP.LastStep, TOTPStep(fixedNow))
	}
	// The last used step never moves back: an older step verified later (a
	// replayed or reordered fact) must not reopen the codes after it.
	fold(t, u, &events.FactorVerified{Method: MethodTOTP, TOTPStep: enrolledStep})
	if u.TOTP.LastStep != TOTPStep(fixedNow) {
		t.Errorf("last TOTP step moved back to %d", u.TOTP.LastStep)
	}

	// A burned challenge stays, done and unverified, until it expires.
	fold(t, u, &events.ChallengeBurned{ChallengeID: "c2", Failures: 5})
	if c := u.Challenges["c2"]; c == nil || !c.Done || c.Verified {
		t.Errorf("burned challenge c2 = %+v; want held, done, not verified", c)
	}
	if got := u.ExpiredChallenges(fixedNow.Add(3 * time.Minute)); len(got) != 1 || got[0].ID != "c2" {
		t.Errorf("ExpiredChallenges after c2's lifetime = %v; want c2", got)
	}

	fold(t, u, &events.SessionRevoked{TokenHash: "hash-c1", Reason: "signed_out"})
	if len(u.Sessions) != 0 {
		t.Errorf("sessions after session_revoked: %v", u.Sessions)
	}
}

func TestEvolveLockoutResetsFailures(t *testing.T) {
	t.Parallel()
	until := fixedNow.Add(10 * time.Minute)
	u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{
		&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code"},
		&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code"},
		&events.LockoutStarted{Until: until, Failures: 5},
	})...)
	if len(u.Failures) != 0 || !u.LockedUntil.Equal(until) {
		t.Fatalf("after lockout_started: failures %v, locked until %s", u.Failures, u.LockedUntil)
	}
	if !u.Locked(fixedNow) || !u.Locked(until.Add(-time.Nanosecond)) || u.Locked(until) {
		t.Errorf("Locked: before end %v, at end %v; want true, false", u.Locked(until.Add(-time.Nanosecond)), u.Locked(until))
	}
	fold(t, u, &events.UserReset{Reason: "admin"})
	if u.Locked(fixedNow) || u.TOTP != nil {
		t.Errorf("after user_reset: locked %v, totp %+v", u.Locked(fixedNow), u.TOTP)
	}
}

func TestEvolveBrowsersAndPairings(t *testing.T) {
	t.Parallel()
	trustedAt := fixedNow.Add(-72 * time.Hour)
	u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{
		at(trustedAt, from("203.0.113.7", webDevice, &events.BrowserTrusted{BrowserID: "b1", DeviceID: webDevice.ID, Name: "Firefox on Linux", ExpiresAt: trustedAt.Add(30 * 24 * time.Hour), SecretHash: "s0"})),
		at(fixedNow.Add(-time.Hour), from("198.51.100.2", webDevice, &events.TrustedBrowserUsed{BrowserID: "b1", ExpiresAt: fixedNow.Add(30 * 24 * time.Hour), SecretHash: "s1"})),
		at(fixedNow, from("198.51.100.2", webDevice, &events.TrustedBrowserUsed{BrowserID: "b1", ExpiresAt: fixedNow.Add(30 * 24 * time.Hour), SecretHash: "s2"})),

		at(fixedNow.Add(-10*time.Minute), from("198.51.100.9", tvDevice, &events.PairingRequested{PairingID: "p1", DeviceID: tvDevice.ID, DeviceName: tvDevice.Name, Client: tvDevice.Client, Version: "0.17.0", ExpiresAt: fixedNow.Add(5 * time.Minute)})),
		at(fixedNow.Add(-5*time.Minute), from("198.51.100.9", tvDevice, &events.PairingRequested{PairingID: "p1", DeviceID: tvDevice.ID, DeviceName: tvDevice.Name, Client: tvDevice.Client, Version: tvDevice.Version, ExpiresAt: fixedNow.Add(10 * time.Minute)})),
		at(fixedNow.Add(-20*time.Minute), &events.PairingRequested{PairingID: "p0", DeviceID: "kodi-1", Client: "Kodi", ExpiresAt: fixedNow.Add(-5 * time.Minute)}),
	})...)

	// Each use replaces the cookie's secret; the replaced ones are remembered, to
	// recognise a replay.
	wantBrowser := &Browser{ID: "b1", DeviceID: webDevice.ID, Name: "Firefox on Linux", CreatedAt: trustedAt, LastUsed: fixedNow, ExpiresAt: fixedNow.Add(30 * 24 * time.Hour), IP: "198.51.100.2",
		SecretHash: "s2", Retired: []string{"s0", "s1"}, RotatedAt: fixedNow}
	if got := u.Browsers["b1"]; !reflect.DeepEqual(got, wantBrowser) {
		t.Errorf("browser:\n got %+v\nwant %+v", got, wantBrowser)
	}

	// A repeated request refreshes the one pairing; it keeps its first request time
	// and its first expiry.
	wantPairing := &Pairing{
		ID: "p1", DeviceID: tvDevice.ID, DeviceName: tvDevice.Name, Client: tvDevice.Client, Version: tvDevice.Version,
		IP: "198.51.100.9", RequestedAt: fixedNow.Add(-10 * time.Minute), ExpiresAt: fixedNow.Add(5 * time.Minute),
		Attempts: 2, Status: PairingPending, LastUsed: fixedNow.Add(-5 * time.Minute),
	}
	if got := u.Pairings["p1"]; !reflect.DeepEqual(got, wantPairing) {
		t.Errorf("pairing:\n got %+v\nwant %+v", got, wantPairing)
	}
	if got := u.SortedPairings(); len(got) != 2 || got[0].ID != "p1" || got[1].ID != "p0" {
		t.Errorf("SortedPairings = %v; want p1 then p0", got)
	}

	fold(t, u,
		at(fixedNow, &events.PairingApproved{PairingID: "p1", Until: fixedNow.Add(15 * time.Minute)}),
		at(fixedNow.Add(time.Minute), from("198.51.100.9", tvDevice, &events.DevicePaired{PairingID: "p1", TokenHash: "tv-token-hash", Token: "sealed:tv-token"})),
		at(fixedNow.Add(time.Minute), from("198.51.100.9", tvDevice, &events.SessionVerified{TokenHash: "tv-token-hash", Reason: ReasonPairing, PairingID: "p1", Token: "sealed:tv-token"})),
		&events.PairingDenied{PairingID: "p0"},
	)
	p1 := u.Pairings["p1"]
	if p1.Status != PairingPaired || p1.TokenHash != "tv-token-hash" || !p1.PairedAt.Equal(fixedNow.Add(time.Minute)) {
		t.Errorf("paired device = %+v", p1)
	}
	if s := u.Sessions["tv-token-hash"]; s == nil || s.PairingID != "p1" || s.Reason != ReasonPairing || s.Device != tvDevice {
		t.Errorf("paired session = %+v", s)
	}
	if u.Pairings["p0"].Status != PairingDenied {
		t.Errorf("pairing p0 status %q; want denied", u.Pairings["p0"].Status)
	}

	fold(t, u, &events.DeviceRevoked{PairingID: "p1"}, &events.BrowserTrustRevoked{BrowserID: "b1"})
	if _, ok := u.Pairings["p1"]; ok {
		t.Error("pairing p1 kept after device_revoked")
	}
	if len(u.Browsers) != 0 {
		t.Errorf("browsers after browser_trust_revoked: %v", u.Browsers)
	}
}

// richHistory gives a user something in every part of the state Clone copies.
func richHistory() []events.Payload {
	return story(discovered(), withTOTP(), withRecovery(placeholderRecovery), withEmail(), withPasskey("cred-1"), []events.Payload{
		&events.RecoveryCodeUsed{Index: 0},
		&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code"},
		from("203.0.113.7", webDevice, &events.ChallengeIssued{ChallengeID: "c1", TokenHash: "th1", Token: "sealed:t1", Methods: []string{MethodTOTP}, Web: true, ExpiresAt: fixedNow.Add(time.Minute)}),
		&events.EmailCodeSent{ChallengeID: "c1", CodeHash: "code-hash", ExpiresAt: fixedNow.Add(time.Minute)},
		&events.SessionVerified{TokenHash: "th0", Reason: ReasonLAN, Token: "sealed:t0"},
		&events.BrowserTrusted{BrowserID: "b1", DeviceID: webDevice.ID, Name: "Firefox", ExpiresAt: fixedNow.Add(time.Hour), SecretHash: "s0"},
		&events.TrustedBrowserUsed{BrowserID: "b1", ExpiresAt: fixedNow.Add(time.Hour), SecretHash: "s1"},
		&events.PairingRequested{PairingID: "p1", DeviceID: tvDevice.ID, Client: tvDevice.Client, ExpiresAt: fixedNow.Add(time.Minute)},
		&events.AppPasswordCreated{ID: "ap1", Label: "Kodi", Hash: "placeholder"},
	})
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, richHistory()...)
	c := u.Clone()
	if !reflect.DeepEqual(c, u) {
		t.Fatalf("clone differs from the original:\n got %+v\nwant %+v", c, u)
	}

	// Change every map, every map value and every slice of the clone the way a
	// fold or a careless decision could.
	c.TOTP.LastStep++
	c.Email.Confirmed = false
	c.Email.Sends[0] = time.Time{}
	c.Email.Sends = append(c.Email.Sends, fixedNow)
	c.Recovery[1].Tag = "ZZZZ"
	c.RecoveryUsed[0] = false
	c.Failures[0] = time.Time{}
	c.Failures = append(c.Failures, fixedNow)
	c.Passkeys["cred-1"].Label = "changed"
	c.Passkeys["cred-2"] = &Passkey{}
	c.Challenges["c1"].Failures = 99
	c.Challenges["c1"].Done = true
	delete(c.Challenges, "c1")
	c.Sessions["th0"].Reason = "changed"
	c.Sessions["th9"] = &Session{}
	c.Browsers["b1"].ExpiresAt = time.Time{}
	c.Browsers["b1"].Retired[0] = "changed"
	delete(c.Browsers, "b1")
	c.Pairings["p1"].Status = PairingApproved
	c.AppPasswords["ap1"].Label = "changed"
	c.AppPasswords["ap2"] = &AppPassword{}

	if want := given(t, testUserID, richHistory()...); !reflect.DeepEqual(u, want) {
		t.Errorf("changing the clone changed the original:\n got %+v\nwant %+v", u, want)
	}
}

func TestCloneOfEmptyUser(t *testing.T) {
	t.Parallel()
	u := NewUser(testUserID)
	c := u.Clone()
	c.Challenges["x"] = &Challenge{}
	c.Failures = append(c.Failures, fixedNow)
	if len(u.Challenges) != 0 || len(u.Failures) != 0 {
		t.Errorf("changing an empty user's clone changed it: %+v", u)
	}
}

func TestEvolveResetAndForget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		event         events.Payload
		wantForgotten bool
		wantApps      int
		wantLocked    bool
	}{
		// An admin reset is account recovery: factors, browsers and the lockout
		// go; app passwords stay (they are not a second factor).
		{"user_reset", &events.UserReset{Reason: "lost phone"}, false, 1, false},
		// Forgetting destroys the data key: every sealed or secret-bearing record
		// goes, the lockout is a fact that stays until it ends.
		{"user_forgotten", &events.UserForgotten{Reason: "request"}, true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, story(richHistory(), []events.Payload{
				at(fixedNow.Add(-time.Minute), &events.LockoutStarted{Until: fixedNow.Add(time.Hour), Failures: 5}),
				tc.event,
			})...)
			if u.TOTP != nil || u.PendingTOTP != "" || u.Email != nil || u.Recovery != nil || len(u.Passkeys) != 0 || len(u.Browsers) != 0 {
				t.Errorf("factors left: totp %+v, pending %q, email %+v, recovery %v, passkeys %v, browsers %v",
					u.TOTP, u.PendingTOTP, u.Email, u.Recovery, u.Passkeys, u.Browsers)
			}
			if u.HasSecondFactor() || u.Methods() != nil {
				t.Errorf("HasSecondFactor %v, Methods %v; want none", u.HasSecondFactor(), u.Methods())
			}
			if u.Forgotten != tc.wantForgotten || len(u.AppPasswords) != tc.wantApps || u.Locked(fixedNow) != tc.wantLocked {
				t.Errorf("forgotten %v, app passwords %d, locked %v; want %v, %d, %v",
					u.Forgotten, len(u.AppPasswords), u.Locked(fixedNow), tc.wantForgotten, tc.wantApps, tc.wantLocked)
			}
			// Sessions are revoked by their own events, never implicitly.
			if len(u.Sessions) != 1 {
				t.Errorf("sessions = %d; want 1", len(u.Sessions))
			}
		})
	}
}

func TestDecideDiscoveredOnlyForUnknownUsers(t *testing.T) {
	// given a user jfguard has never seen
	u := NewUser(testUserID)
	// when it is met
	evs := DecideDiscovered(u, "alice", true)
	// then it is discovered once, with its name and role
	if len(evs) != 1 {
		t.Fatalf("events = %v, want one user_discovered", evs)
	}
	if d, ok := evs[0].(*events.UserDiscovered); !ok || d.Name != "alice" || !d.Admin {
		t.Fatalf("event = %#v", evs[0])
	}
	// and a known user is not discovered again
	known := given(t, testUserID, evs...)
	if evs := DecideDiscovered(known, "alice", true); len(evs) != 0 {
		t.Fatalf("known user discovered again: %v", evs)
	}
}
