package domain

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// Sessions of the assurance tests, each verified at a time relative to fixedNow.
const (
	challengeToken = "tok-challenge"
	passkeyToken   = "tok-passkey"
	trustedToken   = "tok-trusted"
	lanToken       = "tok-lan"
	noFactorToken  = "tok-before-enrolment"
	appPwToken     = "tok-app-password"
	pairedToken    = "tok-paired-tv"
	qcToken        = "tok-quick-connect"
	adoptedToken   = "tok-adopted"
)

// session is a session_verified at a time, as the decision code records it.
func session(when time.Time, token, reason string) events.Payload {
	return at(when, NewSessionVerified(token, reason, events.Sealed("sealed:"+token)))
}

func TestAssuranceOfSessions(t *testing.T) {
	t.Parallel()
	window := DefaultStepUpWindow
	qc := NewSessionVerified(qcToken, ReasonNoSecondFactor, "sealed:qc")
	qc.Assurance = string(AssuranceDevice) // a Quick Connect token, whatever let it in
	u := given(t, testUserID, story(discovered(),
		[]events.Payload{
			session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor),
			session(fixedNow.Add(-time.Hour), adoptedToken, ReasonAdopted),
		},
		withTOTP(),
		[]events.Payload{
			session(fixedNow.Add(-2*time.Minute), challengeToken, ReasonChallenge),
			session(fixedNow.Add(-time.Hour), passkeyToken, ReasonPasskey),
			session(fixedNow.Add(-time.Minute), trustedToken, ReasonTrustedBrowser),
			session(fixedNow.Add(-time.Minute), lanToken, ReasonLAN),
			session(fixedNow.Add(-time.Minute), appPwToken, ReasonAppPassword),
			session(fixedNow.Add(-time.Minute), pairedToken, ReasonPairing),
			at(fixedNow.Add(-time.Minute), qc),
			// An event written before sessions carried a level: read at its reason's.
			writtenAsV(1, at(fixedNow.Add(-time.Minute), &events.SessionVerified{TokenHash: "tok-old-challenge", Reason: ReasonChallenge})),
			writtenAsV(1, at(fixedNow.Add(-time.Minute), &events.SessionVerified{TokenHash: "tok-old-app-password", Reason: ReasonAppPassword})),
			// A current event without a level (a writer's bug) is read at the weakest.
			at(fixedNow.Add(-time.Minute), &events.SessionVerified{TokenHash: "tok-no-level", Reason: ReasonChallenge}),
		},
	)...)
	for _, tc := range []struct {
		token string
		want  Assurance
	}{
		{challengeToken, AssuranceAAL2Recent},      // proved a factor 2 minutes ago
		{passkeyToken, AssuranceAAL2},              // an hour ago: no longer recent
		{trustedToken, AssuranceAAL2},              // a trusted browser skipped the factor
		{lanToken, AssuranceAAL1},                  // the LAN bypass skipped it
		{noFactorToken, AssuranceAAL1},             // signed in before the user enrolled: aal1 forever
		{adoptedToken, AssuranceAAL1},              // adopted at install
		{appPwToken, AssuranceDevice},              // an app password
		{pairedToken, AssuranceDevice},             // a paired TV
		{qcToken, AssuranceDevice},                 // Quick Connect
		{"tok-old-challenge", AssuranceAAL2Recent}, // read from its reason
		{"tok-old-app-password", AssuranceDevice},  // read from its reason
		{"tok-no-level", AssuranceDevice},
	} {
		if got := u.Sessions[tc.token].Level(fixedNow, window); got != tc.want {
			t.Errorf("%s: level %s, want %s", tc.token, got, tc.want)
		}
	}
	// Recent ends exactly at the window.
	if got := u.Sessions[challengeToken].Level(fixedNow.Add(3*time.Minute-time.Nanosecond), window); got != AssuranceAAL2Recent {
		t.Errorf("just inside the window: %s", got)
	}
	if got := u.Sessions[challengeToken].Level(fixedNow.Add(3*time.Minute), window); got != AssuranceAAL2 {
		t.Errorf("at the end of the window: %s", got)
	}
}

// TestAuthorize is the step-up rule, one row per case: given a user's history and a
// session, when it asks for an account change at a time, then it is allowed, or
// refused with these events and this error.
func TestAuthorize(t *testing.T) {
	t.Parallel()
	enrolled := story(discovered(), withTOTP(), withRecovery(placeholderRecovery))
	stepUp := func(when time.Time, token string) []events.Payload {
		return []events.Payload{
			at(when, &events.FactorVerified{Method: MethodTOTP, Purpose: PurposeStepUp}),
			at(when, &events.SessionSteppedUp{TokenHash: token, Method: MethodTOTP}),
		}
	}
	refused := func(token string, a Action, level Assurance) events.Payload {
		return &events.StepUpRequired{TokenHash: token, Action: string(a), Level: string(level)}
	}
	deviceRefused := func(token string, a Action) events.Payload {
		return &events.StepUpRequired{TokenHash: token, Action: string(a), Level: string(AssuranceDevice), Device: true}
	}
	methods := []string{MethodTOTP, MethodRecovery}
	for _, tc := range []struct {
		name    string
		given   []events.Payload
		caller  Caller
		action  Action
		now     time.Time
		want    []events.Payload
		wantErr error
	}{
		{
			name:   "a challenge a minute ago is recent",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-time.Minute), challengeToken, ReasonChallenge)}),
			caller: Caller{TokenHash: challengeToken}, action: ActionAppPasswords, now: fixedNow,
		},
		{
			name:   "the same session six minutes later must step up",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-6*time.Minute), challengeToken, ReasonChallenge)}),
			caller: Caller{TokenHash: challengeToken}, action: ActionAppPasswords, now: fixedNow,
			want:    []events.Payload{refused(challengeToken, ActionAppPasswords, AssuranceAAL2)},
			wantErr: &StepUpError{},
		},
		{
			name:   "a trusted browser must step up",
			given:  story(enrolled, []events.Payload{session(fixedNow, trustedToken, ReasonTrustedBrowser)}),
			caller: Caller{TokenHash: trustedToken}, action: ActionFactors, now: fixedNow,
			want:    []events.Payload{refused(trustedToken, ActionFactors, AssuranceAAL2)},
			wantErr: &StepUpError{},
		},
		{
			name:   "a LAN session of an enrolled user must step up",
			given:  story(enrolled, []events.Payload{session(fixedNow, lanToken, ReasonLAN)}),
			caller: Caller{TokenHash: lanToken}, action: ActionDevices, now: fixedNow,
			want:    []events.Payload{refused(lanToken, ActionDevices, AssuranceAAL1)},
			wantErr: &StepUpError{},
		},
		{
			name:   "a session from before enrolment must step up",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}, withTOTP(), withRecovery(placeholderRecovery)),
			caller: Caller{TokenHash: noFactorToken}, action: ActionDisable2FA, now: fixedNow,
			want:    []events.Payload{refused(noFactorToken, ActionDisable2FA, AssuranceAAL1)},
			wantErr: &StepUpError{},
		},
		{
			name: "a step-up makes a session from before enrolment recent",
			given: story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}, withTOTP(), withRecovery(placeholderRecovery),
				stepUp(fixedNow.Add(-4*time.Minute), noFactorToken)),
			caller: Caller{TokenHash: noFactorToken}, action: ActionDisable2FA, now: fixedNow,
		},
		{
			name: "...for the window only: then it is aal1 again",
			given: story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}, withTOTP(), withRecovery(placeholderRecovery),
				stepUp(fixedNow.Add(-5*time.Minute), noFactorToken)),
			caller: Caller{TokenHash: noFactorToken}, action: ActionDisable2FA, now: fixedNow,
			want:    []events.Payload{refused(noFactorToken, ActionDisable2FA, AssuranceAAL1)},
			wantErr: &StepUpError{},
		},
		{
			name: "a step-up of one session does not lift another",
			given: story(enrolled, []events.Payload{
				session(fixedNow.Add(-time.Hour), challengeToken, ReasonChallenge),
				session(fixedNow.Add(-time.Hour), trustedToken, ReasonTrustedBrowser),
			}, stepUp(fixedNow.Add(-time.Minute), trustedToken)),
			caller: Caller{TokenHash: challengeToken}, action: ActionQuickConnect, now: fixedNow,
			want:    []events.Payload{refused(challengeToken, ActionQuickConnect, AssuranceAAL2)},
			wantErr: &StepUpError{},
		},
		{
			name:   "a factor in the request itself counts as recent",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-time.Hour), trustedToken, ReasonTrustedBrowser)}),
			caller: Caller{TokenHash: trustedToken, Proof: true}, action: ActionDisable2FA, now: fixedNow,
		},
		{
			name:   "an app password's session never may, even with a factor",
			given:  story(enrolled, []events.Payload{session(fixedNow, appPwToken, ReasonAppPassword)}),
			caller: Caller{TokenHash: appPwToken, Proof: true}, action: ActionAppPasswords, now: fixedNow,
			want:    []events.Payload{deviceRefused(appPwToken, ActionAppPasswords)},
			wantErr: ErrDeviceSession,
		},
		{
			name:   "a paired TV never may",
			given:  story(enrolled, []events.Payload{session(fixedNow, pairedToken, ReasonPairing)}),
			caller: Caller{TokenHash: pairedToken}, action: ActionQuickConnect, now: fixedNow,
			want:    []events.Payload{deviceRefused(pairedToken, ActionQuickConnect)},
			wantErr: ErrDeviceSession,
		},
		{
			name:   "an app password of a user without a factor never may either",
			given:  story(discovered(), []events.Payload{session(fixedNow, appPwToken, ReasonAppPassword)}),
			caller: Caller{TokenHash: appPwToken}, action: ActionFactors, now: fixedNow,
			want:    []events.Payload{deviceRefused(appPwToken, ActionFactors)},
			wantErr: ErrDeviceSession,
		},
		{
			name: "a stepped-up device session is still a device's",
			given: story(enrolled, []events.Payload{session(fixedNow.Add(-time.Hour), appPwToken, ReasonAppPassword)},
				stepUp(fixedNow.Add(-time.Minute), appPwToken)),
			caller: Caller{TokenHash: appPwToken}, action: ActionAppPasswords, now: fixedNow,
			want:    []events.Payload{deviceRefused(appPwToken, ActionAppPasswords)},
			wantErr: ErrDeviceSession,
		},
		{
			name:   "a user without a second factor adds the first one from a password session",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}),
			caller: Caller{TokenHash: noFactorToken}, action: ActionFactors, now: fixedNow,
		},
		{
			name:   "an aal2 session changes a password at Jellyfin however old its factor",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-time.Hour), challengeToken, ReasonChallenge)}),
			caller: Caller{TokenHash: challengeToken}, action: ActionJellyfinAccount, now: fixedNow,
		},
		{
			name:   "a trusted browser uses Jellyfin's administrator routes",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-time.Hour), trustedToken, ReasonTrustedBrowser)}),
			caller: Caller{TokenHash: trustedToken}, action: ActionJellyfinAdmin, now: fixedNow,
		},
		{
			name:   "a session from before enrolment must step up for Jellyfin's administrator routes",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}, withTOTP(), withRecovery(placeholderRecovery)),
			caller: Caller{TokenHash: noFactorToken}, action: ActionJellyfinAdmin, now: fixedNow,
			want:    []events.Payload{refused(noFactorToken, ActionJellyfinAdmin, AssuranceAAL1)},
			wantErr: &StepUpError{},
		},
		{
			name:   "...and to change a password at Jellyfin",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}, withTOTP(), withRecovery(placeholderRecovery)),
			caller: Caller{TokenHash: noFactorToken}, action: ActionJellyfinAccount, now: fixedNow,
			want:    []events.Payload{refused(noFactorToken, ActionJellyfinAccount, AssuranceAAL1)},
			wantErr: &StepUpError{},
		},
		{
			name: "a step-up lets a session from before enrolment in for the window",
			given: story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}, withTOTP(), withRecovery(placeholderRecovery),
				stepUp(fixedNow.Add(-4*time.Minute), noFactorToken)),
			caller: Caller{TokenHash: noFactorToken}, action: ActionJellyfinAdmin, now: fixedNow,
		},
		{
			name:   "a LAN session of an enrolled user must step up to change a password at Jellyfin",
			given:  story(enrolled, []events.Payload{session(fixedNow, lanToken, ReasonLAN)}),
			caller: Caller{TokenHash: lanToken}, action: ActionJellyfinAccount, now: fixedNow,
			want:    []events.Payload{refused(lanToken, ActionJellyfinAccount, AssuranceAAL1)},
			wantErr: &StepUpError{},
		},
		{
			name:   "an app password's session never uses Jellyfin's administrator routes",
			given:  story(enrolled, []events.Payload{session(fixedNow, appPwToken, ReasonAppPassword)}),
			caller: Caller{TokenHash: appPwToken}, action: ActionJellyfinAdmin, now: fixedNow,
			want:    []events.Payload{deviceRefused(appPwToken, ActionJellyfinAdmin)},
			wantErr: ErrDeviceSession,
		},
		{
			name:   "a paired TV never changes a password at Jellyfin",
			given:  story(enrolled, []events.Payload{session(fixedNow, pairedToken, ReasonPairing)}),
			caller: Caller{TokenHash: pairedToken}, action: ActionJellyfinAccount, now: fixedNow,
			want:    []events.Payload{deviceRefused(pairedToken, ActionJellyfinAccount)},
			wantErr: ErrDeviceSession,
		},
		{
			name:   "a user without a second factor changes their password at Jellyfin from a password session",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}),
			caller: Caller{TokenHash: noFactorToken}, action: ActionJellyfinAccount, now: fixedNow,
		},
		{
			name:   "an account without a second factor cannot use Jellyfin's administrator routes",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Hour), noFactorToken, ReasonNoSecondFactor)}),
			caller: Caller{TokenHash: noFactorToken}, action: ActionJellyfinAdmin, now: fixedNow,
			want:    []events.Payload{refused(noFactorToken, ActionJellyfinAdmin, AssuranceAAL1)},
			wantErr: ErrSecondFactorRequired,
		},
		{
			name:   "...nor change state through the control API",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Minute), noFactorToken, ReasonNoSecondFactor)}),
			caller: Caller{TokenHash: noFactorToken}, action: ActionAdmin, now: fixedNow,
			want:    []events.Payload{refused(noFactorToken, ActionAdmin, AssuranceAAL1)},
			wantErr: ErrSecondFactorRequired,
		},
		{
			name:   "...while its own account changes stay open to it",
			given:  story(discovered(), []events.Payload{session(fixedNow.Add(-time.Minute), noFactorToken, ReasonNoSecondFactor)}),
			caller: Caller{TokenHash: noFactorToken}, action: ActionAppPasswords, now: fixedNow,
		},
		{
			name:   "a device's session of an account without a factor is refused as a device's",
			given:  story(discovered(), []events.Payload{session(fixedNow, appPwToken, ReasonAppPassword)}),
			caller: Caller{TokenHash: appPwToken}, action: ActionAdmin, now: fixedNow,
			want:    []events.Payload{deviceRefused(appPwToken, ActionAdmin)},
			wantErr: ErrDeviceSession,
		},
		{
			name:   "an aal2 session must still step up for the control API",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-time.Hour), challengeToken, ReasonChallenge)}),
			caller: Caller{TokenHash: challengeToken}, action: ActionAdmin, now: fixedNow,
			want:    []events.Payload{refused(challengeToken, ActionAdmin, AssuranceAAL2)},
			wantErr: &StepUpError{},
		},
		{
			name:   "a token that is not a session of this user",
			given:  enrolled,
			caller: Caller{TokenHash: "someone-elses"}, action: ActionSessions, now: fixedNow,
			wantErr: ErrNoSession,
		},
		{
			name:   "a revoked session",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(-time.Minute), challengeToken, ReasonChallenge), &events.SessionRevoked{TokenHash: challengeToken}}),
			caller: Caller{TokenHash: challengeToken}, action: ActionSessions, now: fixedNow,
			wantErr: ErrNoSession,
		},
		{
			name:   "a session from the future (clock skew between nodes) is not recent",
			given:  story(enrolled, []events.Payload{session(fixedNow.Add(time.Minute), challengeToken, ReasonChallenge)}),
			caller: Caller{TokenHash: challengeToken}, action: ActionSignOutEverywhere, now: fixedNow,
			want:    []events.Payload{refused(challengeToken, ActionSignOutEverywhere, AssuranceAAL2)},
			wantErr: &StepUpError{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			got, err := u.Authorize(tc.caller, tc.action, DefaultPolicy(), tc.now)
			thenEvents(t, got, tc.want...)
			var su *StepUpError
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case errors.As(tc.wantErr, &su):
				var got *StepUpError
				if !errors.As(err, &got) || got.Action != tc.action || !slices.Equal(got.Methods, methods) {
					t.Fatalf("error %#v; want a step-up for %s offering %v", err, tc.action, methods)
				}
			case tc.wantErr != nil:
				thenErr(t, err, tc.wantErr)
			}
		})
	}
}

func TestStepUpWindowFollowsPolicy(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{session(fixedNow.Add(-2*time.Minute), challengeToken, ReasonChallenge)})...)
	pol := DefaultPolicy()
	pol.StepUpWindow = time.Minute
	if _, err := u.Authorize(Caller{TokenHash: challengeToken}, ActionFactors, pol, fixedNow); err == nil {
		t.Fatal("a two-minute-old factor passed a one-minute window")
	}
	if got := u.StepUpUntil(challengeToken, DefaultPolicy(), fixedNow); !got.Equal(fixedNow.Add(3 * time.Minute)) {
		t.Errorf("step-up until %s, want %s", got, fixedNow.Add(3*time.Minute))
	}
}

func TestGuardChecksBeforeDeciding(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{session(fixedNow.Add(-time.Hour), trustedToken, ReasonTrustedBrowser)})...)
	ran := false
	decide := Guard(Caller{TokenHash: trustedToken}, ActionAppPasswords, DefaultPolicy(), func(*User, time.Time) ([]events.Payload, error) {
		ran = true
		return []events.Payload{&events.AppPasswordCreated{ID: "x"}}, nil
	})
	evs, err := decide(u, fixedNow)
	var su *StepUpError
	if !errors.As(err, &su) || ran {
		t.Fatalf("err %v, decision ran %v; want a step-up before deciding", err, ran)
	}
	thenEvents(t, evs, &events.StepUpRequired{TokenHash: trustedToken, Action: string(ActionAppPasswords), Level: string(AssuranceAAL2)})
}

func TestDecideStepUp(t *testing.T) {
	t.Parallel()
	old := []events.Payload{session(fixedNow.Add(-time.Hour), trustedToken, ReasonTrustedBrowser)}
	enrolled := story(discovered(), withTOTP(), old)

	t.Run("a right code makes the session recent", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, enrolled...)
		p := FactorProof{Method: MethodTOTP, Code: totpCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow}
		evs, err := DecideStepUp(u, DefaultPolicy(), trustedToken, p)
		if err != nil {
			t.Fatal(err)
		}
		thenEvents(t, evs,
			&events.FactorVerified{Method: MethodTOTP, TOTPStep: TOTPStep(fixedNow), Purpose: PurposeStepUp},
			&events.SessionSteppedUp{TokenHash: trustedToken, Method: MethodTOTP})
		foldAt(t, u, fixedNow, evs...)
		if _, err := u.Authorize(Caller{TokenHash: trustedToken}, ActionAppPasswords, DefaultPolicy(), fixedNow.Add(4*time.Minute)); err != nil {
			t.Fatalf("after the step-up: %v", err)
		}
	})
	t.Run("a wrong code counts as a failure and lifts nothing", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, enrolled...)
		p := FactorProof{Method: MethodTOTP, Code: wrongCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow}
		evs, err := DecideStepUp(u, DefaultPolicy(), trustedToken, p)
		thenErr(t, err, ErrCodeInvalid)
		thenEvents(t, evs, &events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: PurposeStepUp})
	})
	t.Run("a device's session cannot step up", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{session(fixedNow, appPwToken, ReasonAppPassword)})...)
		p := FactorProof{Method: MethodTOTP, Code: totpCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow}
		evs, err := DecideStepUp(u, DefaultPolicy(), appPwToken, p)
		thenErr(t, err, ErrDeviceSession)
		thenEvents(t, evs, &events.StepUpRequired{TokenHash: appPwToken, Action: "step_up", Level: string(AssuranceDevice), Device: true})
	})
	t.Run("nothing to step up with", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, story(discovered(), []events.Payload{session(fixedNow, noFactorToken, ReasonNoSecondFactor)})...)
		_, err := DecideStepUp(u, DefaultPolicy(), noFactorToken, FactorProof{Method: MethodTOTP, Code: "123456", Now: fixedNow})
		thenErr(t, err, ErrNoFactor)
	})
	t.Run("a locked user cannot step up", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, story(enrolled, []events.Payload{&events.LockoutStarted{Until: fixedNow.Add(time.Minute), Failures: 5}})...)
		_, err := DecideStepUp(u, DefaultPolicy(), trustedToken, FactorProof{Method: MethodTOTP, Code: totpCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow})
		thenErr(t, err, &LockedError{Until: fixedNow.Add(time.Minute)})
	})
}

func TestDecideSignOutEverywhere(t *testing.T) {
	t.Parallel()
	history := story(discovered(), withTOTP(), []events.Payload{
		session(fixedNow.Add(-time.Hour), challengeToken, ReasonChallenge),
		session(fixedNow.Add(-time.Hour), appPwToken, ReasonAppPassword),
		&events.AppPasswordCreated{ID: "ap1", Label: "TV", Hash: "h"},
		&events.BrowserTrusted{BrowserID: "b1", DeviceID: "d1", ExpiresAt: fixedNow.Add(24 * time.Hour)},
		&events.PairingRequested{PairingID: "p1", DeviceID: "tv", Client: "c", ExpiresAt: fixedNow.Add(time.Hour)},
		&events.PairingApproved{PairingID: "p1", Until: fixedNow.Add(time.Hour)},
		&events.DevicePaired{PairingID: "p1", TokenHash: pairedToken},
		session(fixedNow.Add(-time.Hour), pairedToken, ReasonPairing),
		&events.ChallengeIssued{ChallengeID: "c9", TokenHash: "tok-held", Token: "sealed:tok-held", Methods: []string{MethodTOTP}, ExpiresAt: fixedNow.Add(time.Minute)},
	})

	t.Run("by the user, keeping the session that asked", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, history...)
		r := DecideSignOutEverywhere(u, RevokeBySelf, "", challengeToken)
		thenEvents(t, r.Events, &events.SignedOutEverywhere{Reason: RevokeBySelf, KeptTokenHash: challengeToken,
			Sessions: 2, HeldSignIns: 1, AppPasswords: 1, Devices: 1, Browsers: 1})
		want := []RevokedToken{{"tok-app-password", "sealed:tok-app-password"}, {"tok-held", "sealed:tok-held"}, {"tok-paired-tv", "sealed:tok-paired-tv"}}
		if len(r.Tokens) != len(want) {
			t.Fatalf("tokens %v, want %v", r.Tokens, want)
		}
		for i := range want {
			if r.Tokens[i] != want[i] {
				t.Errorf("token %d: %v, want %v", i, r.Tokens[i], want[i])
			}
		}
		foldAt(t, u, fixedNow, r.Events...)
		if len(u.Sessions) != 1 || u.Sessions[challengeToken] == nil || len(u.AppPasswords) != 0 || len(u.Pairings) != 0 ||
			len(u.Browsers) != 0 || len(u.Challenges) != 0 {
			t.Errorf("after the fold: sessions %d, app passwords %d, pairings %d, browsers %d, challenges %d",
				len(u.Sessions), len(u.AppPasswords), len(u.Pairings), len(u.Browsers), len(u.Challenges))
		}
		if u.TOTP == nil {
			t.Error("signing out everywhere removed the authenticator")
		}
	})
	t.Run("by an administrator, keeping nothing", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, history...)
		r := DecideSignOutEverywhere(u, RevokeByAdmin, "", "")
		if len(r.Tokens) != 4 {
			t.Fatalf("tokens %v, want all four", r.Tokens)
		}
		foldAt(t, u, fixedNow, r.Events...)
		if len(u.Sessions) != 0 {
			t.Errorf("sessions left: %d", len(u.Sessions))
		}
	})
	t.Run("nothing to revoke is still recorded", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, discovered()...)
		r := DecideSignOutEverywhere(u, RevokeByAdmin, "", "")
		thenEvents(t, r.Events, &events.SignedOutEverywhere{Reason: RevokeByAdmin})
		if len(r.Tokens) != 0 {
			t.Errorf("tokens %v", r.Tokens)
		}
	})
}
