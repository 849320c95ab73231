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

// logoutFailures are the user's jellyfin_logout_failed events.
func logoutFailures(t *testing.T, w *world, uid string) []*events.JellyfinLogoutFailed {
	t.Helper()
	var out []*events.JellyfinLogoutFailed
	for _, ev := range w.events(uid) {
		if ev.Type != events.TypeJellyfinLogoutFailed {
			continue
		}
		p, err := events.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.(*events.JellyfinLogoutFailed))
	}
	return out
}

func TestSignOutEverywhereEndsJellyfinSessionsJfguardNeverSaw(t *testing.T) {
	t.Parallel()
	// given alice signed in through jfguard with a recent factor, and, at Jellyfin,
	// two sessions of hers jfguard never saw (one listed with a dashed user id) and
	// one of bob's
	w := newWorld(t)
	ctx := context.Background()
	signInWithTOTP(t, w, aliceID, "alice", "tok-here")
	w.jf.addDevice(aliceID, "tok-here")
	w.jf.addDevice(aliceID, "tok-direct")
	w.jf.addDevice("a11ce000-0000-0000-0000-000000000001", "tok-dashed")
	w.jf.addDevice(bobID, "tok-bob")
	// when she signs out everywhere from her session
	a := usecase.Account{Caller: internet, UserID: aliceID, TokenHash: usecase.TokenHash("tok-here")}
	if _, err := w.app.SignOutEverywhere(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	// then her other Jellyfin sessions are logged out, hers and bob's are not, and
	// nothing failed
	got := w.jf.loggedOutTokens()
	for _, tok := range []string{"tok-direct", "tok-dashed"} {
		if !slices.Contains(got, tok) {
			t.Errorf("%s was not logged out (logged out: %v)", tok, got)
		}
	}
	for _, tok := range []string{"tok-here", "tok-bob"} {
		if slices.Contains(got, tok) {
			t.Errorf("%s was logged out", tok)
		}
	}
	if f := logoutFailures(t, w, aliceID); len(f) != 0 {
		t.Errorf("failures recorded: %+v", f[0])
	}
}

func TestAdministratorsRevocationsEndJellyfinSessionsJfguardNeverSaw(t *testing.T) {
	t.Parallel()
	for name, revoke := range map[string]func(w *world) error{
		"users.revoke_all": func(w *world) error {
			_, err := w.app.RevokeUserEverywhere(context.Background(), root, bobID, "offboarding")
			return err
		},
		"users.reset": func(w *world) error {
			_, err := w.app.ResetUser(context.Background(), root, bobID, "lost phone")
			return err
		},
		"users.forget": func(w *world) error { return w.app.ForgetUser(context.Background(), root, bobID, "left") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// given bob signed in through jfguard, and at Jellyfin directly
			w := newWorld(t)
			signIn(t, w, bobID, "bob", "tok-bob")
			w.jf.addDevice(bobID, "tok-bob")
			w.jf.addDevice(bobID, "tok-bob-direct")
			w.jf.addDevice(aliceID, "tok-alice")
			// when an administrator revokes him
			if err := revoke(w); err != nil {
				t.Fatal(err)
			}
			// then both his sessions end at Jellyfin, alice's does not
			got := w.jf.loggedOutTokens()
			if !slices.Contains(got, "tok-bob") || !slices.Contains(got, "tok-bob-direct") || slices.Contains(got, "tok-alice") {
				t.Fatalf("logged out: %v", got)
			}
		})
	}
}

func TestJellyfinLogoutIsRetriedThenRecorded(t *testing.T) {
	t.Parallel()
	// given bob signed in, with a session Jellyfin logs out only on the third try
	// and one it never logs out
	w := newWorld(t)
	ctx := context.Background()
	signIn(t, w, bobID, "bob", "tok-bob")
	w.jf.addDevice(bobID, "tok-flaky")
	w.jf.addDevice(bobID, "tok-stuck")
	w.jf.failLogout = map[string]int{"tok-flaky": 2, "tok-stuck": -1}
	// when an administrator revokes him
	_, err := w.app.RevokeUserEverywhere(ctx, root, bobID, "offboarding")
	// then the flaky one ended on a retry, the stuck one was tried three times, and
	// the failure is an error and an event on bob's account
	if !errors.Is(err, usecase.ErrJellyfinLogout) {
		t.Fatalf("err = %v, want ErrJellyfinLogout", err)
	}
	if got := w.jf.loggedOutTokens(); !slices.Contains(got, "tok-flaky") || !slices.Contains(got, "tok-bob") {
		t.Fatalf("logged out: %v", got)
	}
	if n := w.jf.triesOf("tok-stuck"); n != 3 {
		t.Errorf("tok-stuck tried %d times, want 3", n)
	}
	f := logoutFailures(t, w, bobID)
	if len(f) != 1 || f[0].Sessions != 1 || f[0].Attempts != 3 || f[0].Reason != domain.RevokeByAdmin || f[0].DevicesUnlisted || f[0].Error == "" {
		t.Fatalf("jellyfin_logout_failed = %+v", f)
	}
	// and the revocation itself stands
	if u := w.user(bobID); len(u.Sessions) != 0 {
		t.Fatalf("sessions after the revocation: %v", u.Sessions)
	}
}

func TestUnreadableDeviceListIsRecorded(t *testing.T) {
	t.Parallel()
	// given bob signed in, and a Jellyfin whose device list fails
	w := newWorld(t)
	ctx := context.Background()
	signIn(t, w, bobID, "bob", "tok-bob")
	w.jf.devicesErr = errors.New("connection refused")
	// when an administrator revokes him
	_, err := w.app.RevokeUserEverywhere(ctx, root, bobID, "offboarding")
	// then the session jfguard holds is logged out all the same, and the failure
	// says sessions jfguard never saw were not reached
	if !errors.Is(err, usecase.ErrJellyfinLogout) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Contains(w.jf.loggedOutTokens(), "tok-bob") {
		t.Fatalf("logged out: %v", w.jf.loggedOutTokens())
	}
	f := logoutFailures(t, w, bobID)
	if len(f) != 1 || !f[0].DevicesUnlisted || f[0].Sessions != 0 || f[0].Reason != domain.RevokeByAdmin {
		t.Fatalf("jellyfin_logout_failed = %+v", f)
	}
}

func TestForgetUserDestroysTheKeyEvenWhenALogoutFails(t *testing.T) {
	t.Parallel()
	// given bob signed in, with a session Jellyfin never logs out
	w := newWorld(t)
	ctx := context.Background()
	signIn(t, w, bobID, "bob", "tok-bob")
	sealed := w.user(bobID).Sessions[usecase.TokenHash("tok-bob")].Token
	w.jf.addDevice(bobID, "tok-stuck")
	w.jf.failLogout = map[string]int{"tok-stuck": -1}
	// when an administrator forgets him
	err := w.app.ForgetUser(ctx, root, bobID, "left")
	// then he is forgotten, and the error says what is left at Jellyfin
	if !errors.Is(err, usecase.ErrJellyfinLogout) {
		t.Fatalf("err = %v", err)
	}
	if u := w.user(bobID); !u.Forgotten {
		t.Fatal("the user is not forgotten")
	}
	if _, err := w.sealer.Open(ctx, bobID, sealed); err == nil {
		t.Fatal("the data key was kept")
	}
	if f := logoutFailures(t, w, bobID); len(f) != 1 || f[0].Reason != domain.RevokeOnForget {
		t.Fatalf("jellyfin_logout_failed = %+v", f)
	}
}
