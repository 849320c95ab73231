package jellyfin

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sj14/jellyfin-go/api"
)

// newAPIClient returns the generated Jellyfin Go client pointed at the
// fixture, sending the given Authorization header on every request.
func newAPIClient(f *fixture, authorization string) *api.APIClient {
	cfg := api.NewConfiguration()
	cfg.Servers = api.ServerConfigurations{{URL: f.ts.URL}}
	cfg.HTTPClient = f.ts.Client()
	cfg.AddDefaultHeader("Authorization", authorization)
	return api.NewAPIClient(cfg)
}

// TestRealClient drives the stand-in with github.com/sj14/jellyfin-go, a
// client generated from Jellyfin's OpenAPI document whose decoders refuse
// unknown UserPolicy fields and missing required ones, through sign-in,
// the current user, Quick Connect and logout.
func TestRealClient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := newFixture(t, Options{QuickConnect: true, ServerName: "Living Room"})
	const device = `MediaBrowser Client="jellyfin-go", Device="CI", DeviceId="client-test", Version="0.4.4"`
	anon := newAPIClient(f, device)

	info, _, err := anon.SystemAPI.GetPublicSystemInfo(ctx).Execute()
	if err != nil {
		t.Fatalf("GetPublicSystemInfo: %v", err)
	}
	if info.GetId() != f.srv.ServerID() || info.GetServerName() != "Living Room" || info.GetVersion() != "12.0.0" {
		t.Errorf("public info %+v", info)
	}

	byName := api.AuthenticateUserByName{
		Username: *api.NewNullableString(api.PtrString("alice")),
		Pw:       *api.NewNullableString(api.PtrString(alicePassword)),
	}
	auth, _, err := anon.UserAPI.AuthenticateUserByName(ctx).AuthenticateUserByName(byName).Execute()
	if err != nil {
		t.Fatalf("AuthenticateUserByName: %v", err)
	}
	user := auth.GetUser()
	session := auth.GetSessionInfo()
	if user.GetId() != f.alice.ID || session.GetClient() != "jellyfin-go" || session.GetDeviceId() != "client-test" || auth.GetAccessToken() == "" {
		t.Fatalf("authentication result: user %s, session %s/%s", user.GetId(), session.GetClient(), session.GetDeviceId())
	}

	wrong := byName
	wrong.Pw = *api.NewNullableString(api.PtrString("wrong"))
	_, res, err := anon.UserAPI.AuthenticateUserByName(ctx).AuthenticateUserByName(wrong).Execute()
	if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %v", err)
	}

	alice := newAPIClient(f, `MediaBrowser Client="jellyfin-go", Device="CI", DeviceId="client-test", Version="0.4.4", Token="`+auth.GetAccessToken()+`"`)
	me, _, err := alice.UserAPI.GetCurrentUser(ctx).Execute()
	if err != nil {
		t.Fatalf("GetCurrentUser: %v", err)
	}
	if me.GetName() != "alice" {
		t.Errorf("current user %q", me.GetName())
	}

	enabled, _, err := anon.QuickConnectAPI.GetQuickConnectEnabled(ctx).Execute()
	if err != nil || !enabled {
		t.Fatalf("GetQuickConnectEnabled: %v %v", enabled, err)
	}
	tv := newAPIClient(f, `MediaBrowser Client="jellyfin-go TV", Device="TV", DeviceId="client-tv", Version="0.4.4"`)
	qc, _, err := tv.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
	if err != nil {
		t.Fatalf("InitiateQuickConnect: %v", err)
	}
	ok, _, err := alice.QuickConnectAPI.AuthorizeQuickConnect(ctx).Code(qc.GetCode()).Execute()
	if err != nil || !ok {
		t.Fatalf("AuthorizeQuickConnect: %v %v", ok, err)
	}
	state, _, err := tv.QuickConnectAPI.GetQuickConnectState(ctx).Secret(qc.GetSecret()).Execute()
	if err != nil || !state.GetAuthenticated() {
		t.Fatalf("GetQuickConnectState: %v", err)
	}
	tvAuth, _, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
	if err != nil {
		t.Fatalf("AuthenticateWithQuickConnect: %v", err)
	}
	tvUser := tvAuth.GetUser()
	tvSession := tvAuth.GetSessionInfo()
	if tvUser.GetId() != f.alice.ID || tvSession.GetDeviceId() != "client-tv" || !f.srv.TokenActive(tvAuth.GetAccessToken()) {
		t.Errorf("quick connect result: user %s device %s", tvUser.GetId(), tvSession.GetDeviceId())
	}

	if _, err := alice.SessionAPI.ReportSessionEnded(ctx).Execute(); err != nil {
		t.Fatalf("ReportSessionEnded: %v", err)
	}
	if f.srv.TokenActive(auth.GetAccessToken()) {
		t.Error("the token is live after logout")
	}
	if _, res, err := alice.UserAPI.GetCurrentUser(ctx).Execute(); err == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GetCurrentUser after logout: %v", err)
	}
	if !f.srv.TokenActive(tvAuth.GetAccessToken()) {
		t.Error("logging out one session ended another")
	}
}
