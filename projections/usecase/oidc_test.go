package usecase_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

func TestOIDCSignInMintsASessionForAUserJellyfinHas(t *testing.T) {
	t.Parallel()
	// given a Jellyfin user jfguard has not seen yet
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	// when a provider vouches for "Alice" (names match as Jellyfin matches them)
	auth, err := w.app.OIDCSignIn(context.Background(), usecase.OIDCSignInRequest{Caller: internet, Identity: domain.OIDCIdentity{UserName: "Alice"}})
	// then Jellyfin made a session for the app, recorded as an OIDC sign-in at aal1
	if err != nil || !strings.Contains(string(auth), "minted-1") {
		t.Fatalf("auth = %s, err = %v", auth, err)
	}
	s := w.user(aliceID).Sessions[usecase.TokenHash("minted-1")]
	if s == nil || s.Reason != domain.ReasonOIDC || s.Assurance != domain.AssuranceAAL1 {
		t.Fatalf("session = %+v", s)
	}
}

func TestOIDCSignInRefusesWithoutJellyfinAsking(t *testing.T) {
	t.Parallel()
	// given alice, with a passkey as her second factor
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	withPasskey(t, w, aliceID, "alice", phoneKey, 0)
	for _, tc := range []struct {
		name string
		id   domain.OIDCIdentity
		want error
	}{
		{"a name Jellyfin does not have", domain.OIDCIdentity{UserName: "mallory"}, usecase.ErrOIDCNoUser},
		{"a provider that checked no second factor", domain.OIDCIdentity{UserName: "alice"}, domain.ErrOIDCSecondFactor},
	} {
		// when a provider vouches for them
		_, err := w.app.OIDCSignIn(context.Background(), usecase.OIDCSignInRequest{Caller: internet, Identity: tc.id})
		// then it is refused before Jellyfin is asked for a session
		if !errors.Is(err, tc.want) || w.jf.minted != 0 {
			t.Fatalf("%s: err = %v, minted %d", tc.name, err, w.jf.minted)
		}
	}
	// and both refusals are recorded against the address
	var n int
	for _, ev := range w.events(w.app.AddressKey(internet.IP)) {
		if ev.Type == events.TypeSignInFailed {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d sign_in_failed; want 2", n)
	}
	// when the provider did check one, she is signed in at aal2
	if _, err := w.app.OIDCSignIn(context.Background(), usecase.OIDCSignInRequest{Caller: internet, Identity: domain.OIDCIdentity{UserName: "alice", SecondFactor: true}}); err != nil {
		t.Fatal(err)
	}
	got := types(w.events(aliceID))
	if !slices.Equal(got[len(got)-2:], []events.Type{events.TypeFactorVerified, events.TypeSessionVerified}) {
		t.Fatalf("events = %v", got)
	}
	if s := w.user(aliceID).Sessions[usecase.TokenHash("minted-1")]; s == nil || s.Assurance != domain.AssuranceAAL2 {
		t.Fatalf("session = %+v", s)
	}
}

func TestOIDCSignInHoldsToTheNetworkAllowlist(t *testing.T) {
	t.Parallel()
	// given bob, who needs no second factor and may sign in only from 192.0.2.0/24
	w := newWorld(t)
	ctx := context.Background()
	w.jf.addUser(bobOIDC, "bob", false)
	if _, _, err := w.app.SetUserNetworks(ctx, root, bobOIDC, []string{"192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	// when a provider vouches for him from the internet
	_, err := w.app.OIDCSignIn(ctx, usecase.OIDCSignInRequest{Caller: internet, Identity: domain.OIDCIdentity{UserName: "bob"}})
	// then it is refused before Jellyfin makes a session, and recorded as the network's refusal
	if !errors.Is(err, domain.ErrOutsideNetworks) {
		t.Fatalf("OIDC from outside: %v", err)
	}
	if w.jf.minted != 0 {
		t.Fatalf("Jellyfin minted %d sessions for a refused sign-in", w.jf.minted)
	}
	rs := refusals(t, w, bobOIDC)
	if len(rs) != 1 || rs[0].Method != domain.SignInOIDC || rs[0].Reason != domain.RefusedNetwork {
		t.Fatalf("refusals = %+v", rs)
	}
	// and from inside it works
	if _, err := w.app.OIDCSignIn(ctx, usecase.OIDCSignInRequest{Caller: atHome, Identity: domain.OIDCIdentity{UserName: "bob"}}); err != nil {
		t.Fatalf("OIDC at home: %v", err)
	}
}

const bobOIDC = "b0b0000000000000000000000000000e"
