package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sj14/jellyfin-go/api"
)

// TestQuickConnect: a TV signs in with Quick Connect through jfguard, using the real
// Jellyfin client. A code approved from a verified session through jfguard yields a
// working token; a code approved directly at Jellyfin, around jfguard, yields a
// token jfguard refuses and logs out.
func TestQuickConnect(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := g.jellyfinClient(clientHeader("alice-setup", f.token))

	tvHeader := `MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="tv-1", Version="0.18.0"`
	tv := g.jellyfinClient(tvHeader)
	qc, _, err := tv.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
	if err != nil {
		t.Fatalf("InitiateQuickConnect: %v", err)
	}
	g.stepUp(t, f.token, f.secret) // approving a device is an account change
	if ok, _, err := alice.QuickConnectAPI.AuthorizeQuickConnect(ctx).Code(qc.GetCode()).Execute(); err != nil || !ok {
		t.Fatalf("AuthorizeQuickConnect: %v %v", ok, err)
	}
	if state, _, err := tv.QuickConnectAPI.GetQuickConnectState(ctx).Secret(qc.GetSecret()).Execute(); err != nil || !state.GetAuthenticated() {
		t.Fatalf("GetQuickConnectState: %v", err)
	}
	auth, _, err := tv.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc.GetSecret())).Execute()
	if err != nil {
		t.Fatalf("AuthenticateWithQuickConnect: %v", err)
	}
	me, _, err := g.jellyfinClient(tvHeader + `, Token="` + auth.GetAccessToken() + `"`).UserAPI.GetCurrentUser(ctx).Execute()
	if err != nil || me.GetName() != "alice" {
		t.Fatalf("GetCurrentUser with the Quick Connect token: %v", err)
	}

	// Approved at Jellyfin itself, with a session jfguard never saw.
	tv2 := g.jellyfinClient(`MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="tv-2", Version="0.18.0"`)
	qc2, _, err := tv2.QuickConnectAPI.InitiateQuickConnect(ctx).Execute()
	if err != nil {
		t.Fatalf("InitiateQuickConnect: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, g.jfURL+"/Users/AuthenticateByName", jsonBody(t, map[string]string{"Username": "alice", "Pw": alicePassword}))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", clientHeader("around-jfguard", ""))
	var direct authResult
	send(t, req).json(t, &direct)
	req, _ = http.NewRequest(http.MethodPost, g.jfURL+"/QuickConnect/Authorize?code="+qc2.GetCode(), nil)
	req.Header.Set("Authorization", clientHeader("around-jfguard", direct.AccessToken))
	if res := send(t, req); res.status != http.StatusOK {
		t.Fatalf("authorize at Jellyfin: status %d: %s", res.status, res.body)
	}
	// Jellyfin creates the TV's token when the code is approved.
	var tv2Token string
	for _, s := range g.jf.Sessions() {
		if s.DeviceID == "tv-2" {
			tv2Token = s.Token
		}
	}
	if tv2Token == "" {
		t.Fatal("the stand-in made no session for the approved code")
	}
	_, httpRes, err := tv2.UserAPI.AuthenticateWithQuickConnect(ctx).QuickConnectDto(*api.NewQuickConnectDto(qc2.GetSecret())).Execute()
	var apiErr *api.GenericOpenAPIError
	if !errors.As(err, &apiErr) || httpRes.StatusCode != http.StatusUnauthorized || !(reply{body: apiErr.Body()}).fromGate() {
		t.Fatalf("Quick Connect approved around jfguard: %v", err)
	}
	eventually(t, "the token approved around jfguard is logged out", func() bool { return !g.jf.TokenActive(tv2Token) })
	reasons := g.sessionReasons(t)
	if reasons[len(reasons)-1] != "quick_connect" {
		t.Errorf("session reasons %v, want the last one quick_connect", reasons)
	}
}
