package usecase_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/jfguard/jfguard/projections/usecase/geo"
	"github.com/jfguard/jfguard/projections/usecase/geo/geotest"
)

// withGeo rebuilds the world's use cases with a test geolocation database (Berlin,
// Sydney, Potsdam).
func withGeo(t *testing.T, w *world) {
	t.Helper()
	db, err := geo.Open(geotest.Write(t, geotest.Default))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	w.app = usecase.New(usecase.Deps{
		Projector: w.proj, Sealer: w.sealer, Jellyfin: w.jf,
		Policy: func() domain.Policy { return w.policy },
		Clock:  w.clock.Now, Geo: db,
	})
}

// aliceSignsInFrom signs alice in from ip (Jellyfin accepted her password) and returns
// the event types the sign-in added to her stream.
func aliceSignsInFrom(t *testing.T, w *world, ip, token string) (usecase.SignInResult, []events.Event) {
	t.Helper()
	before := len(w.events(aliceID))
	res, raw := authResult(t, aliceID, "alice", token)
	caller := internet
	caller.IP = netip.MustParseAddr(ip)
	out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: caller, Result: res, Raw: raw, Web: true})
	if err != nil {
		t.Fatal(err)
	}
	return out, w.events(aliceID)[before:]
}

func payloadOf[T events.Payload](t *testing.T, evs []events.Event, typ events.Type) T {
	t.Helper()
	for _, ev := range evs {
		if ev.Type == typ {
			p, err := events.Decode(ev)
			if err != nil {
				t.Fatal(err)
			}
			return p.(T)
		}
	}
	var zero T
	t.Fatalf("no %s in %v", typ, types(evs))
	return zero
}

func TestSignInFromANewNetworkIsRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// given alice's first sign-in: no history, no alert
	if _, evs := aliceSignsInFrom(t, w, "203.0.113.9", "tok-1"); slices.Contains(types(evs), events.TypeNewLocation) {
		t.Fatalf("first sign-in: %v", types(evs))
	}
	// when she signs in from the same /24 again, nothing is new
	if _, evs := aliceSignsInFrom(t, w, "203.0.113.200", "tok-2"); slices.Contains(types(evs), events.TypeNewLocation) {
		t.Fatalf("same network: %v", types(evs))
	}
	// when she signs in from another network (no database: no place)
	_, evs := aliceSignsInFrom(t, w, "2001:db8:7:1::5", "tok-3")
	if got := payloadOf[*events.NewLocation](t, evs, events.TypeNewLocation); got.Network != "2001:db8:7::/48" || got.City != "" {
		t.Fatalf("new_location = %+v", got)
	}
	// and it is in the same command as the session it reports, with its address
	if evs[len(evs)-1].IP != "2001:db8:7:1::5" || evs[len(evs)-1].Cmd == nil {
		t.Fatalf("envelope = %+v", evs[len(evs)-1])
	}
	// then the network is known: the next /48 sign-in is quiet
	if _, evs := aliceSignsInFrom(t, w, "2001:db8:7:2::9", "tok-4"); slices.Contains(types(evs), events.TypeNewLocation) {
		t.Fatalf("known network: %v", types(evs))
	}
}

func TestBerlinThenSydneyIsImpossibleTravel(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	withGeo(t, w)
	aliceSignsInFrom(t, w, "192.0.2.10", "tok-1")
	w.clock.Add(20 * time.Minute)
	_, evs := aliceSignsInFrom(t, w, "198.51.100.20", "tok-2")
	if got := payloadOf[*events.NewLocation](t, evs, events.TypeNewLocation); got.City != "Sydney" || got.Country != "Australia" {
		t.Fatalf("new_location = %+v", got)
	}
	trip := payloadOf[*events.ImpossibleTravel](t, evs, events.TypeImpossibleTravel)
	if trip.FromCity != "Berlin" || trip.ToCity != "Sydney" || trip.ElapsedSeconds != 1200 || trip.SpeedKmh < 40000 {
		t.Fatalf("impossible_travel = %+v", trip)
	}
	// Potsdam, next to Berlin, a day later: a new network, no travel alarm.
	w.clock.Add(24 * time.Hour)
	_, evs = aliceSignsInFrom(t, w, "203.0.113.5", "tok-3")
	if got := types(evs); !slices.Contains(got, events.TypeNewLocation) || slices.Contains(got, events.TypeImpossibleTravel) {
		t.Fatalf("Potsdam: %v", got)
	}
}

func TestChallengeCompletedFromANewNetworkIsRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	signInOnce := func(ip, token string) []events.Event {
		out, _ := aliceSignsInFrom(t, w, ip, token)
		before := len(w.events(aliceID))
		caller := internet
		caller.IP = netip.MustParseAddr(ip)
		if _, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: caller, ChallengeID: out.ChallengeID,
			Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())}}); err != nil {
			t.Fatal(err)
		}
		w.clock.Add(30 * time.Second)
		return w.events(aliceID)[before:]
	}
	signInOnce("203.0.113.9", "tok-1")
	evs := signInOnce("198.51.100.7", "tok-2")
	if got := types(evs); !slices.Contains(got, events.TypeSessionVerified) || !slices.Contains(got, events.TypeNewLocation) {
		t.Fatalf("challenge from a new network: %v", got)
	}
}

func TestNewLocationPolicyChallengesATrustedBrowser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.policy.NewLocationSecondFactor = true
	ctx := context.Background()
	secret := enrollTOTP(t, w, aliceID, "alice")
	// alice signs in at home and trusts the browser
	out, _ := aliceSignsInFrom(t, w, "203.0.113.9", "tok-1")
	done, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID, TrustBrowser: true, DeviceID: internet.Device.ID, BrowserName: "Firefox",
		Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())}})
	if err != nil || done.TrustCookie == "" {
		t.Fatalf("verify: %v, %+v", err, done)
	}
	var b *domain.Browser
	for _, v := range w.user(aliceID).Browsers {
		b = v
	}
	trust := &usecase.PresentedTrust{UserID: aliceID, BrowserID: b.ID, SecretHash: b.SecretHash}
	sign := func(ip, token string) usecase.SignInResult {
		res, raw := authResult(t, aliceID, "alice", token)
		caller := internet
		caller.IP = netip.MustParseAddr(ip)
		out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: caller, Result: res, Raw: raw, Web: true, Trust: trust})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// from a new network the trusted browser is asked for the factor
	if out := sign("198.51.100.7", "tok-2"); out.Pass {
		t.Fatalf("new network passed: %+v", out)
	}
	// from home it still skips it
	if out := sign("203.0.113.50", "tok-3"); !out.Pass || out.Reason != domain.ReasonTrustedBrowser {
		t.Fatalf("home: %+v", out)
	}
}
