package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// The passkey of the passkey cases: a phone's, registered two days ago, whose
// signature counter stood at 5 after its last use.
const phoneKey = "cHhvbmUta2V5LWlk"

func withCountedPasskey(id string, count uint32) []events.Payload {
	return []events.Payload{
		at(fixedNow.Add(-48*time.Hour), &events.PasskeyRegistered{CredentialID: id, Label: "Phone", PublicKey: "pk-" + id, SignCount: 0}),
		at(fixedNow.Add(-24*time.Hour), &events.PasskeyUsed{CredentialID: id, SignCount: count}),
	}
}

// passkeyVerified is what a verified assertion records.
func passkeyVerified(challenge, purpose string, count uint32) []events.Payload {
	return []events.Payload{
		&events.FactorVerified{ChallengeID: challenge, Method: MethodPasskey, CredentialID: phoneKey, Purpose: purpose},
		&events.PasskeyUsed{CredentialID: phoneKey, SignCount: count},
	}
}

func passkeyFailed(challenge, reason, purpose string) *events.FactorFailed {
	return &events.FactorFailed{ChallengeID: challenge, Method: MethodPasskey, Reason: reason, Purpose: purpose}
}

func TestDecidePasskeyAssertion(t *testing.T) {
	t.Parallel()
	counting := story(discovered(), withCountedPasskey(phoneKey, 5))
	noCounter := story(discovered(), withCountedPasskey(phoneKey, 0))
	pending := story(counting, []events.Payload{issuedChallenge(challengeID)})
	lockedUntil := fixedNow.Add(DefaultPolicy().LockoutDuration)
	// fourFailures is one failure short of the lockout threshold.
	fourFailures := story(counting, []events.Payload{
		failedBefore("", fixedNow.Add(-4*time.Minute)), failedBefore("", fixedNow.Add(-3*time.Minute)),
		failedBefore("", fixedNow.Add(-2*time.Minute)), failedBefore("", fixedNow.Add(-time.Minute)),
	})

	type when struct {
		credential string
		count      uint32
		purpose    string
		challenge  string
	}
	passwordless := func(count uint32) when { return when{phoneKey, count, PurposePasswordless, ""} }
	for _, tc := range []struct {
		name  string
		given []events.Payload
		pol   func(*Policy)
		when  when
		then  []events.Payload
		err   error
	}{
		{
			name:  "an advancing counter signs in",
			given: counting,
			when:  passwordless(6),
			then:  passkeyVerified("", PurposePasswordless, 6),
		},
		{
			name:  "a counter may jump ahead (the key signed elsewhere for another site)",
			given: counting,
			when:  passwordless(4000),
			then:  passkeyVerified("", PurposePasswordless, 4000),
		},
		{
			name:  "an authenticator that keeps no counter reports 0 every time",
			given: noCounter,
			when:  passwordless(0),
			then:  passkeyVerified("", PurposePasswordless, 0),
		},
		{
			name:  "a counter that starts after registration at 0 passes",
			given: noCounter,
			when:  passwordless(1),
			then:  passkeyVerified("", PurposePasswordless, 1),
		},
		{
			name:  "the stored counter again is a clone",
			given: counting,
			when:  passwordless(5),
			then: []events.Payload{
				&events.PasskeyCloneSuspected{CredentialID: phoneKey, Stored: 5, Presented: 5},
				passkeyFailed("", "clone_suspected", PurposePasswordless),
			},
			err: ErrPasskeyCloned,
		},
		{
			name:  "a counter that went backwards is a clone",
			given: counting,
			when:  passwordless(3),
			then: []events.Payload{
				&events.PasskeyCloneSuspected{CredentialID: phoneKey, Stored: 5, Presented: 3},
				passkeyFailed("", "clone_suspected", PurposePasswordless),
			},
			err: ErrPasskeyCloned,
		},
		{
			name:  "a counter that drops to 0 after counting is a clone",
			given: counting,
			when:  passwordless(0),
			then: []events.Payload{
				&events.PasskeyCloneSuspected{CredentialID: phoneKey, Stored: 5, Presented: 0},
				passkeyFailed("", "clone_suspected", PurposePasswordless),
			},
			err: ErrPasskeyCloned,
		},
		{
			name:  "a suspected clone counts toward the lockout",
			given: fourFailures,
			when:  passwordless(2),
			then: []events.Payload{
				&events.PasskeyCloneSuspected{CredentialID: phoneKey, Stored: 5, Presented: 2},
				passkeyFailed("", "clone_suspected", PurposePasswordless),
				&events.LockoutStarted{Until: lockedUntil, Failures: 5},
			},
			err: &LockedError{Until: lockedUntil},
		},
		{
			name:  "a credential that is not the user's fails and counts",
			given: counting,
			when:  when{"c29tZW9uZS1lbHNl", 9, PurposePasswordless, ""},
			then:  []events.Payload{passkeyFailed("", "method_not_available", PurposePasswordless)},
			err:   ErrMethodNotAvailable,
		},
		{
			name:  "a removed passkey no longer signs in",
			given: story(counting, []events.Payload{&events.PasskeyRemoved{CredentialID: phoneKey}}),
			when:  passwordless(6),
			then:  []events.Payload{passkeyFailed("", "method_not_available", PurposePasswordless)},
			err:   ErrMethodNotAvailable,
		},
		{
			name:  "a locked user is refused and nothing is recorded",
			given: story(counting, []events.Payload{&events.LockoutStarted{Until: lockedUntil, Failures: 5}}),
			when:  passwordless(6),
			err:   &LockedError{Until: lockedUntil},
		},
		{
			name:  "a passkey completes a challenge's factor",
			given: pending,
			when:  when{phoneKey, 6, "", challengeID},
			then:  passkeyVerified(challengeID, "", 6),
		},
		{
			name:  "a clone on a challenge counts against the challenge",
			given: story(pending, []events.Payload{failedBefore(challengeID, fixedNow.Add(-30*time.Second))}),
			pol:   func(p *Policy) { p.MaxChallengeFailures, p.LockoutThreshold = 2, 100 },
			when:  when{phoneKey, 5, "", challengeID},
			then: []events.Payload{
				&events.PasskeyCloneSuspected{CredentialID: phoneKey, Stored: 5, Presented: 5},
				passkeyFailed(challengeID, "clone_suspected", ""),
				&events.ChallengeBurned{ChallengeID: challengeID, Failures: 2},
			},
			err: ErrChallengeBurned,
		},
		{
			name:  "an unknown challenge records nothing",
			given: pending,
			when:  when{phoneKey, 6, "", "challenge-x"},
			err:   ErrChallengeNotFound,
		},
		{
			name:  "an expired challenge records nothing",
			given: story(counting, []events.Payload{at(fixedNow.Add(-6*time.Minute), &events.ChallengeIssued{ChallengeID: challengeID, TokenHash: heldTokenHash, ExpiresAt: fixedNow.Add(-time.Minute)})}),
			when:  when{phoneKey, 6, "", challengeID},
			err:   ErrChallengeNotFound,
		},
		{
			name:  "a burned challenge refuses even a good assertion",
			given: story(pending, []events.Payload{&events.ChallengeBurned{ChallengeID: challengeID, Failures: 5}}),
			when:  when{phoneKey, 6, "", challengeID},
			err:   ErrChallengeBurned,
		},
		{
			name:  "a self-service proof carries its purpose",
			given: counting,
			when:  when{phoneKey, 6, PurposeRemovePasskey, ""},
			then:  passkeyVerified("", PurposeRemovePasskey, 6),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			pol := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&pol)
			}

			got, err := DecidePasskeyAssertion(u, pol, tc.when.credential, tc.when.count, tc.when.purpose, tc.when.challenge, fixedNow)

			thenEvents(t, got, tc.then...)
			thenErr(t, err, tc.err)
		})
	}
}

func TestDecideAttemptWithPasskey(t *testing.T) {
	t.Parallel()
	pending := story(discovered(), withTOTP(), withCountedPasskey(phoneKey, 5), []events.Payload{issuedChallenge(challengeID)})
	withPasskey := func(a PasskeyAssertion) Attempt {
		return Attempt{ChallengeID: challengeID, Proof: FactorProof{Method: MethodPasskey, Passkey: a, Now: fixedNow}}
	}

	t.Run("a verified assertion completes the challenge and may trust the browser", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		a := withPasskey(PasskeyAssertion{CredentialID: phoneKey, SignCount: 6, Verified: true})
		a.TrustBrowser, a.NewBrowserID, a.NewSecretHash, a.DeviceID, a.BrowserName = true, "browser-new", nextSecret, webDevice.ID, "Firefox"

		out := DecideAttempt(u, DefaultPolicy(), a)

		thenEvents(t, out.Events, story(passkeyVerified(challengeID, "", 6), []events.Payload{
			&events.BrowserTrusted{BrowserID: "browser-new", DeviceID: webDevice.ID, Name: "Firefox", ExpiresAt: fixedNow.Add(DefaultPolicy().TrustDuration()), SecretHash: nextSecret},
			verifiedBy("browser-new"),
		})...)
		thenErr(t, out.Err, nil)
	})

	t.Run("an assertion that did not verify fails and counts", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)

		out := DecideAttempt(u, DefaultPolicy(), withPasskey(PasskeyAssertion{CredentialID: phoneKey, SignCount: 6}))

		thenEvents(t, out.Events, passkeyFailed(challengeID, "invalid_assertion", ""))
		thenErr(t, out.Err, ErrPasskeyInvalid)
	})

	t.Run("an assertion replayed on the next challenge is a clone", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, pending...)
		first := DecideAttempt(u, DefaultPolicy(), withPasskey(PasskeyAssertion{CredentialID: phoneKey, SignCount: 6, Verified: true}))
		thenErr(t, first.Err, nil)
		foldAt(t, u, fixedNow, first.Events...)
		if k := u.Passkeys[phoneKey]; k.SignCount != 6 || !k.LastUsed.Equal(fixedNow) {
			t.Fatalf("passkey after use: counter %d, last used %s", k.SignCount, k.LastUsed)
		}

		fold(t, u, at(fixedNow, issuedChallenge("challenge-2")))
		replay := withPasskey(PasskeyAssertion{CredentialID: phoneKey, SignCount: 6, Verified: true})
		replay.ChallengeID = "challenge-2"
		second := DecideAttempt(u, DefaultPolicy(), replay)

		thenEvents(t, second.Events,
			&events.PasskeyCloneSuspected{CredentialID: phoneKey, Stored: 6, Presented: 6},
			passkeyFailed("challenge-2", "clone_suspected", ""))
		thenErr(t, second.Err, ErrPasskeyCloned)
		if _, held := u.Sessions[heldTokenHash]; !held {
			t.Error("the first assertion's session is gone")
		}
	})
}

func TestDecidePasskeyRegistered(t *testing.T) {
	t.Parallel()
	_, stored := recoverySet(t, 7)
	key := func(id, label string) events.PasskeyRegistered {
		return events.PasskeyRegistered{CredentialID: id, Label: label, PublicKey: "pk-" + id, AAGUID: "01020304-0506-0708-090a-0b0c0d0e0f10", Transports: []string{"internal"}, UserVerified: true}
	}
	many := discovered()
	for i := range MaxPasskeys {
		many = append(many, withPasskey("key-"+string(rune('a'+i)))...)
	}

	for _, tc := range []struct {
		name     string
		given    []events.Payload
		when     events.PasskeyRegistered
		recovery []RecoveryCode
		then     []events.Payload
		err      error
	}{
		{
			name:     "a first passkey comes with recovery codes",
			given:    discovered(),
			when:     key(phoneKey, "  Phone "),
			recovery: stored,
			then:     []events.Payload{pk(key(phoneKey, "Phone")), &events.RecoveryCodesGenerated{Codes: stored}},
		},
		{
			name:     "a user who has recovery codes keeps them",
			given:    story(discovered(), withTOTP(), withRecovery(placeholderRecovery)),
			when:     key(phoneKey, "Phone"),
			recovery: stored,
			then:     []events.Payload{pk(key(phoneKey, "Phone"))},
		},
		{
			name:  "the same credential twice is refused",
			given: story(discovered(), withPasskey(phoneKey)),
			when:  key(phoneKey, "Phone again"),
			err:   ErrPasskeyRegistered,
		},
		{
			name:  "an empty label is refused",
			given: discovered(),
			when:  key(phoneKey, "   "),
			err:   ErrPasskeyLabel,
		},
		{
			name:  "a label longer than the limit is refused",
			given: discovered(),
			when:  key(phoneKey, strings.Repeat("é", MaxPasskeyLabel+1)),
			err:   ErrPasskeyLabel,
		},
		{
			name:  "a credential without a public key is refused",
			given: discovered(),
			when:  events.PasskeyRegistered{CredentialID: phoneKey, Label: "Phone"},
			err:   ErrPasskeyInvalid,
		},
		{
			name:  "no more than the limit",
			given: many,
			when:  key(phoneKey, "One too many"),
			err:   ErrTooMany,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)

			got, err := DecidePasskeyRegistered(u, tc.when, tc.recovery)

			thenEvents(t, got, tc.then...)
			thenErr(t, err, tc.err)
		})
	}

	t.Run("a registered passkey is a second factor", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, discovered()...)
		evs, err := DecidePasskeyRegistered(u, key(phoneKey, "Phone"), stored)
		thenErr(t, err, nil)
		foldAt(t, u, fixedNow, evs...)
		if !u.HasSecondFactor() || strings.Join(u.Methods(), " ") != "passkey recovery" {
			t.Errorf("after the first passkey: second factor %v, methods %v", u.HasSecondFactor(), u.Methods())
		}
		if k := u.Passkeys[phoneKey]; k == nil || k.Label != "Phone" || !k.CreatedAt.Equal(fixedNow) || k.AAGUID == "" {
			t.Errorf("stored passkey %+v", k)
		}
	})
}

func pk(k events.PasskeyRegistered) *events.PasskeyRegistered { return &k }

func TestDecideRenamePasskey(t *testing.T) {
	t.Parallel()
	has := story(discovered(), withCountedPasskey(phoneKey, 5))
	for _, tc := range []struct {
		name, id, label string
		then            []events.Payload
		err             error
	}{
		{"a new label", phoneKey, " Work phone ", []events.Payload{&events.PasskeyRenamed{CredentialID: phoneKey, Label: "Work phone"}}, nil},
		{"the same label changes nothing", phoneKey, "Phone", nil, nil},
		{"an empty label is refused", phoneKey, "", nil, ErrPasskeyLabel},
		{"an unknown passkey", "bm9wZQ", "Laptop", nil, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, has...)

			got, err := DecideRenamePasskey(u, tc.id, tc.label)

			thenEvents(t, got, tc.then...)
			thenErr(t, err, tc.err)
		})
	}
}

func TestDecideRemovePasskey(t *testing.T) {
	t.Parallel()
	has := story(discovered(), withTOTP(), withCountedPasskey(phoneKey, 5))
	step := TOTPStep(fixedNow)
	totpProof := FactorProof{Method: MethodTOTP, Code: totpCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow}
	keyProof := func(count uint32, verified bool) FactorProof {
		return FactorProof{Method: MethodPasskey, Passkey: PasskeyAssertion{CredentialID: phoneKey, SignCount: count, Verified: verified}, Now: fixedNow}
	}

	for _, tc := range []struct {
		name  string
		id    string
		proof FactorProof
		then  []events.Payload
		err   error
	}{
		{
			name:  "an authenticator code proves the removal",
			id:    phoneKey,
			proof: totpProof,
			then: []events.Payload{
				&events.FactorVerified{Method: MethodTOTP, TOTPStep: step, Purpose: PurposeRemovePasskey},
				&events.PasskeyRemoved{CredentialID: phoneKey},
			},
		},
		{
			name:  "a fresh assertion of the passkey itself proves it",
			id:    phoneKey,
			proof: keyProof(6, true),
			then:  story(passkeyVerified("", PurposeRemovePasskey, 6), []events.Payload{&events.PasskeyRemoved{CredentialID: phoneKey}}),
		},
		{
			name:  "an assertion that did not verify is a failed factor",
			id:    phoneKey,
			proof: keyProof(6, false),
			then:  []events.Payload{passkeyFailed("", "invalid_assertion", PurposeRemovePasskey)},
			err:   ErrPasskeyInvalid,
		},
		{
			name:  "a wrong code is a failed factor",
			id:    phoneKey,
			proof: FactorProof{Method: MethodTOTP, Code: wrongCode(t, fixedNow), TOTPSecret: totpSecret, Now: fixedNow},
			then:  []events.Payload{&events.FactorFailed{Method: MethodTOTP, Reason: "wrong_code", Purpose: PurposeRemovePasskey}},
			err:   ErrCodeInvalid,
		},
		{
			name:  "an unknown passkey records nothing",
			id:    "bm9wZQ",
			proof: totpProof,
			err:   ErrNotFound,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, has...)

			got, err := DecideRemovePasskey(u, DefaultPolicy(), tc.id, tc.proof)

			thenEvents(t, got, tc.then...)
			thenErr(t, err, tc.err)
		})
	}

	t.Run("removing the only factor turns two-factor sign-in off", func(t *testing.T) {
		t.Parallel()
		u := given(t, testUserID, story(discovered(), withCountedPasskey(phoneKey, 5))...)
		evs, err := DecideRemovePasskey(u, DefaultPolicy(), phoneKey, keyProof(6, true))
		thenErr(t, err, nil)
		foldAt(t, u, fixedNow, evs...)
		if u.HasSecondFactor() || len(u.Passkeys) != 0 {
			t.Errorf("after removing the only passkey: second factor %v, passkeys %d", u.HasSecondFactor(), len(u.Passkeys))
		}
	})
}
