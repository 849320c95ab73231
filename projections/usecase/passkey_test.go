package usecase_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections/usecase"
)

// The passkey use cases take what the relying party verified: an assertion (a
// credential id, its counter, whether the signature held) or a new credential. The
// tests hand them those directly.

const phoneKey = "cGhvbmUta2V5LWlk" // a credential id, base64url

func TestPasskeySignInMintsASessionAndRecordsIt(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user with a passkey whose counter is at 1
	w := newWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	withPasskey(t, w, aliceID, "alice", phoneKey, 1)
	// when the passkey signs in alone with its next counter
	auth, err := w.app.PasskeySignIn(ctx, usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 2, Verified: true}})
	// then Jellyfin made a session for the app, and its answer is handed out
	if err != nil || !strings.Contains(string(auth), "minted-1") {
		t.Fatalf("auth = %s, err = %v", auth, err)
	}
	// and the stream records the factor, the counter and the verified session
	got := types(w.events(aliceID))
	want := []events.Type{events.TypeFactorVerified, events.TypePasskeyUsed, events.TypeSessionVerified}
	if !slices.Equal(got[len(got)-3:], want) {
		t.Fatalf("events = %v, want to end with %v", got, want)
	}
	u := w.user(aliceID)
	s := u.Sessions[usecase.TokenHash("minted-1")]
	if s == nil || s.Reason != domain.ReasonPasskey || u.Passkeys[phoneKey].SignCount != 2 {
		t.Fatalf("session = %+v, counter = %d", s, u.Passkeys[phoneKey].SignCount)
	}
}

func TestPasskeySignInKeepsTheProfileAsJellyfinGivesIt(t *testing.T) {
	t.Parallel()
	// given a user with a passkey, renamed at Jellyfin since jfguard last saw her
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice2", true)
	withPasskey(t, w, aliceID, "alice", phoneKey, 0)
	// when her passkey signs her in
	if _, err := w.app.PasskeySignIn(context.Background(), usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, Verified: true}}); err != nil {
		t.Fatal(err)
	}
	// then her profile changed with the session
	if !slices.Contains(types(w.events(aliceID)), events.TypeUserProfileChanged) {
		t.Fatalf("events = %v", types(w.events(aliceID)))
	}
	if u := w.user(aliceID); u.Name != "alice2" || !u.Admin {
		t.Fatalf("user = %q admin %v", u.Name, u.Admin)
	}
}

func TestPasskeySignInThatDidNotVerifyCountsAgainstTheAddress(t *testing.T) {
	t.Parallel()
	// given a user with a passkey
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	withPasskey(t, w, aliceID, "alice", phoneKey, 1)
	before := len(w.events(aliceID))
	// when an assertion naming her does not verify
	_, err := w.app.PasskeySignIn(context.Background(), usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 2}})
	// then it is refused, charged to the address, and nothing is asked of Jellyfin
	if !errors.Is(err, usecase.ErrPasskeyNotVerified) {
		t.Fatalf("err = %v", err)
	}
	addr := w.events(w.app.AddressKey(internet.IP))
	if len(addr) != 1 || addr[0].Type != events.TypeSignInFailed {
		t.Fatalf("address events = %v", types(addr))
	}
	if len(w.events(aliceID)) != before || w.jf.minted != 0 {
		t.Fatalf("user events %v, minted %d", types(w.events(aliceID)), w.jf.minted)
	}
}

func TestPasskeySignInWithACounterThatWentBackIsRefusedBeforeJellyfin(t *testing.T) {
	t.Parallel()
	// given a user whose passkey's counter is at 5
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	withPasskey(t, w, aliceID, "alice", phoneKey, 5)
	// when an assertion presents counter 3
	_, err := w.app.PasskeySignIn(context.Background(), usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 3, Verified: true}})
	// then it is refused as a possible clone, recorded, and no session is made
	if !errors.Is(err, domain.ErrPasskeyCloned) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Contains(types(w.events(aliceID)), events.TypePasskeyCloneSuspected) || w.jf.minted != 0 {
		t.Fatalf("events = %v, minted %d", types(w.events(aliceID)), w.jf.minted)
	}
}

func TestPasskeySignInThatLosesTheRaceLogsTheMintedSessionOut(t *testing.T) {
	t.Parallel()
	// given a user with a passkey, and a Jellyfin that is slow enough for the same
	// assertion to be used by another request while it makes the session
	w := newWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	withPasskey(t, w, aliceID, "alice", phoneKey, 1)
	jf := &racingJellyfin{fakeJellyfin: w.jf, before: func() {
		if _, err := w.proj.ExecUser(ctx, aliceID, events.Context{Actor: aliceID}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			return domain.DecidePasskeyAssertion(u, w.policy, phoneKey, 2, domain.PurposePasswordless, "", now)
		}); err != nil {
			t.Error(err)
		}
	}}
	app := usecase.New(usecase.Deps{Projector: w.proj, Sealer: w.sealer, Jellyfin: jf,
		Policy: func() domain.Policy { return w.policy }, Clock: w.clock.Now})
	// when it signs in with that assertion
	_, err := app.PasskeySignIn(ctx, usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 2, Verified: true}})
	// then the sign-in is refused and the session Jellyfin made is logged out
	if !errors.Is(err, domain.ErrPasskeyCloned) {
		t.Fatalf("err = %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "minted-1") })
	if w.user(aliceID).Sessions[usecase.TokenHash("minted-1")] != nil {
		t.Fatal("the session of the lost race was recorded")
	}
}

func TestRegisterPasskeyRecordsItWithTheFirstRecoveryCodes(t *testing.T) {
	t.Parallel()
	// given a signed-in user with no second factor
	w := newWorld(t)
	acct := signedIn(t, w, aliceID, "alice", "tok-1")
	// when she adds a passkey
	k, err := w.app.RegisterPasskey(context.Background(), acct, usecase.PasskeyCredential{CredentialID: phoneKey, PublicKey: "cHVi"}, " My phone ")
	// then it is recorded under its trimmed label, with recovery codes shown once
	if err != nil || k.Label != "My phone" || len(k.RecoveryCodes) != domain.RecoveryCodeCount {
		t.Fatalf("registered = %+v, err = %v", k, err)
	}
	got := types(w.events(aliceID))
	want := []events.Type{events.TypePasskeyRegistered, events.TypeRecoveryCodesGenerated}
	if !slices.Equal(got[len(got)-2:], want) {
		t.Fatalf("events = %v, want to end with %v", got, want)
	}
	if p := w.user(aliceID).Passkeys[phoneKey]; p == nil || p.Label != "My phone" {
		t.Fatalf("passkey = %+v", p)
	}
}

func TestRegisterPasskeyNeedsARecentFactorOnceTheUserHasOne(t *testing.T) {
	t.Parallel()
	// given a user with a passkey, in a session that signed in with the password alone
	w := newWorld(t)
	ctx := context.Background()
	acct := signedIn(t, w, aliceID, "alice", "tok-1")
	if _, err := w.app.RegisterPasskey(ctx, acct, usecase.PasskeyCredential{CredentialID: phoneKey, PublicKey: "cHVi"}, "My phone"); err != nil {
		t.Fatal(err)
	}
	// when that session adds a second passkey
	_, err := w.app.RegisterPasskey(ctx, acct, usecase.PasskeyCredential{CredentialID: "a2V5LTI", PublicKey: "cHVi"}, "Laptop")
	// then the step-up rule refuses it, and the refusal is recorded
	var su *domain.StepUpError
	if !errors.As(err, &su) {
		t.Fatalf("err = %v", err)
	}
	got := types(w.events(aliceID))
	if got[len(got)-1] != events.TypeStepUpRequired || len(w.user(aliceID).Passkeys) != 1 {
		t.Fatalf("events = %v", got)
	}
}

func TestRenamePasskey(t *testing.T) {
	t.Parallel()
	// given a user who just signed in with her passkey
	w := newWorld(t)
	ctx := context.Background()
	acct := passkeySession(t, w)
	// when she renames it
	err := w.app.RenamePasskey(ctx, acct, phoneKey, "Old phone")
	// then the new label is recorded
	if err != nil || w.user(aliceID).Passkeys[phoneKey].Label != "Old phone" {
		t.Fatalf("err = %v, passkey = %+v", err, w.user(aliceID).Passkeys[phoneKey])
	}
	// and an empty label or an unknown passkey is refused, with nothing recorded
	n := len(w.events(aliceID))
	if err := w.app.RenamePasskey(ctx, acct, phoneKey, "  "); !errors.Is(err, domain.ErrPasskeyLabel) {
		t.Fatalf("empty label: %v", err)
	}
	if err := w.app.RenamePasskey(ctx, acct, "bm9uZQ", "Spare"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown passkey: %v", err)
	}
	if len(w.events(aliceID)) != n {
		t.Fatalf("events = %v", types(w.events(aliceID)))
	}
}

func TestRemovePasskeyNeedsAFactorThatHolds(t *testing.T) {
	t.Parallel()
	// given a user who signed in with her passkey (counter now 2)
	w := newWorld(t)
	ctx := context.Background()
	acct := passkeySession(t, w)
	acct.Proof = true
	// when she removes it with an assertion that did not verify
	err := w.app.RemovePasskey(ctx, acct, phoneKey, domain.FactorProof{Method: domain.MethodPasskey,
		Passkey: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 3}})
	// then it stays, and the failed factor is recorded
	if err == nil || w.user(aliceID).Passkeys[phoneKey] == nil {
		t.Fatalf("err = %v", err)
	}
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypeFactorFailed {
		t.Fatalf("events = %v", got)
	}
	// when she proves it with the passkey itself
	err = w.app.RemovePasskey(ctx, acct, phoneKey, domain.FactorProof{Method: domain.MethodPasskey,
		Passkey: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 3, Verified: true}})
	// then it is removed
	if err != nil || w.user(aliceID).Passkeys[phoneKey] != nil {
		t.Fatalf("err = %v", err)
	}
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypePasskeyRemoved {
		t.Fatalf("events = %v", got)
	}
}

func TestPasskeyCeremoniesBeginOnlyForUsersWhoCanFinishThem(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	signedIn(t, w, aliceID, "alice", "tok-1")
	// a proof needs a passkey to assert with
	if _, err := w.app.PasskeyProofUser(aliceID); !errors.Is(err, usecase.ErrNoPasskey) {
		t.Fatalf("proof without a passkey: %v", err)
	}
	// a challenge assertion needs an open challenge
	if _, err := w.app.ChallengePasskeyUser("0123456789abcdef0123456789abcdef"); !errors.Is(err, domain.ErrChallengeNotFound) {
		t.Fatalf("unknown challenge: %v", err)
	}
	// a registration begins for a user jfguard knows
	if _, err := w.app.PasskeyRegistrationUser("b0b00000000000000000000000000002"); !errors.Is(err, usecase.ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
	if u, err := w.app.PasskeyRegistrationUser(aliceID); err != nil || u.ID != aliceID {
		t.Fatalf("registration user = %v, err = %v", u, err)
	}
}

// signedIn signs a user with no second factor in through the sign-in use case and
// returns the account of that session, for adding factors.
func signedIn(t *testing.T, w *world, uid, name, token string) usecase.Account {
	t.Helper()
	res, raw := authResult(t, uid, name, token)
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || !out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	return usecase.Account{Caller: internet, UserID: uid, TokenHash: usecase.TokenHash(token), Action: domain.ActionFactors}
}

// withPasskey gives a user a passkey with a counter, through the domain's own
// decisions.
func withPasskey(t *testing.T, w *world, uid, name, credentialID string, signCount uint32) {
	t.Helper()
	if _, err := w.proj.ExecUser(context.Background(), uid, events.Context{Actor: uid}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs := domain.DecideDiscovered(u, name, false)
		more, err := domain.DecidePasskeyRegistered(u, events.PasskeyRegistered{CredentialID: credentialID, Label: "Phone", PublicKey: "cHVi", SignCount: signCount}, nil)
		return append(evs, more...), err
	}); err != nil {
		t.Fatal(err)
	}
}

// passkeySession gives alice a passkey (counter 1) and signs her in with it: the
// account of a session whose factor is recent.
func passkeySession(t *testing.T, w *world) usecase.Account {
	t.Helper()
	w.jf.addUser(aliceID, "alice", false)
	withPasskey(t, w, aliceID, "alice", phoneKey, 1)
	if _, err := w.app.PasskeySignIn(context.Background(), usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 2, Verified: true}}); err != nil {
		t.Fatal(err)
	}
	return usecase.Account{Caller: internet, UserID: aliceID, TokenHash: usecase.TokenHash("minted-1"), Action: domain.ActionFactors}
}

// racingJellyfin runs before just before Jellyfin makes a session: another request
// changing the user meanwhile.
type racingJellyfin struct {
	*fakeJellyfin
	before func()
}

func (r *racingJellyfin) MintSession(ctx context.Context, userID, client, device, deviceID, version string) ([]byte, upstream.AuthResult, error) {
	r.before()
	return r.fakeJellyfin.MintSession(ctx, userID, client, device, deviceID, version)
}
