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

func TestAdminEndsAHeldSignIn(t *testing.T) {
	t.Parallel()
	// given alice's sign-in held for its second step
	w := newWorld(t)
	ctx := context.Background()
	enrollTOTP(t, w, aliceID, "alice")
	res, raw := authResult(t, aliceID, "alice", "tok-held")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.ChallengeID == "" {
		t.Fatalf("%+v, %v", out, err)
	}
	// then it is listed
	held := w.app.HeldSignIns()
	if len(held) != 1 || held[0].ID != out.ChallengeID || held[0].User != "alice" || held[0].IP != "203.0.113.9" {
		t.Fatalf("held sign-ins %+v", held)
	}
	// when an administrator ends it
	uid, err := w.app.AdminEndChallenge(ctx, root, out.ChallengeID)
	if err != nil || uid != aliceID {
		t.Fatalf("end: %s, %v", uid, err)
	}
	// then it is the administrator's recorded act, the token is logged out, and it
	// is neither listed nor ended twice
	evs := w.events(aliceID)
	if last := evs[len(evs)-1]; last.Type != events.TypeChallengeExpired || last.Actor != usecase.ActorAdmin {
		t.Fatalf("last event %s by %s", last.Type, last.Actor)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-held") })
	if n := len(w.app.HeldSignIns()); n != 0 {
		t.Fatalf("%d held sign-ins after ending", n)
	}
	if _, err := w.app.AdminEndChallenge(ctx, root, out.ChallengeID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("ending again: %v", err)
	}
}

func TestAdminRevokesOneSessionAndOneAppPassword(t *testing.T) {
	t.Parallel()
	w, _ := newGateWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	plain := givenAppPassword(t, w, aliceID, "alice", "TV")
	if _, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: "alice", Password: plain}); err != nil {
		t.Fatal(err)
	}
	if err := w.app.AdminRevokeSession(ctx, root, aliceID, usecase.TokenHash("minted-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "minted-1") })
	if s := w.user(aliceID).Sessions[usecase.TokenHash("minted-1")]; s != nil {
		t.Fatalf("session %+v after revoking", s)
	}
	for id := range w.user(aliceID).AppPasswords {
		if err := w.app.AdminRevokeAppPassword(ctx, root, aliceID, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: "alice", Password: plain}); !errors.Is(err, usecase.ErrBadAppPassword) {
		t.Fatalf("the revoked app password: %v", err)
	}
	if err := w.app.AdminRevokeSession(ctx, root, aliceID, "no-such-session"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("an unknown session: %v", err)
	}
}
