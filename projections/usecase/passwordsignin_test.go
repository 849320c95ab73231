package usecase_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

// jellyfinCheck stands in for the gateway's forwarding of a password to Jellyfin:
// it answers what it was given and counts the passwords it saw.
type jellyfinCheck struct {
	mu     sync.Mutex
	answer usecase.PasswordAnswer
	err    error
	asked  int
}

func (j *jellyfinCheck) CheckPassword(context.Context) (usecase.PasswordAnswer, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.asked++
	return j.answer, j.err
}

// accepts is Jellyfin accepting the password of uid with a new token.
func accepts(t *testing.T, uid, name, token string) *jellyfinCheck {
	t.Helper()
	_, raw := authResult(t, uid, name, token)
	return &jellyfinCheck{answer: usecase.PasswordAnswer{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: raw}}
}

// byPassword is alice's sign-in from the web app with a password.
func byPassword(password string) usecase.PasswordSignIn {
	return usecase.PasswordSignIn{Caller: internet, Username: "alice", Password: password, AppPasswords: true, Web: true}
}

// signInEvents are the events of a sign-in's outcome in evs: a failure, a session,
// a challenge.
func signInEvents(evs []events.Event) []events.Type {
	var out []events.Type
	for _, ty := range types(evs) {
		switch ty {
		case events.TypeSignInFailed, events.TypeSessionVerified, events.TypeChallengeIssued:
			out = append(out, ty)
		}
	}
	return out
}

func TestPasswordSignInPassesWhatJellyfinAccepted(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user with no second factor
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	check := accepts(t, aliceID, "alice", "tok-pw")
	// when she signs in and Jellyfin accepts her password
	out, err := w.app.SignInWithPassword(context.Background(), byPassword("right"), check)
	// then Jellyfin's answer passes as it wrote it, and the session is recorded
	if err != nil || out.Verdict != usecase.PasswordPassed || out.Reason != domain.ReasonNoSecondFactor || out.UserID != aliceID {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	if check.asked != 1 || string(out.Answer.Body) != string(check.answer.Body) || out.Answer.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("Jellyfin asked %d times; answer %+v", check.asked, out.Answer)
	}
	if got := signInEvents(w.events(aliceID)); !slices.Equal(got, []events.Type{events.TypeSessionVerified}) {
		t.Fatalf("events = %v", got)
	}
}

func TestPasswordSignInHoldsTheTokenOfASecondFactorUser(t *testing.T) {
	t.Parallel()
	// given a user with an authenticator app
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	enrollTOTP(t, w, aliceID, "alice")
	// when Jellyfin accepts her password
	out, err := w.app.SignInWithPassword(context.Background(), byPassword("right"), accepts(t, aliceID, "alice", "tok-held"))
	// then the token is held behind a challenge, and nothing of Jellyfin's answer
	// is handed out
	if err != nil || out.Verdict != usecase.PasswordChallenged || out.ChallengeID == "" || out.UserID != aliceID {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	if out.Answer.Body != nil || out.Answer.Status != 0 {
		t.Fatalf("a held sign-in hands out %+v", out.Answer)
	}
	if got := signInEvents(w.events(aliceID)); !slices.Equal(got, []events.Type{events.TypeChallengeIssued}) {
		t.Fatalf("events = %v", got)
	}
}

func TestPasswordSignInRecordsAPasswordJellyfinRefused(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	refusal := usecase.PasswordAnswer{Status: http.StatusUnauthorized, Body: []byte("Error processing request.")}
	// when Jellyfin refuses the password
	out, err := w.app.SignInWithPassword(context.Background(), byPassword("wrong"), &jellyfinCheck{answer: refusal})
	// then its answer is relayed, and the failure counts against the address
	if err != nil || out.Verdict != usecase.PasswordRejected || out.Answer.Status != http.StatusUnauthorized || string(out.Answer.Body) != string(refusal.Body) {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	if got := signInFailures(t, w); !slices.Equal(got, []string{"bad_password"}) {
		t.Fatalf("failures = %v", got)
	}
	if got := signInEvents(w.events(aliceID)); len(got) != 0 {
		t.Fatalf("user's events = %v", got)
	}
}

func TestPasswordSignInWithJellyfinDownRecordsNothing(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user, and Jellyfin gone
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	down := &jellyfinCheck{err: errors.New("connection refused")}
	// when she signs in
	out, err := w.app.SignInWithPassword(context.Background(), byPassword("right"), down)
	// then the error says Jellyfin did not answer, and no sign-in, failed or not,
	// is recorded: no one knows whether the password was right
	if !errors.Is(err, usecase.ErrJellyfinUnreachable) || out.Verdict != 0 || down.asked != 1 {
		t.Fatalf("outcome = %+v, err = %v, asked %d", out, err, down.asked)
	}
	if got := signInEvents(w.events("")); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
	// and the attempt ended: the next password gets its turn
	if _, err := w.app.SignInWithPassword(context.Background(), byPassword("right"), accepts(t, aliceID, "alice", "tok-2")); err != nil {
		t.Fatalf("after Jellyfin came back: %v", err)
	}
}

func TestPasswordSignInFailsClosedOnAnAnswerItCannotRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, logout string
	}{
		{"not JSON", "<html>", ""},
		{"no user", `{"AccessToken":"tok-nouser","User":{}}`, "tok-nouser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// given a Jellyfin user
			w := newWorld(t)
			w.jf.addUser(aliceID, "alice", false)
			// when Jellyfin accepts her password with an answer jfguard cannot read
			check := &jellyfinCheck{answer: usecase.PasswordAnswer{Status: http.StatusOK, Body: []byte(tc.body)}}
			_, err := w.app.SignInWithPassword(context.Background(), byPassword("right"), check)
			// then nothing passes, and a token it could read is logged out
			if !errors.Is(err, usecase.ErrUnreadableAnswer) {
				t.Fatalf("err = %v", err)
			}
			if got := signInEvents(w.events("")); len(got) != 0 {
				t.Fatalf("events = %v", got)
			}
			if tc.logout != "" {
				waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), tc.logout) })
			}
		})
	}
}

func TestPasswordSignInLogsOutWhatItCannotDecide(t *testing.T) {
	t.Parallel()
	// given Jellyfin naming a user by an id jfguard cannot keep
	w := newWorld(t)
	check := accepts(t, "not/an.id", "mallory", "tok-odd")
	// when it accepts the password
	_, err := w.app.SignInWithPassword(context.Background(), byPassword("right"), check)
	// then the sign-in is undecided and the session Jellyfin made is logged out
	if !errors.Is(err, usecase.ErrSignInUndecided) || !errors.Is(err, usecase.ErrUnusableUserID) {
		t.Fatalf("err = %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-odd") })
}

func TestPasswordSignInRefusedByTheStepNeverReachesJellyfin(t *testing.T) {
	t.Parallel()
	// given a node without the password step's turns
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	cut := usecase.New(usecase.Deps{Projector: w.proj, Sealer: w.sealer, Jellyfin: w.jf})
	check := accepts(t, aliceID, "alice", "tok-never")
	// when a password comes
	_, err := cut.SignInWithPassword(context.Background(), byPassword("right"), check)
	// then the step's error is returned and Jellyfin never sees the password
	if !errors.Is(err, usecase.ErrTurns) || check.asked != 0 {
		t.Fatalf("err = %v, Jellyfin asked %d times", err, check.asked)
	}
}

func TestPasswordSignInWithAnAppPassword(t *testing.T) {
	t.Parallel()
	// given alice with an app password, on a node with the password step's turns
	// and the event stream
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	w.app = usecase.New(usecase.Deps{
		Projector: w.proj, Sealer: w.sealer, Jellyfin: w.jf, Store: w.store,
		Policy:     func() domain.Policy { return w.policy },
		HashParams: domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Clock:      w.clock.Now, Turns: usecase.SharedTurns(w.sharedStore()),
	})
	plain := givenAppPassword(t, w, aliceID, "alice", "Living room TV")
	tv := byPassword(plain)
	tv.Caller, tv.Web = appOnTV, false
	check := &jellyfinCheck{err: errors.New("Jellyfin must not see an app password")}
	// when the TV signs in with it on Jellyfin's sign-in route
	out, err := w.app.SignInWithPassword(context.Background(), tv, check)
	// then jfguard signs it in, without Jellyfin checking the password
	if err != nil || !out.AppPassword || out.Verdict != usecase.PasswordPassed || len(out.Answer.Body) == 0 || check.asked != 0 {
		t.Fatalf("outcome = %+v, err = %v, Jellyfin asked %d times", out, err, check.asked)
	}
	// when a wrong one comes
	out, err = w.app.SignInWithPassword(context.Background(), byPassword(plain[:len(plain)-1]+"x"), check)
	// then the app-password sign-in says so
	if !out.AppPassword || !errors.Is(err, usecase.ErrBadAppPassword) {
		t.Fatalf("outcome = %+v, err = %v", out, err)
	}
	// when a route that takes Jellyfin passwords only gets one
	login := byPassword(plain)
	login.AppPasswords = false
	_, err = w.app.SignInWithPassword(context.Background(), login, check)
	// then Jellyfin checks it
	if check.asked != 1 || !errors.Is(err, usecase.ErrJellyfinUnreachable) {
		t.Fatalf("err = %v, Jellyfin asked %d times", err, check.asked)
	}
}
