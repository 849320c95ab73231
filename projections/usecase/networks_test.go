package usecase_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

// atHome is a caller inside the network alice may sign in from in these tests.
var atHome = usecase.Caller{IP: netip.MustParseAddr("192.0.2.10"), Device: appOnTV.Device}

// refusals are the sign_in_refused events of a user.
func refusals(t *testing.T, w *world, uid string) []*events.SignInRefused {
	t.Helper()
	return payloadsOf[*events.SignInRefused](t, w, uid, events.TypeSignInRefused)
}

func TestSetUserNetworksNormalisesAndRecords(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user jfguard has not seen sign in yet
	w := newWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	// when an administrator sets her networks, by name
	uid, kept, err := w.app.SetUserNetworks(ctx, root, "alice", []string{"2001:db8::7/48", "192.0.2.9/24"})
	if err != nil || !slices.Equal(kept, []string{"192.0.2.0/24", "2001:db8::/48"}) {
		t.Fatalf("kept %v, err %v", kept, err)
	}
	// then she is discovered and held to the list, normalised
	if got := types(w.events(aliceID)); uid != aliceID || !slices.Equal(got, []events.Type{events.TypeUserDiscovered, events.TypeUserNetworksSet}) {
		t.Fatalf("user %s, events %v", uid, got)
	}
	if got := domain.NetworkStrings(w.user(aliceID).Networks); !slices.Equal(got, kept) {
		t.Fatalf("projected networks %v", got)
	}
	set := payloadsOf[*events.UserNetworksSet](t, w, aliceID, events.TypeUserNetworksSet)
	if len(set) != 1 || !slices.Equal(set[0].Networks, kept) {
		t.Fatalf("user_networks_set = %+v", set)
	}
	// An invalid list changes nothing.
	if _, _, err := w.app.SetUserNetworks(ctx, root, aliceID, []string{"192.0.2.0/24", "not-a-network"}); !errors.Is(err, domain.ErrNetworkList) {
		t.Fatalf("invalid list: %v", err)
	}
	// An empty list is anywhere again.
	if _, kept, err := w.app.SetUserNetworks(ctx, root, aliceID, []string{}); err != nil || len(kept) != 0 || len(w.user(aliceID).Networks) != 0 {
		t.Fatalf("cleared: %v, %v", kept, err)
	}
}

func TestEverySignInMethodIsRefusedOutsideTheNetworks(t *testing.T) {
	t.Parallel()
	// given alice, with an authenticator app, a passkey and an app password, who
	// may sign in only from 192.0.2.0/24
	w, _ := newGateWorld(t)
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	enrollTOTP(t, w, aliceID, "alice")
	withPasskey(t, w, aliceID, "alice", phoneKey, 1)
	plain := givenAppPassword(t, w, aliceID, "alice", "TV")
	if _, _, err := w.app.SetUserNetworks(ctx, root, aliceID, []string{"192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}

	// when her right password comes from the internet: refused, no challenge, and
	// Jellyfin's token logged out
	res, raw := authResult(t, aliceID, "alice", "tok-outside")
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if !errors.Is(err, domain.ErrOutsideNetworks) || out.Pass || out.ChallengeID != "" {
		t.Fatalf("password: %+v, %v", out, err)
	}
	if len(w.user(aliceID).Challenges) != 0 {
		t.Fatal("a challenge was issued for a refused sign-in")
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-outside") })

	// her passkey alone and her app password: refused before Jellyfin makes a session
	_, err = w.app.PasskeySignIn(ctx, usecase.PasskeySignInRequest{Caller: internet, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 2, Verified: true}})
	if !errors.Is(err, domain.ErrOutsideNetworks) {
		t.Fatalf("passkey: %v", err)
	}
	_, err = w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: "alice", Password: plain})
	if !errors.Is(err, domain.ErrOutsideNetworks) {
		t.Fatalf("app password: %v", err)
	}
	if w.jf.minted != 0 {
		t.Fatalf("Jellyfin minted %d sessions for refused sign-ins", w.jf.minted)
	}

	// Quick Connect's token for a TV outside: refused and logged out, even though
	// she authorized the code
	qc, _ := authResult(t, aliceID, "alice", "tok-qc")
	err = w.app.DecideQuickConnectSignIn(ctx, usecase.QuickConnectSignIn{Caller: appOnTV, Result: qc, AuthorizedBy: aliceID})
	if !errors.Is(err, domain.ErrOutsideNetworks) || !errors.Is(err, usecase.ErrSessionRefused) {
		t.Fatalf("quick connect: %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "tok-qc") })

	// then each refusal is recorded with its method and address, and nothing was
	// let through
	var got []string
	for _, r := range refusals(t, w, aliceID) {
		if r.Reason != domain.RefusedNetwork || r.Rule != domain.NetworkRuleUser {
			t.Errorf("refusal %+v", r)
		}
		got = append(got, r.Method+"@"+r.Address)
	}
	want := []string{"password@203.0.113.9", "passkey@203.0.113.9", "app_password@203.0.113.20", "quick_connect@203.0.113.20"}
	if !slices.Equal(got, want) {
		t.Fatalf("refusals %v; want %v", got, want)
	}
	if n := len(w.user(aliceID).Sessions); n != 0 {
		t.Fatalf("%d sessions after refused sign-ins", n)
	}

	// and from inside, each method works
	res, raw = authResult(t, aliceID, "alice", "tok-home")
	if out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: atHome, Result: res, Raw: raw, Web: true}); err != nil || out.ChallengeID == "" {
		t.Fatalf("password at home: %+v, %v", out, err)
	}
	if _, err := w.app.PasskeySignIn(ctx, usecase.PasskeySignInRequest{Caller: atHome, UserID: aliceID,
		Assertion: domain.PasskeyAssertion{CredentialID: phoneKey, SignCount: 2, Verified: true}}); err != nil {
		t.Fatalf("passkey at home: %v", err)
	}
	if _, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: atHome, Username: "alice", Password: plain}); err != nil {
		t.Fatalf("app password at home: %v", err)
	}
	qc, _ = authResult(t, aliceID, "alice", "tok-qc-home")
	if err := w.app.DecideQuickConnectSignIn(ctx, usecase.QuickConnectSignIn{Caller: atHome, Result: qc, AuthorizedBy: aliceID}); err != nil {
		t.Fatalf("quick connect at home: %v", err)
	}
}

func TestAdminNetworksHoldAdministratorsOnly(t *testing.T) {
	t.Parallel()
	// given administrators may sign in only from 192.0.2.0/24
	w, _ := newGateWorld(t)
	ctx := context.Background()
	w.policy.AdminNetworks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}

	// when an administrator's right password comes from the internet: refused
	res, raw := authResult(t, bobID, "bob", "tok-bob")
	res.User.Policy.IsAdministrator = true
	if _, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw}); !errors.Is(err, domain.ErrOutsideNetworks) {
		t.Fatalf("administrator from the internet: %v", err)
	}
	if r := refusals(t, w, bobID); len(r) != 1 || r[0].Rule != domain.NetworkRuleAdmins {
		t.Fatalf("refusals %+v", r)
	}
	// but a user's is not
	res, raw = authResult(t, aliceID, "alice", "tok-alice")
	if out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw}); err != nil || !out.Pass {
		t.Fatalf("user from the internet: %+v, %v", out, err)
	}

	// A user jfguard knows as no administrator, whom Jellyfin has made one since,
	// signing in with an app password: Jellyfin's word decides, and the session it
	// made is logged out.
	w.jf.addUser(carolID, "carol", true)
	plain := givenAppPassword(t, w, carolID, "carol", "TV")
	if _, err := w.app.SignInWithAppPassword(ctx, usecase.AppPasswordSignIn{Caller: appOnTV, Username: "carol", Password: plain}); !errors.Is(err, domain.ErrOutsideNetworks) {
		t.Fatalf("new administrator's app password: %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(w.jf.loggedOutTokens(), "minted-1") })
	if u := w.user(carolID); len(u.Sessions) != 0 {
		t.Fatalf("sessions %v", u.Sessions)
	}
}
