package usecase_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections/usecase"
)

// signInFrom gives a user a verified session for token, through the sign-in use case,
// from caller.
func signInFrom(t *testing.T, w *world, caller usecase.Caller, uid, name, token string) {
	t.Helper()
	res, raw := authResult(t, uid, name, token)
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: caller, Result: res, Raw: raw, Web: true})
	if err != nil || !out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
}

// quickConnectAuthorizations counts a user's quick_connect_authorized events.
func quickConnectAuthorizations(w *world, uid string) int {
	n := 0
	for _, ev := range w.events(uid) {
		if ev.Type == events.TypeQuickConnectAuthorized {
			n++
		}
	}
	return n
}

func TestAuthorizingAQuickConnectCodeIsRecordedForTheSession(t *testing.T) {
	t.Parallel()
	// given alice signed in, with no second factor to ask for
	w, _ := newGateWorld(t)
	signInFrom(t, w, internet, aliceID, "alice", "tok-phone")
	// when her session authorizes a code on Jellyfin's Quick Connect page
	uid, err := w.app.AuthorizeQuickConnect(context.Background(), internet, "tok-phone")
	// then the authorization is recorded for her session, and she is who authorized
	if err != nil || uid != aliceID {
		t.Fatalf("authorize: %q, %v", uid, err)
	}
	qc := payloadsOf[*events.QuickConnectAuthorized](t, w, aliceID, events.TypeQuickConnectAuthorized)
	if len(qc) != 1 || qc[0].TokenHash != usecase.TokenHash("tok-phone") {
		t.Fatalf("quick_connect_authorized = %+v", qc)
	}
}

func TestAuthorizingAQuickConnectCodeNeedsARecentFactor(t *testing.T) {
	t.Parallel()
	// given alice, who has an authenticator, signed in from the LAN without it
	w, _ := newGateWorld(t)
	ctx := context.Background()
	enrollTOTP(t, w, aliceID, "alice")
	signInFrom(t, w, fromLAN, aliceID, "alice", "tok-lan")
	// when that session authorizes a code
	_, err := w.app.AuthorizeQuickConnect(ctx, fromLAN, "tok-lan")
	// then the step-up rule refuses it, and the refusal is recorded, not the code
	var su *domain.StepUpError
	if !errors.As(err, &su) || su.Action != domain.ActionQuickConnect {
		t.Fatalf("err = %v, want a step-up for Quick Connect", err)
	}
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypeStepUpRequired || quickConnectAuthorizations(w, aliceID) != 0 {
		t.Fatalf("events = %v", got)
	}
	// and a token that is no verified session may not authorize one at all
	if _, err := w.app.AuthorizeQuickConnect(ctx, internet, "tok-unknown"); !errors.Is(err, usecase.ErrSessionNotVerified) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestApprovingAQuickConnectCodeFromTheSecurityPage(t *testing.T) {
	t.Parallel()
	// given alice signed in, with no second factor to ask for
	w, jf := newGateWorld(t)
	ctx := context.Background()
	signInFrom(t, w, internet, aliceID, "alice", "tok-page")
	a := usecase.Account{Caller: internet, UserID: aliceID, TokenHash: usecase.TokenHash("tok-page")}
	// when she approves a code no device is waiting with
	jf.qcErr = &upstream.StatusError{Status: 404}
	err := w.app.ApproveQuickConnect(ctx, a, "tok-page", "000000")
	// then she is told so and nothing is recorded
	if !errors.Is(err, usecase.ErrQuickConnectUnknownCode) || quickConnectAuthorizations(w, aliceID) != 0 {
		t.Fatalf("unknown code: %v", err)
	}
	// when Quick Connect is off at Jellyfin
	jf.qcErr = &upstream.StatusError{Status: 401}
	if err := w.app.ApproveQuickConnect(ctx, a, "tok-page", "123456"); !errors.Is(err, usecase.ErrQuickConnectNotAccepted) {
		t.Fatalf("refused at Jellyfin: %v", err)
	}
	// when she approves the code the TV shows
	jf.qcErr = nil
	err = w.app.ApproveQuickConnect(ctx, a, "tok-page", "123456")
	// then Jellyfin authorized it and the authorization is recorded
	if err != nil || !slices.Equal(jf.authorized, []string{"123456"}) || quickConnectAuthorizations(w, aliceID) != 1 {
		t.Fatalf("approve: %v, authorized at Jellyfin %v", err, jf.authorized)
	}
}

func TestQuickConnectTokenIsVerifiedOnlyWhenItsCodeWasAuthorizedThroughJfguard(t *testing.T) {
	t.Parallel()
	// given alice, who has an authenticator
	w, _ := newGateWorld(t)
	ctx := context.Background()
	enrollTOTP(t, w, aliceID, "alice")
	tvToken, _ := authResult(t, aliceID, "alice", "tok-tv")
	// when Quick Connect hands a TV a token whose code she authorized through jfguard
	err := w.app.DecideQuickConnectSignIn(ctx, usecase.QuickConnectSignIn{Caller: appOnTV, Result: tvToken, AuthorizedBy: aliceID})
	// then the TV's session is verified, as a device's
	if err != nil {
		t.Fatal(err)
	}
	s := w.user(aliceID).Sessions[usecase.TokenHash("tok-tv")]
	if s == nil || s.Reason != domain.ReasonQuickConnect || s.Assurance != domain.AssuranceDevice {
		t.Fatalf("session = %+v", s)
	}

	// when Quick Connect hands another TV a token whose code was authorized at
	// Jellyfin directly
	other, _ := authResult(t, aliceID, "alice", "tok-around")
	before := len(w.events(aliceID))
	err = w.app.DecideQuickConnectSignIn(ctx, usecase.QuickConnectSignIn{Caller: appOnTV, Result: other})
	// then it is refused, not recorded, and logged out at Jellyfin
	if !errors.Is(err, usecase.ErrSessionRefused) {
		t.Fatalf("err = %v", err)
	}
	if n := len(w.events(aliceID)); n != before {
		t.Fatalf("%d events recorded for a refused token", n-before)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-around") })
}

func TestQuickConnectRetryGetsTheSessionItHas(t *testing.T) {
	t.Parallel()
	// given a TV whose Quick Connect sign-in was verified
	w, _ := newGateWorld(t)
	ctx := context.Background()
	res, _ := authResult(t, carolID, "carol", "tok-retry")
	if err := w.app.DecideQuickConnectSignIn(ctx, usecase.QuickConnectSignIn{Caller: appOnTV, Result: res}); err != nil {
		t.Fatal(err)
	}
	before := len(w.events(carolID))
	// when the TV asks again and Jellyfin answers with the same token
	w.clock.Add(time.Second)
	err := w.app.DecideQuickConnectSignIn(ctx, usecase.QuickConnectSignIn{Caller: appOnTV, Result: res})
	// then it passes and nothing more is recorded
	if err != nil || len(w.events(carolID)) != before {
		t.Fatalf("retry: %v, %d more events", err, len(w.events(carolID))-before)
	}
}
