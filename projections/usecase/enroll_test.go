package usecase_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

func TestEnrollAtChallengeAddsTheAppAndCompletesTheSignIn(t *testing.T) {
	t.Parallel()
	// given a server where everyone must use a second factor, and a user with none
	// whose sign-in is held
	w := newWorld(t)
	w.policy.Enabled, w.policy.RequireAll = true, true
	ctx := context.Background()
	id, raw := heldSignIn(t, w, "tok-1")
	// when she starts adding an authenticator app from the challenge
	key, err := w.app.BeginEnrollAtChallenge(ctx, internet, id)
	// then a secret is made for her and recorded sealed
	if err != nil || key.Secret == "" || key.URI == "" {
		t.Fatalf("key = %+v, err = %v", key, err)
	}
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypeTOTPEnrollmentStarted || w.user(aliceID).PendingTOTP == "" {
		t.Fatalf("events = %v", got)
	}
	// when she types the app's code
	done, err := w.app.ConfirmEnrollAtChallenge(ctx, internet, id, totpCode(t, key.Secret, w.clock.Now()))
	// then the app is hers, the held answer is handed out with her recovery codes
	if err != nil || string(done.AuthResult) != string(raw) || len(done.RecoveryCodes) != domain.RecoveryCodeCount {
		t.Fatalf("done = %+v, err = %v", done, err)
	}
	got := types(w.events(aliceID))
	want := []events.Type{events.TypeTOTPEnrolled, events.TypeRecoveryCodesGenerated, events.TypeFactorVerified, events.TypeSessionVerified}
	if !slices.Equal(got[len(got)-4:], want) {
		t.Fatalf("events = %v, want to end with %v", got, want)
	}
	if u := w.user(aliceID); u.TOTP == nil || u.Sessions[usecase.TokenHash("tok-1")] == nil {
		t.Fatal("the app or the session is not in the projection")
	}
}

func TestEnrollAtChallengeWithAWrongCodeCountsAsAFailedFactor(t *testing.T) {
	t.Parallel()
	// given a held sign-in where the user started adding an app
	w := newWorld(t)
	w.policy.Enabled, w.policy.RequireAll = true, true
	ctx := context.Background()
	id, _ := heldSignIn(t, w, "tok-1")
	if _, err := w.app.BeginEnrollAtChallenge(ctx, internet, id); err != nil {
		t.Fatal(err)
	}
	// when a wrong code comes
	_, err := w.app.ConfirmEnrollAtChallenge(ctx, internet, id, "000000")
	// then nothing is enrolled and the failure is recorded
	if err == nil || w.user(aliceID).TOTP != nil {
		t.Fatalf("err = %v", err)
	}
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypeFactorFailed {
		t.Fatalf("events = %v", got)
	}
}

func TestEnrollAtChallengeIsOfferedOnlyToUsersWithoutAFactor(t *testing.T) {
	t.Parallel()
	// given a user who has an authenticator app, and her held sign-in
	w := newWorld(t)
	w.policy.Enabled, w.policy.RequireAll = true, true
	ctx := context.Background()
	enrollTOTP(t, w, aliceID, "alice")
	id, _ := heldSignIn(t, w, "tok-1")
	n := len(w.events(aliceID))
	// when the challenge is used to add another app
	_, err := w.app.BeginEnrollAtChallenge(ctx, internet, id)
	// then it is refused and nothing is recorded
	if !errors.Is(err, domain.ErrEnrollNotOffered) || len(w.events(aliceID)) != n {
		t.Fatalf("err = %v, events = %v", err, types(w.events(aliceID)))
	}
	// and confirming without a start, or at an unknown challenge, is refused too
	if _, err := w.app.ConfirmEnrollAtChallenge(ctx, internet, id, "123456"); !errors.Is(err, domain.ErrNoPendingTOTP) {
		t.Fatalf("confirm without a start: %v", err)
	}
	if _, err := w.app.BeginEnrollAtChallenge(ctx, internet, "0123456789abcdef0123456789abcdef"); !errors.Is(err, domain.ErrChallengeNotFound) {
		t.Fatalf("unknown challenge: %v", err)
	}
}

// heldSignIn signs alice in with her password and returns the challenge that holds
// her sign-in and Jellyfin's answer it holds.
func heldSignIn(t *testing.T, w *world, token string) (string, []byte) {
	t.Helper()
	res, raw := authResult(t, aliceID, "alice", token)
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.Pass || out.ChallengeID == "" {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	return out.ChallengeID, raw
}
