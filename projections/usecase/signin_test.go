package usecase_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

const aliceID = "a11ce000000000000000000000000001"

var internet = usecase.Caller{IP: netip.MustParseAddr("203.0.113.9"),
	Device: events.Device{ID: "dev-1", Name: "Firefox", Client: "Jellyfin Web", Version: "10.11.0"}}

func TestSignInWithoutSecondFactorPassesAndIsRecorded(t *testing.T) {
	t.Parallel()
	// given a user with no second factor
	w := newWorld(t)
	res, raw := authResult(t, aliceID, "alice", "tok-1")
	// when Jellyfin accepted her password
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	// then the token passes, and the stream says why
	if err != nil || !out.Pass || out.Reason != domain.ReasonNoSecondFactor {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	got := types(w.events(aliceID))
	want := []events.Type{events.TypeUserDiscovered, events.TypeSessionVerified}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	// and the projection knows the session at once (read-your-writes)
	if u := w.user(aliceID); u == nil || u.Sessions[usecase.TokenHash("tok-1")] == nil {
		t.Fatal("session not in the projection after the use case returned")
	}
}

func TestSignInWithSecondFactorIsHeldAndVerifiedWithTOTP(t *testing.T) {
	t.Parallel()
	// given a user with an authenticator app
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	// when Jellyfin accepted her password
	res, raw := authResult(t, aliceID, "alice", "tok-2")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	// then the token is held behind a challenge
	if err != nil || out.Pass || out.ChallengeID == "" {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	// and a wrong code does not complete it
	_, err = w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: "000000"}})
	if err == nil {
		t.Fatal("a wrong code completed the challenge")
	}
	// when the right code comes
	code := totpCode(t, secret, w.clock.Now())
	done, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: code}})
	// then the held answer is handed out and the session is verified
	if err != nil || string(done.AuthResult) != string(raw) {
		t.Fatalf("verify: %v, auth = %s", err, done.AuthResult)
	}
	got := types(w.events(aliceID))
	if !slices.Contains(got, events.TypeFactorFailed) || !slices.Contains(got, events.TypeFactorVerified) || got[len(got)-1] != events.TypeSessionVerified {
		t.Fatalf("events = %v", got)
	}
}

func TestExpiredChallengeIsLoggedOutAtJellyfin(t *testing.T) {
	t.Parallel()
	// given a held sign-in
	w := newWorld(t)
	ctx := context.Background()
	enrollTOTP(t, w, aliceID, "alice")
	res, raw := authResult(t, aliceID, "alice", "tok-held")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw})
	if err != nil || out.Pass {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	// when its lifetime passes and the sweep runs
	w.clock.Add(6 * time.Minute)
	w.app.SweepChallenges(ctx)
	// then the expiry is recorded and the held token is logged out at Jellyfin
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypeChallengeExpired {
		t.Fatalf("events = %v", got)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-held") })
	// and the challenge can no longer be completed
	if _, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: "123456"}}); !errors.Is(err, domain.ErrChallengeNotFound) && !errors.Is(err, domain.ErrChallengeCompleted) {
		t.Fatalf("verify after expiry: %v", err)
	}
}

func TestPasswordStepResetsJellyfinsCountBeforeTheLastTry(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user one wrong password away from Jellyfin's lockout
	w := newWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	w.jf.policies[aliceID] = []byte(`{"InvalidLoginAttemptCount":2,"LoginAttemptsBeforeLockout":3,"IsDisabled":false}`)
	// when a password for her name comes
	a, err := w.app.BeginPassword(ctx, internet, "Alice", "", true)
	if err != nil {
		t.Fatal(err)
	}
	a.End()
	// then Jellyfin's count was set back to zero first, and the reset is recorded
	raw, _ := w.jf.UserPolicy(ctx, aliceID)
	var pol struct{ InvalidLoginAttemptCount, LoginAttemptsBeforeLockout int }
	if err := json.Unmarshal(raw, &pol); err != nil || pol.InvalidLoginAttemptCount != 0 || pol.LoginAttemptsBeforeLockout != 3 {
		t.Fatalf("policy after the step: %s", raw)
	}
	got := types(w.events(aliceID))
	want := []events.Type{events.TypeUserDiscovered, events.TypeJellyfinLoginFailuresReset}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

// waitFor polls cond for up to five seconds (logouts at Jellyfin run in the
// background).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

// enrollTOTP gives a user a confirmed authenticator app, through the domain's own
// decisions, and returns its secret.
func enrollTOTP(t *testing.T, w *world, uid, name string) string {
	t.Helper()
	ctx := context.Background()
	key, err := domain.NewTOTPSecret("Jellyfin", name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := w.sealer.Seal(ctx, uid, []byte(key.Secret))
	if err != nil {
		t.Fatal(err)
	}
	ec := events.Context{Actor: uid}
	if _, err := w.proj.ExecUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs := domain.DecideDiscovered(u, name, false)
		more, err := domain.DecideBeginTOTP(u, sealed)
		return append(evs, more...), err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.proj.ExecUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideConfirmTOTP(u, w.policy, key.Secret, totpCode(t, key.Secret, now), now, nil)
	}); err != nil {
		t.Fatal(err)
	}
	// The code that confirmed it is spent: move to the next time step.
	w.clock.Add(30 * time.Second)
	return key.Secret
}

// totpCode is the authenticator's code at an instant (pquerna/otp, independently of
// the domain's check).
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}
