package usecase_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// appOnTV is an app on a TV signing in with an app password: it names its client,
// device id and version, as Jellyfin requires.
var appOnTV = usecase.Caller{IP: netip.MustParseAddr("203.0.113.20"), Device: events.Device{ID: "tv-9", Client: "Jellyfin Android TV", Version: "0.18.0"}}

// givenAppPassword gives a user (discovered first) an app password and returns it.
func givenAppPassword(t *testing.T, w *world, uid, name, label string) string {
	t.Helper()
	plain, id, hash, err := domain.NewAppPassword(rand.Reader, domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.proj.ExecUser(context.Background(), uid, events.Context{Actor: uid}, func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		return append(domain.DecideDiscovered(u, name, false), &events.AppPasswordCreated{ID: id, Label: label, Hash: hash}), nil
	}); err != nil {
		t.Fatal(err)
	}
	return plain
}

// signInFailures are the sign_in_failed events recorded, with their reasons.
func signInFailures(t *testing.T, w *world) []string {
	t.Helper()
	var out []string
	for _, ev := range w.events("") {
		if ev.Type == events.TypeSignInFailed {
			p, err := events.Decode(ev)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.(*events.SignInFailed).Reason)
		}
	}
	return out
}

func TestAppPasswordSignsAnAppInAsADevice(t *testing.T) {
	t.Parallel()
	// given alice with an app password for her TV
	w, _ := newGateWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	plain := givenAppPassword(t, w, aliceID, "alice", "Living room TV")
	// when the TV signs in with it, her name typed in another case
	raw, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: "Alice", Password: plain})
	// then Jellyfin's answer for a session minted for her is handed back
	if err != nil || len(raw) == 0 || w.jf.minted != 1 {
		t.Fatalf("sign-in: %d bytes, minted %d, err %v", len(raw), w.jf.minted, err)
	}
	// and the use and the session, a device's named after the app password, are
	// recorded
	got := types(w.events(aliceID))
	if want := []events.Type{events.TypeAppPasswordUsed, events.TypeSessionVerified}; !slices.Equal(got[len(got)-2:], want) {
		t.Fatalf("events = %v", got)
	}
	s := w.user(aliceID).Sessions[usecase.TokenHash("minted-1")]
	if s == nil || s.Reason != domain.ReasonAppPassword || s.Assurance != domain.AssuranceDevice || s.AppPasswordID == "" {
		t.Fatalf("session = %+v", s)
	}
	if s.Device.ID != "tv-9" {
		t.Errorf("session's device = %+v", s.Device)
	}
}

func TestWrongAppPasswordIsAFailedSignInOfTheAddress(t *testing.T) {
	t.Parallel()
	w, _ := newGateWorld(t)
	ctx := context.Background()
	plain := givenAppPassword(t, w, aliceID, "alice", "TV")
	last := byte('0')
	if plain[len(plain)-1] == last {
		last = '1'
	}
	wrongSecret := plain[:len(plain)-1] + string(last)
	nobodys, _, _, _ := domain.NewAppPassword(rand.Reader, domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	for _, tc := range []struct{ name, user, password string }{
		{"wrong secret", "alice", wrongSecret},
		{"id nobody has", "alice", nobodys},
		{"another user's name", "carol", plain},
	} {
		// when an app password that is not alice's right one is typed
		_, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: tc.user, Password: tc.password})
		// then it is refused, nothing is minted
		if !errors.Is(err, usecase.ErrBadAppPassword) || w.jf.minted != 0 {
			t.Fatalf("%s: err %v, minted %d", tc.name, err, w.jf.minted)
		}
	}
	// and each counts against the address
	if got := signInFailures(t, w); !slices.Equal(got, []string{"bad_app_password", "bad_app_password", "bad_app_password"}) {
		t.Fatalf("sign_in_failed reasons = %v", got)
	}
}

func TestAppPasswordSignInRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		device  events.Device
		mintErr error
		want    error
	}{
		{"an app that does not name its version", events.Device{ID: "tv-9", Client: "Jellyfin Android TV"}, nil, usecase.ErrIncompleteDevice},
		{"no admin key", appOnTV.Device, upstream.ErrNoAdminKey, usecase.ErrAppPasswordsUnavailable},
		{"Quick Connect off", appOnTV.Device, &upstream.StatusError{Status: 401}, usecase.ErrAppPasswordsUnavailable},
		{"Jellyfin failing", appOnTV.Device, &upstream.StatusError{Status: 500}, usecase.ErrSessionNotMinted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// given alice's app password, and Jellyfin as the case says
			w, jf := newGateWorld(t)
			plain := givenAppPassword(t, w, aliceID, "alice", "TV")
			jf.mintErr = tc.mintErr
			before := len(w.events(aliceID))
			// when an app signs in with it
			caller := appOnTV
			caller.Device = tc.device
			_, err := w.app.SignInWithAppPassword(context.Background(), usecase.AppPasswordSignIn{Caller: caller, Username: "alice", Password: plain})
			// then no session is recorded, and the error says why
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if n := len(w.events(aliceID)); n != before {
				t.Fatalf("%d events recorded", n-before)
			}
		})
	}
}

func TestAppPasswordRevokedWhileMintingSignsNothingIn(t *testing.T) {
	t.Parallel()
	// given alice's app password, revoked while Jellyfin mints the session
	w, jf := newGateWorld(t)
	ctx := context.Background()
	plain := givenAppPassword(t, w, aliceID, "alice", "TV")
	id, _, _ := domain.ParseAppPassword(plain)
	jf.whileMint = func() {
		if _, err := w.proj.ExecUser(ctx, aliceID, events.Context{Actor: aliceID}, func(*domain.User, time.Time) ([]events.Payload, error) {
			return []events.Payload{&events.AppPasswordRevoked{ID: id}}, nil
		}); err != nil {
			t.Error(err)
		}
	}
	// when the TV signs in with it
	_, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: "alice", Password: plain})
	// then it is refused, no session is recorded, and the minted one is logged out
	if !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	var known bool
	w.proj.Read(func(st *projections.State) { _, known = st.Tokens[usecase.TokenHash("minted-1")] })
	if known {
		t.Fatal("the minted session was recorded")
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "minted-1") })
}
