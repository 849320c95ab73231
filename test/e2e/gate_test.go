package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jfguard/jfguard/test/jellyfin"
)

// TestAPIKeysPass: Jellyfin API keys (Sonarr, Radarr, Jellyseerr) pass the gate in
// every form services send them, and their use writes no events.
func TestAPIKeysPass(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	before := g.eventTypes(t)
	for _, tc := range []struct {
		name   string
		path   string
		header []string
	}{
		{"X-MediaBrowser-Token", "/Auth/Keys", []string{"X-MediaBrowser-Token", g.apiKey}},
		{"ApiKey query", "/Auth/Keys?ApiKey=" + g.apiKey, nil},
		{"Authorization header", "/Auth/Keys", []string{"Authorization", tokenHeader(g.apiKey)}},
		{"X-Emby-Authorization header", "/Users", []string{"X-Emby-Authorization", `MediaBrowser Client="Jellyseerr", Device="Jellyseerr", DeviceId="seerr", Version="2.0", Token="` + g.apiKey + `"`}},
	} {
		if res := g.do(t, http.MethodGet, tc.path, nil, tc.header...); res.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", tc.name, res.status, res.body)
		}
	}
	after := g.eventTypes(t)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("API key use wrote events: before %v, after %v", before, after)
	}
}

// TestEveryCredentialFormIsGated: a held token is refused in every place Jellyfin
// reads a token from, spelled every way Jellyfin accepts (header and query names in
// any case, .NET's case folding where a dotless ı is an i), and none of these
// requests reaches Jellyfin. Sign-ins on any spelling of the sign-in route are held
// too. Two tokens in one request, or credentials jfguard cannot read unambiguously,
// are refused.
func TestEveryCredentialFormIsGated(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	held := g.challenged(t, "alice-held").held
	bob := g.signedIn(t, "bob", bobPassword, "bob-web")
	item := g.jf.MediaItemID()

	for _, tc := range []struct {
		name   string
		path   string
		header []string
		// raw header names are sent exactly as written, not canonicalized.
		raw []string
	}{
		{name: "Authorization MediaBrowser", path: "/Users/Me", header: []string{"Authorization", tokenHeader(held)}},
		{name: "Authorization web client", path: "/Users/Me", header: []string{"Authorization", clientHeader("alice-held", held)}},
		{name: "Authorization unquoted", path: "/Users/Me", header: []string{"Authorization", "MediaBrowser Client=Kodi, Device=box, DeviceId=kodi1, Version=1.0, Token=" + held}},
		{name: "Authorization scheme in lower case", path: "/Users/Me", header: []string{"Authorization", `mediabrowser Token="` + held + `"`}},
		{name: "Authorization Emby scheme", path: "/Users/Me", header: []string{"Authorization", `Emby Token="` + held + `"`}},
		{name: "X-Emby-Authorization", path: "/Users/Me", header: []string{"X-Emby-Authorization", clientHeader("alice-held", held)}},
		{name: "X-Emby-Token", path: "/Users/Me", header: []string{"X-Emby-Token", held}},
		{name: "X-MediaBrowser-Token", path: "/Users/Me", header: []string{"X-MediaBrowser-Token", held}},
		{name: "x-emby-token in lower case", path: "/Users/Me", raw: []string{"x-emby-token", held}},
		{name: "X-MEDIABROWSER-TOKEN in upper case", path: "/Users/Me", raw: []string{"X-MEDIABROWSER-TOKEN", held}},
		{name: "ApiKey", path: "/Users/Me?ApiKey=" + held},
		{name: "api_key", path: "/Users/Me?api_key=" + held},
		{name: "APIKEY", path: "/Users/Me?APIKEY=" + held},
		{name: "API_KEY", path: "/Users/Me?API_KEY=" + held},
		{name: "ApıKey with a dotless i", path: "/Users/Me?Ap%C4%B1Key=" + held},
		{name: "api_key with an encoded name", path: "/Users/Me?api%5Fkey=" + held},
		{name: "ApiKey after other parameters", path: "/Users/Me?Fields=x&apikey=" + held},
		{name: "ApiKey on a stream", path: "/Videos/" + item + "/stream?static=true&ApiKey=" + held},
		{name: "api_key on the WebSocket", path: "/socket?api_key=" + held + "&deviceId=alice-held"},
		{name: "same token twice", path: "/Users/Me?ApiKey=" + held, header: []string{"Authorization", tokenHeader(held)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := "form " + tc.name
			req := g.newRequest(t, http.MethodGet, tc.path, nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Add(tc.header[i], tc.header[i+1])
			}
			for i := 0; i+1 < len(tc.raw); i += 2 {
				req.Header[tc.raw[i]] = []string{tc.raw[i+1]}
			}
			req.Header.Set(probeHeader, probe)
			res := send(t, req)
			if res.status != http.StatusUnauthorized || !res.fromGate() {
				t.Errorf("status %d: %s", res.status, res.body)
			}
			if g.reachedWith(probe) {
				t.Error("the request reached Jellyfin")
			}
		})
	}

	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"a held token and a verified one", []string{"Authorization", tokenHeader(held), "X-Emby-Token", bob}},
		{"two verified tokens", []string{"Authorization", tokenHeader(bob), "X-MediaBrowser-Token", f.token}},
		{"an API key and a held token", []string{"X-MediaBrowser-Token", g.apiKey, "X-Emby-Token", held}},
		{"two Authorization headers", []string{"Authorization", tokenHeader(bob), "Authorization", tokenHeader(held)}},
		{"unterminated quote", []string{"Authorization", `MediaBrowser Token="` + bob}},
		{"Token given twice", []string{"Authorization", `MediaBrowser Token="` + bob + `", Token="` + held + `"`}},
		{"a bare word after Token=", []string{"Authorization", `MediaBrowser Token=,` + held}},
		{"whitespace in a token header", []string{"X-Emby-Token", bob + " " + held}},
		{"scheme without a space", []string{"Authorization", `MediaBrowser,Token="` + bob + `"`}},
		{"control character in the token", []string{"Authorization", `MediaBrowser Token="` + bob + `%00"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := "refused " + tc.name
			res := g.do(t, http.MethodGet, "/Users/Me", nil, append(tc.header, probeHeader, probe)...)
			if res.status != http.StatusUnauthorized || !res.fromGate() {
				t.Errorf("status %d: %s", res.status, res.body)
			}
			if g.reachedWith(probe) {
				t.Error("the request reached Jellyfin")
			}
		})
	}

	// Jellyfin's routing ignores case the .NET way (a dotless ı is an i, a long ſ an
	// s) and its server removes dot segments, so each of these paths is its sign-in,
	// and jfguard must hold each one.
	for i, path := range []string{
		"/users/authenticatebyname",
		"/USERS/AUTHENTICATEBYNAME/",
		"/Users/Authent%C4%B1cateByName",
		"/U%C5%BFers/AuthenticateByName",
		"/Users/AuthenticateByName?format=json",
		// Kestrel removes dot segments before Jellyfin routes the request.
		"/Users/AuthenticateByName/.",
		"/Users/./AuthenticateByName",
		"/Users/x/../AuthenticateByName",
		"/Users/AuthenticateByName/%2E",
	} {
		t.Run("sign-in at "+path, func(t *testing.T) {
			device := fmt.Sprintf("path-%d", i)
			req := g.newRequest(t, http.MethodPost, path, map[string]string{"Username": "alice", "Pw": alicePassword})
			req.Header.Set("Authorization", clientHeader(device, ""))
			res := send(t, req)
			if _, ok := g.challengeOf(t, res); !ok {
				t.Fatalf("not challenged: status %d: %s", res.status, res.body)
			}
			// The stand-in did take it for a sign-in: the token exists, and is held.
			if token := g.heldToken(t, device); g.reachedJellyfin(token) {
				t.Error("the held token reached Jellyfin")
			}
		})
	}
	if g.reachedJellyfin(held) {
		t.Error("the held token reached Jellyfin")
	}
}

// TestRangeAndWebSocketPassThrough: media Range requests and the /socket WebSocket
// of a verified session pass through jfguard unchanged, both ways.
func TestRangeAndWebSocketPassThrough(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	bob := g.signedIn(t, "bob", bobPassword, "bob-tv")
	item := g.jf.MediaItemID()

	want := make([]byte, 100)
	for i := range want {
		want[i] = jellyfin.MediaByte(int64(100 + i))
	}
	for _, tc := range []struct {
		name, path string
		header     []string
	}{
		{"Authorization header", "/Videos/" + item + "/stream?static=true", []string{"Authorization", clientHeader("bob-tv", bob)}},
		{"ApiKey query", "/Videos/" + item + "/stream.mp4?ApiKey=" + bob, nil},
	} {
		res := g.do(t, http.MethodGet, tc.path, nil, append(tc.header, "Range", "bytes=100-199")...)
		if res.status != http.StatusPartialContent || !bytes.Equal(res.body, want) {
			t.Errorf("%s: status %d, %d bytes, right bytes: %v", tc.name, res.status, len(res.body), bytes.Equal(res.body, want))
		}
		if got, wantRange := res.header.Get("Content-Range"), fmt.Sprintf("bytes 100-199/%d", g.jf.MediaSize()); got != wantRange {
			t.Errorf("%s: Content-Range %q, want %q", tc.name, got, wantRange)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(g.url(), "http") + "/socket?api_key=" + bob + "&deviceId=bob-tv"
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("WebSocket through jfguard: %v", err)
	}
	defer conn.CloseNow()
	type message struct {
		MessageType string
		Data        json.RawMessage
	}
	read := func() message {
		t.Helper()
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("message %s: %v", data, err)
		}
		return m
	}
	if m := read(); m.MessageType != "ForceKeepAlive" || string(m.Data) != "60" {
		t.Errorf("first message %+v, want ForceKeepAlive 60", m)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"MessageType":"SessionsStart","Data":"0,1500"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.MessageType != "Echo" || !strings.Contains(string(m.Data), "SessionsStart") {
		t.Errorf("echo %+v", m)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"MessageType":"KeepAlive"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.MessageType != "KeepAlive" {
		t.Errorf("keep-alive answer %+v", m)
	}
	conn.Close(websocket.StatusNormalClosure, "")
}

// TestWebIndexInjected: the web app's index page comes through jfguard with its
// script added, asked from Jellyfin uncompressed (jfguard must read it) and marked
// never to be cached (a cached copy without the script would not show the
// challenge); HEAD answers agree with GET.
func TestWebIndexInjected(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	for _, path := range []string{"/web/", "/web/index.html"} {
		res := g.do(t, http.MethodGet, path, nil, "Accept-Encoding", "gzip, deflate, br", probeHeader, path)
		if res.status != http.StatusOK || !strings.Contains(string(res.body), `<script src="/jfguard/inject.js"`) {
			t.Errorf("%s: status %d, no inject script", path, res.status)
		}
		if !strings.Contains(string(res.body), "main.jellyfin.bundle.js") {
			t.Errorf("%s: the page is not Jellyfin's", path)
		}
		if cc := res.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, cc)
		}
		if ce := res.header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding %q", path, ce)
		}
		var asked []string
		for _, r := range g.upstream.Requests() {
			if r.Header.Get(probeHeader) == path {
				asked = append(asked, r.Header.Get("Accept-Encoding"))
			}
		}
		if len(asked) != 1 || asked[0] != "identity" {
			t.Errorf("%s: asked Jellyfin with Accept-Encoding %q, want identity", path, asked)
		}
		// HEAD describes the same page: never the length of the page without the
		// script, never cacheable.
		head := g.do(t, http.MethodHead, path, nil)
		if cl := head.header.Get("Content-Length"); head.status != http.StatusOK || (cl != "" && cl != strconv.Itoa(len(res.body))) {
			t.Errorf("HEAD %s: status %d, Content-Length %q; the page is %d bytes", path, head.status, cl, len(res.body))
		}
		if cc := head.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("HEAD %s: Cache-Control %q, want no-store", path, cc)
		}
	}
}

// TestSecurityHeaders: jfguard's own answers (its API, its challenge and its
// refusals) carry the security headers and a strict CSP.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	res := g.signIn(t, "alice", alicePassword, "alice-headers")
	c, ok := g.challengeOf(t, res)
	if !ok {
		t.Fatalf("no challenge: %d %s", res.status, res.body)
	}
	checkSecurityHeaders(t, "challenge 401", res.header)
	checkSecurityHeaders(t, "challenge info", g.do(t, http.MethodGet, "/jfguard/api/challenge/"+c.id, nil).header)
	checkSecurityHeaders(t, "wrong code", g.verify(t, c.id, map[string]any{"code": g.wrongCode(t, f.secret)}).header)
	checkSecurityHeaders(t, "self-service", g.do(t, http.MethodGet, "/jfguard/api/me", nil, "Authorization", tokenHeader(f.token)).header)
	checkSecurityHeaders(t, "self-service refused", g.do(t, http.MethodGet, "/jfguard/api/me", nil).header)
	checkSecurityHeaders(t, "script login", g.do(t, http.MethodPost, "/jfguard/api/login", map[string]string{"username": "x", "password": "y"}).header)
	checkSecurityHeaders(t, "gate refusal", g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(g.heldToken(t, "alice-headers"))).header)
}

// TestSessionsFromBeforeInstall: a token a 2FA user got directly from Jellyfin (a
// session from before jfguard) is refused until an administrator adopts the
// sessions that exist, once; adoption never releases a token jfguard holds.
func TestSessionsFromBeforeInstall(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.enrollAlice(t)
	direct := func(name, password, device string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.jfURL+"/Users/AuthenticateByName", strings.NewReader(`{"Username":"`+name+`","Pw":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", clientHeader(device, ""))
		res := send(t, req)
		var a authResult
		res.json(t, &a)
		return a.AccessToken
	}
	alice := direct("alice", alicePassword, "old-phone")
	bob := direct("bob", bobPassword, "old-tv")
	held := g.challenged(t, "alice-held").held

	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(alice)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Fatalf("alice's session from before jfguard: status %d: %s", res.status, res.body)
	}
	// A user without a second factor loses nothing when jfguard is installed.
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(bob)); res.status != http.StatusOK {
		t.Errorf("bob's session from before jfguard: status %d: %s", res.status, res.body)
	}

	result, rerr := g.rpc(t, "sessions.adopt", map[string]any{})
	var adopted struct {
		Adopted int `json:"adopted"`
	}
	if rerr != nil || json.Unmarshal(result, &adopted) != nil || adopted.Adopted < 1 {
		t.Fatalf("sessions.adopt: %s %+v", result, rerr)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(alice)); res.status != http.StatusOK {
		t.Errorf("alice's adopted session: status %d: %s", res.status, res.body)
	}
	// Adoption takes the sessions jfguard never saw, not the ones it holds.
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(held)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("a held token after adoption: status %d: %s", res.status, res.body)
	}
	if _, rerr := g.rpc(t, "sessions.adopt", map[string]any{}); rerr == nil || rerr.Code != -32009 {
		t.Errorf("adopting twice without force: %+v", rerr)
	}
	if _, rerr := g.rpc(t, "sessions.adopt", map[string]any{"force": true}); rerr != nil {
		t.Errorf("adopting again with force: %+v", rerr)
	}
	got := g.eventTypes(t)
	if got["sessions_adopted"] != 2 {
		t.Errorf("%d sessions_adopted events, want 2", got["sessions_adopted"])
	}
	found := false
	for _, r := range g.sessionReasons(t) {
		found = found || r == "adopted"
	}
	if !found {
		t.Error("no session was verified as adopted")
	}
}
