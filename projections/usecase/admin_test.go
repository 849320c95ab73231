package usecase_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

const bobID = "b0b00000000000000000000000000002"

// root is the admin token: the root credential, with no session.
var root = usecase.Admin{}

// jellyfinWithDevices is the fake Jellyfin with sessions signed in before jfguard
// was installed, as its device list shows them to the admin key.
type jellyfinWithDevices struct {
	*fakeJellyfin
	devices []upstream.DeviceSession
}

func (j jellyfinWithDevices) Devices(context.Context) ([]upstream.DeviceSession, error) {
	return j.devices, nil
}

// adminApp is the world's use cases on another Jellyfin, with the event stream the
// subscriber commands append to.
func adminApp(w *world, jf usecase.Jellyfin) *usecase.Service {
	return usecase.New(usecase.Deps{
		Projector: w.proj, Store: w.store, Sealer: w.sealer, Jellyfin: jf,
		Policy: func() domain.Policy { return w.policy }, Clock: w.clock.Now,
	})
}

// signInWithTOTP signs a user with an authenticator app in from the internet with
// token, completing the challenge: a session with a recent second factor.
func signInWithTOTP(t *testing.T, w *world, uid, name, token string) {
	t.Helper()
	ctx := context.Background()
	secret := enrollTOTP(t, w, uid, name)
	res, raw := authResult(t, uid, name, token)
	out, err := w.app.DecideSignIn(ctx, usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true})
	if err != nil || out.ChallengeID == "" {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
	if _, err := w.app.VerifyChallenge(ctx, usecase.VerifyRequest{Caller: internet, ChallengeID: out.ChallengeID,
		Proof: domain.FactorProof{Method: domain.MethodTOTP, Code: totpCode(t, secret, w.clock.Now())}}); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// signIn signs a user without a second factor in with token.
func signIn(t *testing.T, w *world, uid, name, token string) {
	t.Helper()
	res, raw := authResult(t, uid, name, token)
	if out, err := w.app.DecideSignIn(context.Background(), usecase.SignInRequest{Caller: internet, Result: res, Raw: raw, Web: true}); err != nil || !out.Pass {
		t.Fatalf("sign-in: %+v, %v", out, err)
	}
}

func TestAdminSessionMustHaveARecentFactorToChangeState(t *testing.T) {
	t.Parallel()
	// given an administrator signed in with her authenticator app
	w := newWorld(t)
	ctx := context.Background()
	signInWithTOTP(t, w, aliceID, "alice", "tok-admin")
	admin := usecase.Admin{UserID: aliceID, TokenHash: usecase.TokenHash("tok-admin"), Caller: internet}
	// when she changes something at once, she may
	if err := w.app.AuthorizeAdmin(ctx, admin); err != nil {
		t.Fatalf("a recent factor was refused: %v", err)
	}
	// when the step-up window has passed
	w.clock.Add(w.policy.StepUpDuration() + time.Minute)
	before := len(w.events(aliceID))
	err := w.app.AuthorizeAdmin(ctx, admin)
	// then she is asked to step up, and the refusal is recorded on her account
	var su *domain.StepUpError
	if !errors.As(err, &su) || su.Action != domain.ActionAdmin {
		t.Fatalf("err = %v, want a step-up refusal for %s", err, domain.ActionAdmin)
	}
	evs := w.events(aliceID)
	if len(evs) != before+1 || evs[len(evs)-1].Type != events.TypeStepUpRequired || evs[len(evs)-1].IP != internet.IPString() {
		t.Fatalf("events = %v", types(evs[before:]))
	}
	// and the admin token, which has no session, is not asked
	if err := w.app.AuthorizeAdmin(ctx, root); err != nil {
		t.Fatalf("the admin token was refused: %v", err)
	}
}

func TestResetUserSignsOutEverywhereAndRecordsTheReset(t *testing.T) {
	t.Parallel()
	// given a user signed in
	w := newWorld(t)
	ctx := context.Background()
	signIn(t, w, bobID, "bob", "tok-bob")
	// when an administrator resets the account, named by its name
	uid, err := w.app.FindUser("bob")
	if err != nil || uid != bobID {
		t.Fatalf("find: %q, %v", uid, err)
	}
	r, err := w.app.ResetUser(ctx, root, uid, "lost phone")
	// then the reset and the revocation are recorded by the administrator, the
	// session is gone and its token logged out at Jellyfin
	if err != nil || len(r.Tokens) != 1 {
		t.Fatalf("revocation = %+v, err = %v", r, err)
	}
	evs := w.events(bobID)
	got := types(evs[len(evs)-2:])
	if want := []events.Type{events.TypeUserReset, events.TypeSignedOutEverywhere}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if evs[len(evs)-1].Actor != usecase.ActorAdmin {
		t.Fatalf("actor = %q", evs[len(evs)-1].Actor)
	}
	if u := w.user(bobID); len(u.Sessions) != 0 {
		t.Fatalf("sessions after the reset: %v", u.Sessions)
	}
	if !slices.Contains(w.jf.loggedOutTokens(), "tok-bob") {
		t.Fatalf("logged out: %v", w.jf.loggedOutTokens())
	}
	// and a user jfguard does not know is not found
	if _, err := w.app.FindUser("carol"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("find carol: %v", err)
	}
}

func TestForgetUserDestroysTheDataKeyAfterSigningOut(t *testing.T) {
	t.Parallel()
	// given a user signed in, whose token jfguard holds sealed
	w := newWorld(t)
	ctx := context.Background()
	signIn(t, w, bobID, "bob", "tok-bob")
	sealed := w.user(bobID).Sessions[usecase.TokenHash("tok-bob")].Token
	if _, err := w.sealer.Open(ctx, bobID, sealed); err != nil {
		t.Fatalf("the token cannot be opened before: %v", err)
	}
	// when an administrator forgets the user
	if err := w.app.ForgetUser(ctx, root, bobID, "left"); err != nil {
		t.Fatal(err)
	}
	// then the token was logged out while it could be unsealed, the user is
	// forgotten, and nothing sealed for the user opens any more
	if !slices.Contains(w.jf.loggedOutTokens(), "tok-bob") {
		t.Fatalf("logged out: %v", w.jf.loggedOutTokens())
	}
	if u := w.user(bobID); !u.Forgotten {
		t.Fatal("the user is not forgotten")
	}
	if _, err := w.sealer.Open(ctx, bobID, sealed); err == nil {
		t.Fatal("a sealed value still opens after the data key was destroyed")
	}
}

func TestRevokeUserEverywhereKeepsFactors(t *testing.T) {
	t.Parallel()
	// given a user with an authenticator app, signed in
	w := newWorld(t)
	ctx := context.Background()
	signInWithTOTP(t, w, aliceID, "alice", "tok-a")
	// when an administrator revokes everything
	r, err := w.app.RevokeUserEverywhere(ctx, root, aliceID, "offboarding")
	// then the session ends and the reason is the administrator's, but the factor stays
	if err != nil || len(r.Tokens) != 1 {
		t.Fatalf("revocation = %+v, err = %v", r, err)
	}
	u := w.user(aliceID)
	if len(u.Sessions) != 0 || !u.HasSecondFactor() {
		t.Fatalf("sessions %d, second factor %v", len(u.Sessions), u.HasSecondFactor())
	}
	var done *events.SignedOutEverywhere
	for _, ev := range w.events(aliceID) {
		if ev.Type == events.TypeSignedOutEverywhere {
			p, err := events.Decode(ev)
			if err != nil {
				t.Fatal(err)
			}
			done = p.(*events.SignedOutEverywhere)
		}
	}
	if done == nil || done.Reason != domain.RevokeByAdmin || done.Note != "offboarding" {
		t.Fatalf("signed_out_everywhere = %+v", done)
	}
}

func TestBanAndUnbanABlock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	// when an administrator bans an IPv6 address
	b, err := w.app.Ban(ctx, root, "2001:db8:1:2::7", time.Hour, "")
	// then its /64 is banned, by default reason, and listed
	if err != nil || b.Input != "2001:db8:1:2::7" || b.Prefix != "2001:db8:1:2::/64" {
		t.Fatalf("ban = %+v, err = %v", b, err)
	}
	bans := w.app.Bans()
	if len(bans) != 1 || bans[0].Prefix != "2001:db8:1:2::/64" || bans[0].Reason == "" || !bans[0].Until.Equal(w.clock.Now().Add(time.Hour)) {
		t.Fatalf("bans = %+v", bans)
	}
	// and another address of the block is banned too
	var banned bool
	other := netip.MustParseAddr("2001:db8:1:2::99")
	w.proj.Read(func(st *projections.State) {
		banned = st.Addresses[w.app.AddressKey(other)].Banned(w.clock.Now())
	})
	if !banned {
		t.Fatal("another address of the block is not banned")
	}
	// when the ban is lifted by the prefix
	u, err := w.app.Unban(ctx, root, "2001:db8:1:2::/64", "false alarm")
	// then the block is free
	if err != nil || u.Prefix != "2001:db8:1:2::/64" || len(w.app.Bans()) != 0 {
		t.Fatalf("unban = %+v, err = %v, bans = %+v", u, err, w.app.Bans())
	}
	// and lifting it again finds nothing to lift
	if _, err := w.app.Unban(ctx, root, "2001:db8:1:2::7", ""); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second unban: %v", err)
	}
	// and an IPv4 prefix is refused: IPv4 clients are counted one by one
	if _, err := w.app.Ban(ctx, root, "192.0.2.0/24", 0, ""); !errors.Is(err, domain.ErrBanTarget) {
		t.Fatalf("ban of a /24: %v", err)
	}
}

func TestSetSettingRecordsOnlyAChange(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	// when an administrator sets a new value
	changed, err := w.app.SetSetting(ctx, root, "security.ban_threshold", "20", "5")
	// then it is recorded, and the projection holds it
	if err != nil || !changed {
		t.Fatalf("changed = %v, err = %v", changed, err)
	}
	var v string
	w.proj.Read(func(st *projections.State) { v = st.Settings["security.ban_threshold"] })
	if v != "5" {
		t.Fatalf("setting = %q", v)
	}
	// when the same value is set again, nothing is recorded
	before := len(w.events("settings"))
	if changed, err := w.app.SetSetting(ctx, root, "security.ban_threshold", "5", "5"); err != nil || changed {
		t.Fatalf("changed = %v, err = %v", changed, err)
	}
	if after := len(w.events("settings")); after != before {
		t.Fatalf("%d settings events after an unchanged value, want %d", after, before)
	}
}

func TestAdoptSessionsOnceUnlessForced(t *testing.T) {
	t.Parallel()
	// given Jellyfin sessions from before jfguard, one of a user it never met
	w := newWorld(t)
	ctx := context.Background()
	jf := jellyfinWithDevices{fakeJellyfin: w.jf, devices: []upstream.DeviceSession{
		{AccessToken: "tok-tv", ID: "tv-1", Name: "TV", AppName: "Jellyfin Android TV", LastUserID: bobID, LastUser: "bob"},
		{AccessToken: "", ID: "no-token", LastUserID: bobID},
	}}
	app := adminApp(w, jf)
	// when an administrator adopts them
	n, err := app.AdoptSessions(ctx, root, false)
	// then the session is verified, the user discovered, and the adoption recorded
	if err != nil || n != 1 {
		t.Fatalf("adopted %d, err = %v", n, err)
	}
	if got, want := types(w.events(bobID)), []events.Type{events.TypeUserDiscovered, events.TypeSessionVerified}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if u := w.user(bobID); u.Sessions[usecase.TokenHash("tok-tv")] == nil || u.Name != "bob" {
		t.Fatalf("user after adoption: %+v", u)
	}
	if got := types(w.events("sessions")); !slices.Equal(got, []events.Type{events.TypeSessionsAdopted}) {
		t.Fatalf("sessions events = %v", got)
	}
	// when adopting again, it is refused
	if _, err := app.AdoptSessions(ctx, root, false); !errors.Is(err, usecase.ErrAlreadyAdopted) {
		t.Fatalf("second adoption: %v", err)
	}
	// and forced, the known session is left as it is
	if n, err := app.AdoptSessions(ctx, root, true); err != nil || n != 0 {
		t.Fatalf("forced adoption: %d, %v", n, err)
	}
}

func TestPreapprovedDeviceCanBeRevoked(t *testing.T) {
	t.Parallel()
	// given a user
	w := newWorld(t)
	ctx := context.Background()
	signIn(t, w, bobID, "bob", "tok-bob")
	// when an administrator approves the TV before it signs in
	ok, err := w.app.PreapproveDevice(ctx, root, bobID, usecase.Device{ID: "tv-1", Client: "Jellyfin Android TV", Name: "TV"})
	// then its pairing is approved for the pairing window
	if err != nil || ok.PairingID == "" || !ok.Until.Equal(w.clock.Now().Add(w.policy.PairingWindow)) {
		t.Fatalf("preapproved = %+v, err = %v", ok, err)
	}
	if p := w.user(bobID).Pairings[ok.PairingID]; p == nil || p.Status != domain.PairingApproved || p.DeviceID != "tv-1" {
		t.Fatalf("pairing = %+v", p)
	}
	// when the administrator revokes it
	if err := w.app.RevokeUserDevice(ctx, root, bobID, ok.PairingID); err != nil {
		t.Fatal(err)
	}
	// then it is gone, and revoking it again finds nothing
	if p := w.user(bobID).Pairings[ok.PairingID]; p != nil {
		t.Fatalf("pairing after revocation: %+v", p)
	}
	if got := types(w.events(bobID)); got[len(got)-1] != events.TypeDeviceRevoked {
		t.Fatalf("events = %v", got)
	}
	if err := w.app.RevokeUserDevice(ctx, root, bobID, ok.PairingID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second revocation: %v", err)
	}
}

func TestReleasePasswordHoldNeedsSomethingToRelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	// given a user whose password step counts nothing
	signIn(t, w, bobID, "bob", "tok-bob")
	// when an administrator releases it, there is nothing to release
	if err := w.app.ReleasePasswordHold(ctx, root, bobID, ""); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("release of nothing: %v", err)
	}
	// given a wrong password
	w.jf.addUser(bobID, "bob", false)
	a, err := w.app.BeginPassword(ctx, internet, "bob", "", true)
	if err != nil {
		t.Fatal(err)
	}
	a.Rejected(ctx, "wrong password")
	a.End()
	// when it is released, the release is recorded and the count is gone
	if err := w.app.ReleasePasswordHold(ctx, root, bobID, "checked at Jellyfin"); err != nil {
		t.Fatal(err)
	}
	if got := types(w.events(bobID)); got[len(got)-1] != events.TypePasswordHoldReleased {
		t.Fatalf("events = %v", got)
	}
	if u := w.user(bobID); u.Password.Consecutive != 0 {
		t.Fatalf("wrong passwords after the release: %d", u.Password.Consecutive)
	}
}

func TestSubscribersAreAddedOnceAndRemoved(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	app := adminApp(w, w.jf)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	// when a subscriber is added
	sub, err := app.AddSubscriber(ctx, root, "siem", pub)
	// then the projection holds it at once
	if err != nil || sub.Name != "siem" || sub.PublicKey != pub {
		t.Fatalf("subscriber = %+v, err = %v", sub, err)
	}
	// and the same name again is refused
	if _, err := app.AddSubscriber(ctx, root, "siem", pub); !errors.Is(err, domain.ErrSubscriberExists) {
		t.Fatalf("second add: %v", err)
	}
	// when it is removed, it is gone; removing it again finds nothing
	if err := app.RemoveSubscriber(ctx, root, "siem"); err != nil {
		t.Fatal(err)
	}
	var left int
	w.proj.Read(func(st *projections.State) { left = len(st.Subscribers) })
	if left != 0 {
		t.Fatalf("%d subscribers after the removal", left)
	}
	if err := app.RemoveSubscriber(ctx, root, "siem"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second removal: %v", err)
	}
}
