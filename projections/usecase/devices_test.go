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

// tv is a living-room TV signing in with the Jellyfin app.
var tv = usecase.Caller{IP: internet.IP,
	Device: events.Device{ID: "tv-1", Name: "Living room TV", Client: "Jellyfin Android TV", Version: "0.18.0"}}

// tvSignIn signs alice in on the TV (an app that cannot show the challenge).
func tvSignIn(t *testing.T, w *world, token string) usecase.SignInResult {
	t.Helper()
	res, raw := authResult(t, aliceID, "alice", token)
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: tv, Result: res, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppPasswordIsShownOnceAndRevoked(t *testing.T) {
	t.Parallel()
	// given alice signed in
	w := newWorld(t)
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionAppPasswords)
	m := mark(w)
	// when she makes an app password for her TV
	pw, err := w.app.CreateAppPassword(ctx, a, "  Living room TV ")
	// then she gets it in clear, and the log knows it by its hash
	if err != nil || pw.Password == "" || pw.Label != "Living room TV" {
		t.Fatalf("create: %+v, %v", pw, err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeAppPasswordCreated}) {
		t.Fatalf("events = %v", got)
	}
	stored := w.user(aliceID).AppPasswords[pw.ID]
	_, secret, ok := domain.ParseAppPassword(pw.Password)
	if stored == nil || !ok || !domain.VerifyAppPassword(stored.Hash, secret) {
		t.Fatalf("stored = %+v", stored)
	}
	// when she revokes it
	err = w.app.RevokeAppPassword(ctx, a, pw.ID)
	// then it is gone, and revoking it again finds nothing
	if err != nil || w.user(aliceID).AppPasswords[pw.ID] != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := w.app.RevokeAppPassword(ctx, a, pw.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoke again: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeAppPasswordCreated, events.TypeAppPasswordRevoked}) {
		t.Fatalf("events = %v", got)
	}
}

func TestAppPasswordNeedsANameAndStaysWithinTheLimit(t *testing.T) {
	t.Parallel()
	// given alice signed in, on a server that allows one app password
	w := newWorld(t)
	w.policy.MaxAppPasswords = 1
	ctx := context.Background()
	a := webSession(t, w, "tok-web", domain.ActionAppPasswords)
	m := mark(w)
	// when she gives no name
	if _, err := w.app.CreateAppPassword(ctx, a, "   "); !errors.Is(err, usecase.ErrAppPasswordLabel) {
		t.Fatalf("no name: %v", err)
	}
	// or asks for a second one
	if _, err := w.app.CreateAppPassword(ctx, a, "TV"); err != nil {
		t.Fatal(err)
	}
	_, err := w.app.CreateAppPassword(ctx, a, "Phone")
	// then only the first one named within the limit is made
	if !errors.Is(err, domain.ErrTooMany) {
		t.Fatalf("second: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeAppPasswordCreated}) {
		t.Fatalf("events = %v", got)
	}
}

func TestApprovedDeviceSignsInAndIsRevoked(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app, and her TV asking to pair
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	held := tvSignIn(t, w, "tok-tv-1")
	if held.Pass || held.PairingID == "" {
		t.Fatalf("TV sign-in: %+v", held.SignInOutcome)
	}
	a := totpSession(t, w, secret, "tok-web", domain.ActionDevices)
	// when she approves it
	m := mark(w)
	if err := w.app.AnswerPairing(ctx, a, held.PairingID, true); err != nil {
		t.Fatalf("approve: %v", err)
	}
	// then the TV's next sign-in pairs it
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypePairingApproved}) {
		t.Fatalf("events = %v", got)
	}
	if out := tvSignIn(t, w, "tok-tv-2"); !out.Pass || out.Reason != domain.ReasonPairing {
		t.Fatalf("TV sign-in after approval: %+v", out.SignInOutcome)
	}
	// and answering the request again is refused
	if err := w.app.AnswerPairing(ctx, a, held.PairingID, false); !errors.Is(err, domain.ErrPairingResolved) {
		t.Fatalf("answer again: %v", err)
	}
	// when she removes the TV
	m = mark(w)
	err := w.app.RevokeDevice(ctx, a, held.PairingID)
	// then the device and its session end, at jfguard and at Jellyfin
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeDeviceRevoked, events.TypeSessionRevoked}) {
		t.Fatalf("events = %v", got)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-tv-2") })
	// and there is no such device any more
	if err := w.app.RevokeDevice(ctx, a, held.PairingID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoke again: %v", err)
	}
}

func TestDeniedDeviceIsNotPaired(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app, and her TV asking to pair
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	held := tvSignIn(t, w, "tok-tv-1")
	a := totpSession(t, w, secret, "tok-web", domain.ActionDevices)
	// when she denies it
	m := mark(w)
	if err := w.app.AnswerPairing(ctx, a, held.PairingID, false); err != nil {
		t.Fatalf("deny: %v", err)
	}
	// then the denial is recorded and the TV's next sign-in is held
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypePairingDenied}) {
		t.Fatalf("events = %v", got)
	}
	if out := tvSignIn(t, w, "tok-tv-2"); out.Pass {
		t.Fatalf("TV passed after a denial: %+v", out.SignInOutcome)
	}
}

func TestRevokingAnotherSessionLogsItOutAtJellyfin(t *testing.T) {
	t.Parallel()
	// given alice signed in on her phone and in this browser
	w := newWorld(t)
	ctx := context.Background()
	phone := usecase.Caller{IP: internet.IP, Device: events.Device{ID: "phone-1", Name: "Pixel", Client: "Jellyfin Android", Version: "2.6.0"}}
	res, raw := authResult(t, aliceID, "alice", "tok-phone")
	if out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: phone, Result: res, Raw: raw}); err != nil || !out.Pass {
		t.Fatalf("phone sign-in: %+v, %v", out.SignInOutcome, err)
	}
	a := webSession(t, w, "tok-web", domain.ActionSessions)
	m := mark(w)
	// when she signs the other session out
	err := w.app.RevokeSession(ctx, a, usecase.TokenHash("tok-phone"))
	// then it ends at jfguard and at Jellyfin
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	evs := w.events(aliceID)[m:]
	if len(evs) != 1 || evs[0].Type != events.TypeSessionRevoked {
		t.Fatalf("events = %v", types(evs))
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-phone") })
	if w.user(aliceID).Sessions[usecase.TokenHash("tok-phone")] != nil {
		t.Fatal("the session is still on record")
	}
	// and a session that is gone is not found
	if err := w.app.RevokeSession(ctx, a, usecase.TokenHash("tok-phone")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoke again: %v", err)
	}
}

func TestSigningOutOwnSessionIsNeverRefused(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app whose session is no longer recent
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	totpSession(t, w, secret, "tok-web", "")
	w.clock.Add(domain.DefaultStepUpWindow * 2)
	// when she signs that very session out
	m := mark(w)
	err := w.app.RevokeSession(ctx, account("tok-web", domain.ActionSignOut), usecase.TokenHash("tok-web"))
	// then it ends, without a step-up
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeSessionRevoked}) {
		t.Fatalf("events = %v", got)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-web") })
}

func TestRevokingATrustedBrowser(t *testing.T) {
	t.Parallel()
	// given alice with an authenticator app, who trusted this browser at sign-in
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	res, raw := authResult(t, aliceID, "alice", "tok-web")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof:        domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())},
		TrustBrowser: true, DeviceID: internet.Device.ID, BrowserName: "Firefox on Linux"}); err != nil {
		t.Fatal(err)
	}
	var browserID string
	for id := range w.user(aliceID).Browsers {
		browserID = id
	}
	if browserID == "" {
		t.Fatal("no trusted browser")
	}
	a := account("tok-web", domain.ActionTrustedBrowsers)
	// when she stops trusting it
	m := mark(w)
	err = w.app.RevokeBrowser(ctx, a, browserID)
	// then it is forgotten, and forgetting it again finds nothing
	if err != nil || w.user(aliceID).Browsers[browserID] != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got := since(w, m); !slices.Equal(got, []events.Type{events.TypeBrowserTrustRevoked}) {
		t.Fatalf("events = %v", got)
	}
	if err := w.app.RevokeBrowser(ctx, a, browserID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoke again: %v", err)
	}
}

func TestSignOutAtJellyfinEndsTheSession(t *testing.T) {
	t.Parallel()
	// given alice signed in
	w := newWorld(t)
	ctx := context.Background()
	webSession(t, w, "tok-web", "")
	m := mark(w)
	// when her client signs out at Jellyfin through the gate, and a token jfguard
	// never verified does too
	if err := w.app.RecordSignOut(ctx, internet, usecase.TokenHash("tok-web")); err != nil {
		t.Fatal(err)
	}
	if err := w.app.RecordSignOut(ctx, internet, usecase.TokenHash("tok-unknown")); err != nil {
		t.Fatal(err)
	}
	// then her session ends, recorded once, from her device
	evs := w.events(aliceID)[m:]
	if len(evs) != 1 || evs[0].Type != events.TypeSessionRevoked || evs[0].Actor != aliceID || evs[0].Device == nil || evs[0].Device.ID != internet.Device.ID {
		t.Fatalf("events = %+v", evs)
	}
	if w.user(aliceID).Sessions[usecase.TokenHash("tok-web")] != nil {
		t.Fatal("the session is still on record")
	}
}
