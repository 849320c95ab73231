package usecase_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections/usecase"
)

// gateJellyfin is the fake Jellyfin of the gate's use cases: besides what
// fakeJellyfin does, it says whose token is which (/Users/Me), can refuse to mint a
// session, runs a hook while minting one, and remembers the Quick Connect codes it
// authorized.
type gateJellyfin struct {
	*fakeJellyfin
	mu         sync.Mutex
	owners     map[string]upstream.User // token → its user
	meErr      error                    // Me's answer for a token no user owns; 401 when nil
	mintErr    error
	whileMint  func()
	qcErr      error
	authorized []string
}

func (g *gateJellyfin) Me(_ context.Context, token string) (upstream.User, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u, ok := g.owners[token]; ok {
		return u, nil
	}
	if g.meErr != nil {
		return upstream.User{}, g.meErr
	}
	return upstream.User{}, &upstream.StatusError{Status: http.StatusUnauthorized}
}

func (g *gateJellyfin) MintSession(ctx context.Context, userID, client, device, deviceID, version string) ([]byte, upstream.AuthResult, error) {
	g.mu.Lock()
	err, hook := g.mintErr, g.whileMint
	g.mu.Unlock()
	if err != nil {
		return nil, upstream.AuthResult{}, err
	}
	if hook != nil {
		hook()
	}
	return g.fakeJellyfin.MintSession(ctx, userID, client, device, deviceID, version)
}

func (g *gateJellyfin) AuthorizeQuickConnect(_ context.Context, _, code string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.qcErr != nil {
		return g.qcErr
	}
	g.authorized = append(g.authorized, code)
	return nil
}

// owns makes token a session of a Jellyfin user.
func (g *gateJellyfin) owns(token, uid, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := upstream.User{ID: uid, Name: name}
	g.owners[token] = u
}

// newGateWorld is a world whose use cases talk to a gateJellyfin.
func newGateWorld(t *testing.T) (*world, *gateJellyfin) {
	t.Helper()
	w := newWorld(t)
	g := &gateJellyfin{fakeJellyfin: w.jf, owners: map[string]upstream.User{}}
	w.app = usecase.New(usecase.Deps{
		Projector: w.proj, Sealer: w.sealer, Jellyfin: g, Store: w.store,
		Policy:     func() domain.Policy { return w.policy },
		HashParams: domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Clock:      w.clock.Now,
	})
	return w, g
}

// payloadsOf are the decoded payloads of events of one type of a user.
func payloadsOf[T events.Payload](t *testing.T, w *world, uid string, typ events.Type) []T {
	t.Helper()
	var out []T
	for _, ev := range w.events(uid) {
		if ev.Type != typ {
			continue
		}
		p, err := events.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.(T))
	}
	return out
}

const carolID = "ca201000000000000000000000000003"

var fromLAN = usecase.Caller{IP: netip.MustParseAddr("192.168.1.20"), BypassSafe: true,
	Device: events.Device{ID: "tv-1", Name: "Living room TV", Client: "Jellyfin Android TV", Version: "0.18.0"}}

func TestResolvedTokenOfAUserWithoutFactorPassesAndIsKeptSealed(t *testing.T) {
	t.Parallel()
	// given a session carol made at Jellyfin directly, jfguard never saw
	w, jf := newGateWorld(t)
	ctx := context.Background()
	jf.owns("tok-direct", carolID, "carol")
	// when the gate meets its token
	res, err := w.app.ResolveToken(ctx, internet, "tok-direct")
	// then it passes, as carol has no second factor to ask for
	if err != nil || !res.Pass || res.Reason != domain.ReasonNoSecondFactor || res.UserID != carolID {
		t.Fatalf("resolved = %+v, err = %v", res, err)
	}
	// and carol is discovered and the session recorded, with the token sealed for her
	if got, want := types(w.events(carolID)), []events.Type{events.TypeUserDiscovered, events.TypeSessionVerified}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	sv := payloadsOf[*events.SessionVerified](t, w, carolID, events.TypeSessionVerified)[0]
	if plain, err := w.sealer.Open(ctx, carolID, sv.Token); err != nil || string(plain) != "tok-direct" {
		t.Fatalf("sealed token opens to %q, %v", plain, err)
	}
	// and the gate knows the token from now on
	if uid := w.app.VerifiedUser("tok-direct"); uid != carolID {
		t.Fatalf("verified user = %q", uid)
	}
}

func TestResolvedTokenOfAUserWithAFactorIsRefusedUnlessFromTheLAN(t *testing.T) {
	t.Parallel()
	// given alice, who has an authenticator, and a session she made at Jellyfin
	// directly, around her second factor
	w, jf := newGateWorld(t)
	ctx := context.Background()
	enrollTOTP(t, w, aliceID, "alice")
	jf.owns("tok-around", aliceID, "alice")
	before := len(w.events(aliceID))
	// when the gate meets its token from the internet
	res, err := w.app.ResolveToken(ctx, internet, "tok-around")
	// then it is refused and nothing is recorded
	if err != nil || res.Pass {
		t.Fatalf("resolved = %+v, err = %v", res, err)
	}
	if n := len(w.events(aliceID)); n != before {
		t.Fatalf("%d events recorded for a refused token", n-before)
	}
	// when the same token comes from the LAN, which may bypass
	res, err = w.app.ResolveToken(ctx, fromLAN, "tok-around")
	// then it passes for that reason and is recorded
	if err != nil || !res.Pass || res.Reason != domain.ReasonLAN {
		t.Fatalf("from the LAN: resolved = %+v, err = %v", res, err)
	}
	if got := types(w.events(aliceID)); got[len(got)-1] != events.TypeSessionVerified {
		t.Fatalf("events = %v", got)
	}
}

func TestResolvingATokenJellyfinDoesNotNameAUserForSays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		meErr error
		want  error
	}{
		{"not a token of Jellyfin", nil, usecase.ErrTokenNotAccepted},
		{"a token that names no user", &upstream.StatusError{Status: http.StatusBadRequest}, usecase.ErrTokenNamesNoUser},
		{"Jellyfin failing", &upstream.StatusError{Status: http.StatusInternalServerError}, usecase.ErrCannotResolve},
		{"Jellyfin unreachable", errors.New("connection refused"), usecase.ErrCannotResolve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// given a token Jellyfin names no user for
			w, jf := newGateWorld(t)
			jf.meErr = tc.meErr
			// when the gate meets it
			res, err := w.app.ResolveToken(context.Background(), internet, "tok-other")
			// then the error says why, and nothing is recorded
			if !errors.Is(err, tc.want) || res.Pass {
				t.Fatalf("resolved = %+v, err = %v; want %v", res, err, tc.want)
			}
			if evs := w.events(""); len(evs) != 0 {
				t.Fatalf("events = %v", types(evs))
			}
		})
	}
}
