package usecase_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

// The self-service tests act as alice on her own account, from a session she
// signed in through the use cases, as the setup page does.

// webSession signs alice in from the web app while she has no second factor, and
// returns that session's self-service request for action.
func webSession(t *testing.T, w *world, token string, action domain.Action) usecase.Account {
	t.Helper()
	res, raw := authResult(t, aliceID, "alice", token)
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || !out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	return account(token, action)
}

// totpSession signs alice in from the web app with her authenticator app: the
// session has a recent factor. The code is spent: the clock moves to the next step.
func totpSession(t *testing.T, w *world, secret, token string, action domain.Action) usecase.Account {
	t.Helper()
	ctx := context.Background()
	res, raw := authResult(t, aliceID, "alice", token)
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	if _, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())}}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	w.clock.Add(30 * time.Second)
	return account(token, action)
}

// account is alice's self-service request from the session of token.
func account(token string, action domain.Action) usecase.Account {
	return usecase.Account{Caller: internet, UserID: aliceID, TokenHash: usecase.TokenHash(token), Action: action}
}

// withProof is a request whose form carries a current factor.
func withProof(a usecase.Account) usecase.Account {
	a.Proof = true
	return a
}

// since are the types of alice's events after the first mark of them.
func since(w *world, mark int) []events.Type { return types(w.events(aliceID))[mark:] }

// mark is how many events alice's stream holds now.
func mark(w *world) int { return len(w.events(aliceID)) }

func TestStepUpWithTOTPMakesTheSessionRecent(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app, signed in with it long enough ago
	// that her session no longer counts as recent
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	a := totpSession(t, w, secret, "tok-web", domain.ActionAppPasswords)
	w.clock.Add(domain.DefaultStepUpWindow + time.Minute)
	// and a change that needs a recent factor is refused, the refusal recorded
	m := mark(w)
	var su *domain.StepUpError
	if _, err := w.app.CreateAppPassword(ctx, a, "TV"); !errors.As(err, &su) {
		t.Fatalf("create before the step-up: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeStepUpRequired}) {
		t.Fatalf("events = %v", got)
	}
	// when she proves her authenticator code for the session
	until, err := w.app.StepUp(ctx, account("tok-web", ""), domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())})
	// then the session is recent until the end of the window
	if err != nil || !until.Equal(w.clock.Now().Add(domain.DefaultStepUpWindow)) {
		t.Fatalf("step-up: until %v, %v", until, err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeStepUpRequired, events.TypeFactorVerified, events.TypeSessionSteppedUp}) {
		t.Fatalf("events = %v", got)
	}
	// and the change is made
	if _, err := w.app.CreateAppPassword(ctx, a, "TV"); err != nil {
		t.Fatalf("create after the step-up: %v", err)
	}
}

func TestStepUpWithAWrongCodeIsRefusedAndCounted(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app and a session that is not recent
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	totpSession(t, w, secret, "tok-web", "")
	w.clock.Add(domain.DefaultStepUpWindow + time.Minute)
	m := mark(w)
	// when a wrong code is offered
	_, err := w.app.StepUp(ctx, account("tok-web", ""), domain.FactorProof{Method: domain.MethodTOTP, Code: "000000"})
	// then it is refused, and counted as a failed factor
	if !errors.Is(err, domain.ErrCodeInvalid) {
		t.Fatalf("step-up: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeFactorFailed}) {
		t.Fatalf("events = %v", got)
	}
	if lvl, _ := w.app.LevelOf(aliceID, usecase.TokenHash("tok-web")); lvl.StepUpUntil != nil {
		t.Fatalf("session is recent after a wrong code: %+v", lvl)
	}
}

func TestStepUpWithTOTPNeedsAnAuthenticator(t *testing.T) {
	t.Parallel()
	// given alice without an authenticator app
	w := newWorld(t)
	a := webSession(t, w, "tok-web", "")
	m := mark(w)
	// when she offers an authenticator code
	_, err := w.app.StepUp(context.Background(), a, domain.FactorProof{Method: domain.MethodTOTP, Code: "123456"})
	// then there is no secret to check it against, and nothing is recorded
	if !errors.Is(err, domain.ErrMethodNotAvailable) {
		t.Fatalf("step-up: %v", err)
	}
	if got := since(w, m); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
}

func TestChangeWithoutADeclaredActionIsRefused(t *testing.T) {
	t.Parallel()
	// given alice's session
	w := newWorld(t)
	a := webSession(t, w, "tok-web", "")
	m := mark(w)
	// when a change comes with no declared action
	a.Action = ""
	err := w.app.RevokeBrowser(context.Background(), a, "b1")
	// then it is refused and not made
	if !errors.Is(err, usecase.ErrUndeclaredAction) {
		t.Fatalf("change: %v", err)
	}
	if got := since(w, m); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
}
