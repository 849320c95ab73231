package domain

import (
	"reflect"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// startedTOTP is an enrollment begun and not yet confirmed.
func startedTOTP() []events.Payload {
	return []events.Payload{&events.TOTPEnrollmentStarted{Secret: sealedTOTP}}
}

func TestDecideBeginTOTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		given []events.Payload
		then  []events.Payload
		err   error
	}{
		{"first authenticator", discovered(), []events.Payload{&events.TOTPEnrollmentStarted{Secret: "sealed:new-secret"}}, nil},
		// Restarting replaces the pending secret: a QR code scanned earlier stops
		// confirming.
		{"restart while pending", story(discovered(), startedTOTP()), []events.Payload{&events.TOTPEnrollmentStarted{Secret: "sealed:new-secret"}}, nil},
		{"already enrolled", story(discovered(), withTOTP()), nil, ErrTOTPEnrolled},
		{"enrolled then removed", story(discovered(), withTOTP(), []events.Payload{&events.TOTPRemoved{}}), []events.Payload{&events.TOTPEnrollmentStarted{Secret: "sealed:new-secret"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			evs, err := DecideBeginTOTP(u, "sealed:new-secret")
			thenEvents(t, evs, tc.then...)
			thenErr(t, err, tc.err)
			foldAt(t, u, fixedNow, evs...)
			if tc.err == nil && u.PendingTOTP != "sealed:new-secret" {
				t.Errorf("pending secret %q after the fold", u.PendingTOTP)
			}
		})
	}
}

func TestDecideConfirmTOTP(t *testing.T) {
	t.Parallel()
	_, fresh := recoverySet(t, 10)
	step := TOTPStep(fixedNow)
	for _, tc := range []struct {
		name     string
		given    []events.Payload
		code     string
		recovery []RecoveryCode
		then     []events.Payload
		err      error
	}{
		{
			name:     "right code enrolls and stores the first recovery codes",
			given:    story(discovered(), startedTOTP()),
			code:     totpCode(t, fixedNow),
			recovery: fresh,
			then:     []events.Payload{&events.TOTPEnrolled{Step: step}, &events.RecoveryCodesGenerated{Codes: fresh}},
		},
		{
			name:     "code of the next step absorbs clock drift",
			given:    story(discovered(), startedTOTP()),
			code:     totpCode(t, fixedNow.Add(TOTPPeriod)),
			recovery: fresh,
			then:     []events.Payload{&events.TOTPEnrolled{Step: step + 1}, &events.RecoveryCodesGenerated{Codes: fresh}},
		},
		{
			// Codes the user still holds stay valid: a second authenticator
			// after a removal does not silently replace them.
			name:     "user with recovery codes left keeps them",
			given:    story(discovered(), withRecovery(placeholderRecovery), startedTOTP()),
			code:     totpCode(t, fixedNow),
			recovery: fresh,
			then:     []events.Payload{&events.TOTPEnrolled{Step: step}},
		},
		{
			name: "user whose recovery codes are all spent gets new ones",
			given: story(discovered(), withRecovery(placeholderRecovery), []events.Payload{
				&events.RecoveryCodeUsed{Index: 0}, &events.RecoveryCodeUsed{Index: 1},
			}, startedTOTP()),
			code:     totpCode(t, fixedNow),
			recovery: fresh,
			then:     []events.Payload{&events.TOTPEnrolled{Step: step}, &events.RecoveryCodesGenerated{Codes: fresh}},
		},
		{
			name:  "no codes offered, none stored",
			given: story(discovered(), startedTOTP()),
			code:  totpCode(t, fixedNow),
			then:  []events.Payload{&events.TOTPEnrolled{Step: step}},
		},
		{
			name:     "wrong code fails and is recorded",
			given:    story(discovered(), startedTOTP()),
			code:     wrongCode(t, fixedNow),
			recovery: fresh,
			then:     []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: "enroll"}},
			err:      ErrCodeInvalid,
		},
		{
			name:     "malformed code fails and is recorded",
			given:    story(discovered(), startedTOTP()),
			code:     "12345",
			recovery: fresh,
			then:     []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "malformed", Purpose: "enroll"}},
			err:      ErrCodeFormat,
		},
		{
			name:     "nothing pending",
			given:    discovered(),
			code:     totpCode(t, fixedNow),
			recovery: fresh,
			err:      ErrNoPendingTOTP,
		},
		{
			name:     "already enrolled",
			given:    story(discovered(), withTOTP(), startedTOTP()),
			code:     totpCode(t, fixedNow),
			recovery: fresh,
			err:      ErrTOTPEnrolled,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			evs, err := DecideConfirmTOTP(u, DefaultPolicy(), totpSecret, tc.code, fixedNow, tc.recovery)
			thenEvents(t, evs, tc.then...)
			thenErr(t, err, tc.err)
		})
	}
}

func TestEnrollmentFold(t *testing.T) {
	t.Parallel()
	plain, stored := recoverySet(t, 11)
	u := given(t, testUserID, discovered()...)
	begin, err := DecideBeginTOTP(u, sealedTOTP)
	thenErr(t, err, nil)
	foldAt(t, u, fixedNow.Add(-time.Minute), begin...)
	confirm, err := DecideConfirmTOTP(u, DefaultPolicy(), totpSecret, totpCode(t, fixedNow), fixedNow, stored)
	thenErr(t, err, nil)
	foldAt(t, u, fixedNow, confirm...)

	want := &TOTP{Secret: sealedTOTP, LastStep: TOTPStep(fixedNow), EnrolledAt: fixedNow}
	if !reflect.DeepEqual(u.TOTP, want) || u.PendingTOTP != "" {
		t.Fatalf("after enrollment: totp %+v, pending %q; want %+v and nothing pending", u.TOTP, u.PendingTOTP, want)
	}
	if got := u.Methods(); !reflect.DeepEqual(got, []string{MethodTOTP, MethodRecovery}) || u.RecoveryLeft() != RecoveryCodeCount {
		t.Errorf("methods %v, recovery left %d", got, u.RecoveryLeft())
	}

	// The code that confirmed the authenticator cannot then complete a sign-in.
	fold(t, u, at(fixedNow.Add(5*time.Second), issuedChallenge(challengeID)))
	out := DecideAttempt(u, DefaultPolicy(), Attempt{ChallengeID: challengeID, Proof: FactorProof{
		Method: MethodTOTP, Code: totpCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow.Add(5 * time.Second),
	}})
	thenErr(t, out.Err, ErrCodeReused)

	// The codes shown at enrollment complete it instead.
	out = DecideAttempt(u, DefaultPolicy(), Attempt{ChallengeID: challengeID, Proof: FactorProof{Method: MethodRecovery, Code: plain[9], Now: fixedNow.Add(5 * time.Second)}})
	thenErr(t, out.Err, nil)
}

// totpProof proves the authenticator at fixedNow.
func totpProof(code string) FactorProof {
	return FactorProof{Method: MethodTOTP, Code: code, TOTPSecret: totpSecret, Now: fixedNow}
}

func TestDecideProof(t *testing.T) {
	t.Parallel()
	plain, stored := recoverySet(t, 12)
	enrolled := story(discovered(), withTOTP(), withRecovery(stored))
	step := TOTPStep(fixedNow)
	for _, tc := range []struct {
		name  string
		given []events.Payload
		proof FactorProof
		then  []events.Payload
		err   error
	}{
		{
			name:  "authenticator code",
			given: enrolled,
			proof: totpProof(totpCode(t, fixedNow)),
			then:  []events.Payload{&events.FactorVerified{Method: MethodTOTP, TOTPStep: step, Purpose: "remove_passkey"}},
		},
		{
			name:  "recovery code is spent",
			given: enrolled,
			proof: FactorProof{Method: MethodRecovery, Code: plain[2], Now: fixedNow},
			then:  []events.Payload{&events.FactorVerified{Method: MethodRecovery, RecoveryIndex: 2, Purpose: "remove_passkey"}, &events.RecoveryCodeUsed{Index: 2}},
		},
		{
			name:  "wrong code counts as a failure",
			given: enrolled,
			proof: totpProof(wrongCode(t, fixedNow)),
			then:  []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: "remove_passkey"}},
			err:   ErrCodeInvalid,
		},
		{
			// Emailed codes belong to a challenge; a self-service proof has none.
			name:  "emailed code is no proof",
			given: story(enrolled, withEmail()),
			proof: FactorProof{Method: MethodEmail, Code: "123456", Now: fixedNow},
			then:  []events.Payload{&events.FactorFailed{Method: MethodEmail, Reason: "method_not_available", Purpose: "remove_passkey"}},
			err:   ErrMethodNotAvailable,
		},
		{
			name: "fifth failure in the window locks the user",
			given: story(enrolled, []events.Payload{
				failedBefore("", fixedNow.Add(-4*time.Minute)), failedBefore("", fixedNow.Add(-3*time.Minute)),
				failedBefore("", fixedNow.Add(-2*time.Minute)), failedBefore("", fixedNow.Add(-time.Minute)),
			}),
			proof: totpProof(wrongCode(t, fixedNow)),
			then: []events.Payload{
				&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: "remove_passkey"},
				&events.LockoutStarted{Until: fixedNow.Add(15 * time.Minute), Failures: 5},
			},
			err: &LockedError{Until: fixedNow.Add(15 * time.Minute)},
		},
		{
			name:  "locked user cannot prove anything",
			given: story(enrolled, []events.Payload{&events.LockoutStarted{Until: fixedNow.Add(time.Minute), Failures: 5}}),
			proof: totpProof(totpCode(t, fixedNow)),
			err:   &LockedError{Until: fixedNow.Add(time.Minute)},
		},
		{
			name:  "user without a factor has nothing to prove",
			given: discovered(),
			proof: totpProof(totpCode(t, fixedNow)),
			err:   ErrNoFactor,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			evs, err := DecideProof(u, DefaultPolicy(), tc.proof, "remove_passkey")
			thenEvents(t, evs, tc.then...)
			thenErr(t, err, tc.err)
		})
	}
}

func TestDecideRegenerateRecovery(t *testing.T) {
	t.Parallel()
	oldPlain, oldStored := recoverySet(t, 13)
	newPlain, newStored := recoverySet(t, 14)
	enrolled := story(discovered(), withTOTP(), withRecovery(oldStored))
	const purpose = "regenerate_recovery_codes"
	for _, tc := range []struct {
		name  string
		given []events.Payload
		proof FactorProof
		then  []events.Payload
		err   error
	}{
		{
			name:  "with an authenticator code",
			given: enrolled,
			proof: totpProof(totpCode(t, fixedNow)),
			then: []events.Payload{
				&events.FactorVerified{Method: MethodTOTP, TOTPStep: TOTPStep(fixedNow), Purpose: purpose},
				&events.RecoveryCodesGenerated{Codes: newStored},
			},
		},
		{
			// The old code is spent before the new set replaces the old one, so
			// the order of the two events matters to the fold.
			name:  "with one of the old recovery codes",
			given: enrolled,
			proof: FactorProof{Method: MethodRecovery, Code: oldPlain[5], Now: fixedNow},
			then: []events.Payload{
				&events.FactorVerified{Method: MethodRecovery, RecoveryIndex: 5, Purpose: purpose},
				&events.RecoveryCodeUsed{Index: 5},
				&events.RecoveryCodesGenerated{Codes: newStored},
			},
		},
		{
			name:  "wrong code keeps the old codes",
			given: enrolled,
			proof: totpProof(wrongCode(t, fixedNow)),
			then:  []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: purpose}},
			err:   ErrCodeInvalid,
		},
		{
			name:  "reused authenticator code keeps the old codes",
			given: story(enrolled, []events.Payload{&events.FactorVerified{Method: MethodTOTP, TOTPStep: TOTPStep(fixedNow)}}),
			proof: totpProof(totpCode(t, fixedNow)),
			then:  []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "reused", Purpose: purpose}},
			err:   ErrCodeReused,
		},
		{
			name:  "no factor, no codes",
			given: story(discovered(), withRecovery(oldStored)),
			proof: FactorProof{Method: MethodRecovery, Code: oldPlain[0], Now: fixedNow},
			err:   ErrNoFactor,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			evs, err := DecideRegenerateRecovery(u, DefaultPolicy(), tc.proof, newStored)
			thenEvents(t, evs, tc.then...)
			thenErr(t, err, tc.err)
		})
	}

	t.Run("fold: old codes stop, new ones work, failures count", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, enrolled...)
		failed, err := DecideRegenerateRecovery(u, DefaultPolicy(), totpProof(wrongCode(t, fixedNow)), newStored)
		thenErr(t, err, ErrCodeInvalid)
		foldAt(t, u, fixedNow, failed...)
		if len(u.Failures) != 1 {
			t.Fatalf("failures after a wrong proof: %d; want 1", len(u.Failures))
		}

		evs, err := DecideRegenerateRecovery(u, DefaultPolicy(), FactorProof{Method: MethodRecovery, Code: oldPlain[0], Now: fixedNow}, newStored)
		thenErr(t, err, nil)
		foldAt(t, u, fixedNow, evs...)
		if got := u.RecoveryLeft(); got != RecoveryCodeCount {
			t.Errorf("recovery codes left %d; want a full new set", got)
		}
		if _, err := DecideProof(u, DefaultPolicy(), FactorProof{Method: MethodRecovery, Code: oldPlain[1], Now: fixedNow}, "check"); err == nil {
			t.Error("a code of the replaced set still proves")
		}
		if _, err := DecideProof(u, DefaultPolicy(), FactorProof{Method: MethodRecovery, Code: newPlain[0], Now: fixedNow}, "check"); err != nil {
			t.Errorf("a code of the new set does not prove: %v", err)
		}
	})
}

func TestDecideDisable(t *testing.T) {
	t.Parallel()
	_, stored := recoverySet(t, 15)
	enrolled := story(discovered(), withTOTP(), withRecovery(stored), withEmail(), withPasskey("cred-1"), []events.Payload{
		trustedBrowser("b1", webDevice.ID, fixedNow.Add(28*24*time.Hour)),
		&events.SessionVerified{TokenHash: "token-hash-0", Reason: ReasonChallenge, Token: "sealed:token-0"},
	})
	const purpose = "disable_2fa"

	t.Run("wrong code disables nothing", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, enrolled...)
		evs, err := DecideDisable(u, DefaultPolicy(), totpProof(wrongCode(t, fixedNow)))
		thenEvents(t, evs, &events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: purpose})
		thenErr(t, err, ErrCodeInvalid)
	})

	t.Run("nothing to disable", func(t *testing.T) {
		t.Parallel()
		evs, err := DecideDisable(given(t, testUserID, discovered()...), DefaultPolicy(), totpProof(totpCode(t, fixedNow)))
		thenEvents(t, evs)
		thenErr(t, err, ErrNoFactor)
	})

	t.Run("right code removes every factor and trusted browser", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, enrolled...)
		evs, err := DecideDisable(u, DefaultPolicy(), totpProof(totpCode(t, fixedNow)))
		thenEvents(t, evs,
			&events.FactorVerified{Method: MethodTOTP, TOTPStep: TOTPStep(fixedNow), Purpose: purpose},
			&events.TwoFactorDisabled{},
		)
		thenErr(t, err, nil)
		foldAt(t, u, fixedNow, evs...)

		if u.TOTP != nil || u.PendingTOTP != "" || u.Email != nil || len(u.Recovery) != 0 || len(u.Passkeys) != 0 || len(u.Browsers) != 0 {
			t.Errorf("left after disabling: totp %+v, email %+v, recovery %d, passkeys %d, browsers %d",
				u.TOTP, u.Email, len(u.Recovery), len(u.Passkeys), len(u.Browsers))
		}
		if u.HasSecondFactor() || u.Methods() != nil || u.RecoveryLeft() != 0 {
			t.Errorf("HasSecondFactor %v, Methods %v, RecoveryLeft %d", u.HasSecondFactor(), u.Methods(), u.RecoveryLeft())
		}
		// Sessions verified before stay: disabling is not signing out.
		if len(u.Sessions) != 1 {
			t.Errorf("sessions %d; want 1", len(u.Sessions))
		}

		// The next sign-in needs no second factor, and the old trust cookie is
		// no longer what lets it through.
		in := baseSignIn()
		in.Trust = cookie("b1", 0)
		out := DecideSignIn(u, DefaultPolicy(), in)
		thenEvents(t, out.Events, passed(ReasonNoSecondFactor))
	})
}

func TestDecideRevoke(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, story(discovered(), withTOTP(), []events.Payload{
		trustedBrowser("b1", webDevice.ID, fixedNow.Add(time.Hour)),
		&events.SessionVerified{TokenHash: "token-hash-0", Reason: ReasonLAN, Token: "sealed:token-0"},
	})...)

	t.Run("unknown browser", func(t *testing.T) {
		t.Parallel()
		evs, err := DecideRevokeBrowser(u.Clone(), "b9")
		thenEvents(t, evs)
		thenErr(t, err, ErrNotFound)
	})
	t.Run("unknown session", func(t *testing.T) {
		t.Parallel()
		evs, err := DecideRevokeSession(u.Clone(), "token-hash-9", "signed_out")
		thenEvents(t, evs)
		thenErr(t, err, ErrNotFound)
	})
	t.Run("browser", func(t *testing.T) {
		t.Parallel()
		v := u.Clone()
		evs, err := DecideRevokeBrowser(v, "b1")
		thenEvents(t, evs, &events.BrowserTrustRevoked{BrowserID: "b1"})
		thenErr(t, err, nil)
		foldAt(t, v, fixedNow, evs...)
		_, err = DecideRevokeBrowser(v, "b1")
		thenErr(t, err, ErrNotFound)
	})
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		v := u.Clone()
		evs, err := DecideRevokeSession(v, "token-hash-0", "signed_out")
		thenEvents(t, evs, &events.SessionRevoked{TokenHash: "token-hash-0", Reason: "signed_out"})
		thenErr(t, err, nil)
		foldAt(t, v, fixedNow, evs...)
		_, err = DecideRevokeSession(v, "token-hash-0", "signed_out")
		thenErr(t, err, ErrNotFound)
	})
}

func TestDecidePairingAnswer(t *testing.T) {
	t.Parallel()
	requestedNow := story(discovered(), withTOTP(), []events.Payload{
		at(fixedNow.Add(-2*time.Minute), pendingPairing("p1", tvDevice, fixedNow.Add(13*time.Minute))),
	})
	for _, tc := range []struct {
		name    string
		given   []events.Payload
		id      string
		approve bool
		when    time.Time
		then    []events.Payload
		err     error
	}{
		{
			name: "approve opens the sign-in window", given: requestedNow, id: "p1", approve: true, when: fixedNow,
			then: []events.Payload{&events.PairingApproved{PairingID: "p1", Until: fixedNow.Add(15 * time.Minute)}},
		},
		{
			name: "deny", given: requestedNow, id: "p1", when: fixedNow,
			then: []events.Payload{&events.PairingDenied{PairingID: "p1"}},
		},
		{name: "unknown pairing", given: requestedNow, id: "p9", approve: true, when: fixedNow, err: ErrNotFound},
		{name: "request expired", given: requestedNow, id: "p1", approve: true, when: fixedNow.Add(13 * time.Minute), err: ErrPairingExpired},
		{
			name: "already approved", id: "p1", approve: true, when: fixedNow,
			given: story(requestedNow, []events.Payload{&events.PairingApproved{PairingID: "p1", Until: fixedNow.Add(14 * time.Minute)}}),
			err:   ErrPairingResolved,
		},
		{
			// A denial answers the request for good: approving it later does nothing.
			name: "already denied", id: "p1", approve: true, when: fixedNow,
			given: story(requestedNow, []events.Payload{&events.PairingDenied{PairingID: "p1"}}),
			err:   ErrPairingResolved,
		},
		{
			name: "already paired", id: "p1", approve: false, when: fixedNow,
			given: story(requestedNow, []events.Payload{
				&events.PairingApproved{PairingID: "p1", Until: fixedNow.Add(14 * time.Minute)},
				&events.DevicePaired{PairingID: "p1", TokenHash: "tv-token-hash"},
			}),
			err: ErrPairingResolved,
		},
		{
			name: "revoked device", id: "p1", approve: true, when: fixedNow,
			given: story(requestedNow, []events.Payload{&events.DeviceRevoked{PairingID: "p1"}}),
			err:   ErrNotFound,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			evs, err := DecidePairingAnswer(u, DefaultPolicy(), tc.id, tc.approve, tc.when)
			thenEvents(t, evs, tc.then...)
			thenErr(t, err, tc.err)
		})
	}
}

// TestPairingFlow goes from a TV's first sign-in to its verified session.
func TestPairingFlow(t *testing.T) {
	t.Parallel()
	pol := DefaultPolicy()
	u := given(t, testUserID, story(discovered(), withTOTP())...)

	tv := baseSignIn()
	native(&tv)
	tv.TokenHash, tv.NewPairingID = "tv-token-1", "p1"
	first := DecideSignIn(u, pol, tv)
	if first.Pass || first.PairingID != "p1" {
		t.Fatalf("first TV sign-in: %+v", first)
	}
	foldAt(t, u, fixedNow, first.Events...)

	answer, err := DecidePairingAnswer(u, pol, "p1", true, fixedNow.Add(time.Minute))
	thenErr(t, err, nil)
	foldAt(t, u, fixedNow.Add(time.Minute), answer...)

	tv.Now, tv.TokenHash, tv.NewChallengeID = fixedNow.Add(2*time.Minute), "tv-token-2", "challenge-2"
	second := DecideSignIn(u, pol, tv)
	if !second.Pass || second.Reason != ReasonPairing {
		t.Fatalf("TV sign-in after approval: %+v", second)
	}
	foldAt(t, u, tv.Now, second.Events...)
	if p := u.Pairings["p1"]; p.Status != PairingPaired || p.TokenHash != "tv-token-2" {
		t.Errorf("pairing after sign-in: %+v", p)
	}
	if s := u.Sessions["tv-token-2"]; s == nil || s.PairingID != "p1" {
		t.Errorf("session after sign-in: %+v", s)
	}

	// The approval was for one sign-in: a later one from the same device is
	// challenged again.
	tv.Now, tv.TokenHash, tv.NewPairingID = fixedNow.Add(3*time.Minute), "tv-token-3", "p2"
	if third := DecideSignIn(u, pol, tv); third.Pass || third.PairingID != "p2" {
		t.Errorf("second TV sign-in after pairing: %+v", third)
	}
}

// TestEnrollmentTyposDoNotCountTowardLockout: mistakes while setting up an
// authenticator are not attacks on sign-in, so they never lock the user out.
func TestEnrollmentTyposDoNotCountTowardLockout(t *testing.T) {
	t.Parallel()
	var typos []events.Payload
	for i := 0; i < 10; i++ {
		typos = append(typos, &events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: "enroll"})
	}
	u := given(t, testUserID, story(discovered(), typos)...)
	if len(u.Failures) != 0 {
		t.Fatalf("%d enrollment typos counted toward lockout", len(u.Failures))
	}
	u = given(t, testUserID, story(discovered(), []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code"}})...)
	if len(u.Failures) != 1 {
		t.Fatalf("a sign-in failure was not counted")
	}
}

// TestEnrollAtSignIn: when every user must use a second factor, a user without one
// adds an authenticator app on the challenge, and its code completes the sign-in.
func TestEnrollAtSignIn(t *testing.T) {
	t.Parallel()
	pol := DefaultPolicy()
	pol.RequireAll = true
	held := []events.Payload{&events.ChallengeIssued{ChallengeID: "c1", TokenHash: "th", Token: "sealed:token", Methods: []string{MethodEnrollTOTP}, ExpiresAt: fixedNow.Add(4 * time.Minute)}}
	u := given(t, testUserID, story(discovered(), held)...)
	if _, err := DecideBeginEnrollAtChallenge(u, DefaultPolicy(), "c1", "sealed:s", fixedNow); err != ErrEnrollNotOffered {
		t.Fatalf("without require_all: %v", err)
	}
	evs, err := DecideBeginEnrollAtChallenge(u, pol, "c1", "sealed:s", fixedNow)
	if err != nil || len(evs) != 1 {
		t.Fatalf("begin: %v %v", evs, err)
	}
	u = given(t, testUserID, story(discovered(), held, evs)...)
	code, _ := totp.GenerateCodeCustom(totpSecret, fixedNow, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	evs, err = DecideEnrollAtChallenge(u, pol, "c1", totpSecret, code, fixedNow, placeholderRecovery)
	if err != nil {
		t.Fatal(err)
	}
	thenEvents(t, evs,
		&events.TOTPEnrolled{Step: TOTPStep(fixedNow)},
		&events.RecoveryCodesGenerated{Codes: placeholderRecovery},
		&events.FactorVerified{ChallengeID: "c1", Method: MethodTOTP, TOTPStep: TOTPStep(fixedNow), Purpose: "enroll_at_sign_in"},
		&events.SessionVerified{TokenHash: "th", Reason: ReasonChallenge, ChallengeID: "c1", Token: "sealed:token", Assurance: "aal2"},
	)
	// A user who has a factor is asked for it instead.
	withFactor := given(t, testUserID, story(discovered(), withTOTP(), held)...)
	if _, err := DecideBeginEnrollAtChallenge(withFactor, pol, "c1", "sealed:s", fixedNow); err != ErrEnrollNotOffered {
		t.Fatalf("with a factor: %v", err)
	}
}
