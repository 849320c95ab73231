package e2e

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/sj14/jellyfin-go/api"
)

// androidTVClient is the Client value of Jellyfin for Android TV.
const androidTVClient = "Jellyfin for Android TV"

// tvApp is Jellyfin for Android TV on one television. It signs in with the real
// Jellyfin Go client, sending the header the app's Kotlin SDK builds.
type tvApp struct {
	androidID string // Settings.Secure.ANDROID_ID of the television
	device    string
	version   string
}

// deviceIDFor is the DeviceId the app sends: sha1hex("<ANDROID_ID>+<user>"), where
// <user> is the user name at password sign-in and the user id once signed in. So one
// television sends two device ids, and jfguard must classify by token.
func (a tvApp) deviceIDFor(user string) string {
	sum := sha1.Sum([]byte(a.androidID + "+" + user))
	return hex.EncodeToString(sum[:])
}

// header is the Kotlin SDK's Authorization header: fixed key order, every value
// URL-encoded as a path part (a space is %20).
func (a tvApp) header(deviceID, token string) string {
	enc := func(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }
	h := `MediaBrowser Client="` + enc(androidTVClient) + `", Version="` + enc(a.version) +
		`", DeviceId="` + enc(deviceID) + `", Device="` + enc(a.device) + `"`
	if token != "" {
		h += `, Token="` + enc(token) + `"`
	}
	return h
}

// tvSignIn signs a user in from the television with the real client and returns the
// token (empty when refused) and the answer.
func (g *testGateway) tvSignIn(t *testing.T, app tvApp, user, password string) (string, reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := g.jellyfinClient(app.header(app.deviceIDFor(user), ""))
	auth, httpRes, err := client.UserAPI.AuthenticateUserByName(ctx).AuthenticateUserByName(byName(user, password)).Execute()
	if err == nil {
		return auth.GetAccessToken(), reply{status: httpRes.StatusCode, header: httpRes.Header}
	}
	var apiErr *api.GenericOpenAPIError
	if !errors.As(err, &apiErr) || httpRes == nil {
		t.Fatalf("sign-in of %s from %s: %v", user, app.device, err)
	}
	return "", reply{status: httpRes.StatusCode, header: httpRes.Header, body: apiErr.Body()}
}

// tvSignedIn signs a user in from the television and fails unless a token came back.
func (g *testGateway) tvSignedIn(t *testing.T, app tvApp, user, password string) string {
	t.Helper()
	token, res := g.tvSignIn(t, app, user, password)
	if token == "" {
		t.Fatalf("sign-in of %s from %s: status %d: %s", user, app.device, res.status, res.body)
	}
	return token
}

// tvChallenged signs alice in from the television and fails unless jfguard held the
// sign-in behind a challenge.
func (g *testGateway) tvChallenged(t *testing.T, app tvApp) challenge {
	t.Helper()
	_, res := g.tvSignIn(t, app, "alice", alicePassword)
	c, ok := g.challengeOf(t, res)
	if !ok {
		t.Fatalf("sign-in from %s was not challenged: status %d: %s", app.device, res.status, res.body)
	}
	return c
}

// tvCurrentUser asks, with the real client, who the television's token belongs to,
// the way the app does once signed in (device id derived from the user id). It
// returns the HTTP status and whether the answer was jfguard's refusal.
func (g *testGateway) tvCurrentUser(t *testing.T, app tvApp, userID, token string) (int, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	me, httpRes, err := g.jellyfinClient(app.header(app.deviceIDFor(userID), token)).UserAPI.GetCurrentUser(ctx).Execute()
	if err == nil {
		if me.GetId() != userID {
			t.Errorf("the television's token belongs to %s, want %s", me.GetId(), userID)
		}
		return httpRes.StatusCode, false
	}
	var apiErr *api.GenericOpenAPIError
	if !errors.As(err, &apiErr) || httpRes == nil {
		t.Fatalf("GetCurrentUser from %s: %v", app.device, err)
	}
	return httpRes.StatusCode, (reply{body: apiErr.Body()}).fromGate()
}

// browserSession signs alice in on a browser through the challenge with her
// authenticator: the kind of session that may let new devices in.
func (g *testGateway) browserSession(t *testing.T, f factor) string {
	t.Helper()
	c := g.challenged(t, "alice-browser", "X-Jfguard-Client", "web")
	return g.verified(t, c, "totp", g.code(t, f.secret))
}

// pairingInfo is a device as the self-service API lists it.
type pairingInfo struct {
	ID          string    `json:"id"`
	DeviceName  string    `json:"device_name"`
	Client      string    `json:"client"`
	Version     string    `json:"version"`
	IP          string    `json:"ip"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requested_at"`
	LastUsed    time.Time `json:"last_used"`
}

// pairings lists the devices waiting for approval and the paired devices, as the
// session with token sees them.
func (g *testGateway) pairings(t *testing.T, token string) (pending, devices []pairingInfo) {
	t.Helper()
	res := g.do(t, http.MethodGet, "/jfguard/api/me/pairings", nil, "Authorization", tokenHeader(token))
	if res.status != http.StatusOK {
		t.Fatalf("list pairings: status %d: %s", res.status, res.body)
	}
	var out struct {
		Pairings []pairingInfo `json:"pairings"`
		Devices  []pairingInfo `json:"devices"`
	}
	res.json(t, &out)
	return out.Pairings, out.Devices
}

// answerPairing approves or denies a pairing ("approve" or "deny") with a session.
func (g *testGateway) answerPairing(t *testing.T, token, id, answer string) reply {
	t.Helper()
	return g.do(t, http.MethodPost, "/jfguard/api/me/pairings/"+id+"/"+answer, nil, "Authorization", tokenHeader(token))
}

// appPassword creates an app password with a session and returns it as shown once.
func (g *testGateway) appPassword(t *testing.T, token, label string) (id, password string) {
	t.Helper()
	res := g.do(t, http.MethodPost, "/jfguard/api/me/app-passwords", map[string]string{"label": label}, "Authorization", tokenHeader(token))
	var out struct {
		ID       string `json:"id"`
		Password string `json:"password"`
	}
	res.json(t, &out)
	if res.status != http.StatusOK || !strings.HasPrefix(out.Password, "jfg_"+out.ID+"_") {
		t.Fatalf("create app password: status %d: %s", res.status, res.body)
	}
	return out.ID, out.Password
}

// streamBytes is everything stored in the event stream: subjects, headers and data
// of every message as written, for checking that a secret never got there in any form
// the stream keeps.
func (g *testGateway) streamBytes(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b bytes.Buffer
	if _, err := g.main.Store().ScanRaw(ctx, 1, func(m store.RawMsg) error {
		b.WriteString(m.Subject)
		for k, vs := range m.Header {
			b.WriteString(k + ":" + strings.Join(vs, ","))
		}
		b.Write(m.Data)
		b.WriteByte('\n')
		return nil
	}); err != nil {
		t.Fatalf("scan the stream: %v", err)
	}
	return b.Bytes()
}

// payloads decodes the events of one type in the stream, in order.
func payloads[T events.Payload](t *testing.T, g *testGateway, typ events.Type) []T {
	t.Helper()
	var out []T
	for _, ev := range g.eventsOf(t, typ) {
		p, err := events.Data[T](ev)
		if err != nil {
			t.Fatalf("%s data %s: %v", typ, ev.Data, err)
		}
		out = append(out, p)
	}
	return out
}
