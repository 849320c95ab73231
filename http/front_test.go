package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/http/wire"
	"github.com/valyala/fasthttp"
)

// recordingUpstream is a stand-in for Jellyfin that keeps the requests it got.
type recordingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Upstream", "jellyfin")
		_, _ = io.WriteString(w, `{"Items":[]}`)
	}))
	t.Cleanup(u.Close)
	return u
}

// last is the last request the upstream got.
func (u *recordingUpstream) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.seen[len(u.seen)-1]
}

// startFront runs a gateway behind its front on a loopback port, in front of
// upstream, and returns the front's address.
func startFront(t testing.TB, upstream string) (*Server, string) {
	t.Helper()
	st, proj, sealer, key := newStoreDeps(t, nil)
	up, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{
		Upstream: up, PublicURL: up, Store: st, Projector: proj, Sealer: sealer, Shared: sharedFor(t, st), Turns: turnsFor(t, st),
		BasePolicy: domain.DefaultPolicy(), TrustKeys: domain.TrustKeys{Current: key},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := s.NewFront()
	go func() { _ = f.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// rawExchange sends raw bytes on a new connection and reads one answer.
func rawExchange(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(request, " ")
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestFrontForwardsAsTheProxyDoes: a request the fast path takes reaches Jellyfin
// with the target as sent, the proxy's forwarding headers (the client's own
// replaced), no hop-by-hop headers and none of jfguard's; the answer comes back
// whole, with one Date and without the upstream's connection headers.
func TestFrontForwardsAsTheProxyDoes(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	_, addr := startFront(t, up.URL)
	res, body := rawExchange(t, addr, "GET /Items/Latest?Fields=a%2Cb&Limit=5 HTTP/1.1\r\nHost: media.example\r\n"+
		"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=203.0.113.9\r\n"+
		"Connection: keep-alive, X-Secret\r\nX-Secret: hop\r\nKeep-Alive: 5\r\nX-Jfguard-Peer: 10.0.0.1:1\r\n"+
		"X-Jfguard-Client: forged\r\nX-Jfguard-Client-Addr: 10.0.0.1 10.0.0.1 b\r\nAccept: application/json\r\n\r\n")
	if res.StatusCode != http.StatusOK || body != `{"Items":[]}` {
		t.Fatalf("answer %d %q", res.StatusCode, body)
	}
	if got := res.Header.Values("Date"); len(got) != 1 {
		t.Errorf("Date headers %q, want one", got)
	}
	if res.Header.Get("Keep-Alive") != "" || res.Header.Get("X-Upstream") != "jellyfin" {
		t.Errorf("answer headers %v", res.Header)
	}
	r := up.last(t)
	if r.RequestURI != "/Items/Latest?Fields=a%2Cb&Limit=5" || r.Host != "media.example" {
		t.Errorf("upstream got %s for host %s", r.RequestURI, r.Host)
	}
	want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "media.example",
		"Forwarded": "", "X-Secret": "", "Keep-Alive": "", "X-Jfguard-Peer": "", "X-Jfguard-Client": "", "X-Jfguard-Client-Addr": "", "Accept": "application/json"}
	for name, v := range want {
		if got := strings.Join(r.Header.Values(name), ","); got != v {
			t.Errorf("upstream header %s = %q, want %q", name, got, v)
		}
	}
}

// TestFrontHandsOnWithTheRealPeer: a request the engine serves (here a POST, which
// the fast path never takes) is decided with the client's real address: a peer
// header or a client address header the client wrote is dropped, not believed.
func TestFrontHandsOnWithTheRealPeer(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	_, addr := startFront(t, up.URL)
	res, _ := rawExchange(t, addr, "POST /Sessions/Playing/Progress HTTP/1.1\r\nHost: media.example\r\n"+
		"X-Jfguard-Peer: 10.0.0.1:1\r\nX-Jfguard-Client-Addr: 10.0.0.1 10.0.0.1 b\r\nContent-Length: 2\r\n\r\n{}")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("answer %d", res.StatusCode)
	}
	r := up.last(t)
	if got := r.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("the engine forwarded for %q, want the real peer 127.0.0.1", got)
	}
	if r.Header.Get("X-Jfguard-Peer") != "" || r.Header.Get("X-Jfguard-Client-Addr") != "" {
		t.Error("the front's headers reached Jellyfin")
	}
	if r.Method != http.MethodPost || r.ContentLength != 2 {
		t.Errorf("upstream got %s with %d bytes", r.Method, r.ContentLength)
	}
}

// TestFrontHeadKeepsTheLength: a HEAD answered through the fast path keeps the
// length Jellyfin gave, with no body.
func TestFrontHeadKeepsTheLength(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	_, addr := startFront(t, up.URL)
	res, body := rawExchange(t, addr, "HEAD /Items HTTP/1.1\r\nHost: media.example\r\n\r\n")
	if res.StatusCode != http.StatusOK || body != "" || res.ContentLength != int64(len(`{"Items":[]}`)) {
		t.Errorf("HEAD: %d, length %d, body %q", res.StatusCode, res.ContentLength, body)
	}
}

// TestPlainProxyPath: the paths the fast path takes are those that read the same
// however Jellyfin decodes or normalises them, outside jfguard's own and the web
// index.
func TestPlainProxyPath(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/Items":                   true,
		"/Videos/abc/stream.mp4":   true,
		"/web/main.bundle.js":      true,
		"/jellyfin/Items":          true,
		"":                         false,
		"Items":                    false,
		"/web":                     false,
		"/WEB/":                    false,
		"/jellyfin/web/index.HTML": false,
		"/jfguard/api/me":          false,
		"/JFGuard/x":               false,
		"/Items/%2e%2e/web/":       false,
		"/Items//x":                false,
		"/Items/./x":               false,
		"/Items/..":                false,
		"/It\\ems":                 false,
		"/Itéms":                   false,
		"/Items\x00":               false,
	} {
		if got := plainProxyPath([]byte(p)); got != want {
			t.Errorf("plainProxyPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// BenchmarkFastPass measures the front's decision for a request with a token
// that passes (an API key, after the look-up of a verified session misses): the
// gate's pass path, per request.
func BenchmarkFastPass(b *testing.B) {
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	s, _ := startFront(b, up.URL)
	const key = "0123456789abcdef0123456789abcdef"
	s.apiKeys.mu.Lock()
	s.apiKeys.keys[tokenHash(key)] = true
	s.apiKeys.mu.Unlock()
	f := s.NewFront()
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5000}, nil)
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/Items?Limit=5")
	ctx.Request.Header.SetHost("media.example")
	ctx.Request.Header.Set("Authorization", `MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="abc", Version="10.11.0", Token="`+key+`"`)
	if _, ok := f.fastPass(&ctx); !ok {
		b.Fatal("the benchmark's request does not pass")
	}
	b.ReportAllocs()
	for b.Loop() {
		// A new request: its client address is resolved again.
		ctx.Request.ResetUserValues()
		if _, ok := f.fastPass(&ctx); !ok {
			b.Fatal("refused")
		}
	}
}

// TestFastPassTakesOnlyWhatTheGateLetsThrough: the fast path takes a request only
// when the gate would pass it unchanged; every other request, however its headers
// are spelled, goes to the engine.
func TestFastPassTakesOnlyWhatTheGateLetsThrough(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	s, _ := startFront(t, up.URL)
	const key = "0123456789abcdef0123456789abcdef"
	s.apiKeys.mu.Lock()
	s.apiKeys.keys[tokenHash(key)] = true
	s.apiKeys.mu.Unlock()
	f := s.NewFront()
	const other = "fedcba9876543210fedcba9876543210"
	for _, tc := range []struct {
		name    string
		request string
		want    bool
	}{
		{"no token", "GET /Items HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"API key", "GET /Items HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n", true},
		{"API key in the query", "GET /Items?api_key=" + key + " HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"HEAD", "HEAD /Items HTTP/1.1\r\nHost: h\r\nAuthorization: MediaBrowser Token=\"" + key + "\"\r\n\r\n", true},
		{"unknown token", "GET /Items HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + other + "\r\n\r\n", false},
		{"unknown token, header in lower case", "GET /Items HTTP/1.1\r\nHost: h\r\nx-emby-token: " + other + "\r\n\r\n", false},
		{"unknown token, second of two headers", "GET /Items HTTP/1.1\r\nHost: h\r\nX-Emby-Token: \r\nX-Emby-Token: " + other + "\r\n\r\n", false},
		{"unknown token in the query", "GET /Items?ApiKey=" + other + " HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"two tokens", "GET /Items?ApiKey=" + other + " HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n", false},
		{"malformed authorization", "GET /Items HTTP/1.1\r\nHost: h\r\nAuthorization: MediaBrowser Token=\"a\"b\"\r\n\r\n", false},
		{"POST", "POST /Items HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", false},
		{"lower-case get", "get /Items HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"web index", "GET /web/ HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"jfguard's own", "GET /jfguard/api/me HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"encoded path", "GET /web/index%2Ehtml HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"a guarded route: the list of API keys", "GET /Auth/Keys HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n", false},
		{"a guarded route under a base path, in lower case", "HEAD /jellyfin/auth/keys/ HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n", false},
		{"a guarded route with a parameter", "GET /ScheduledTasks/abc HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"a route that only starts like a guarded one", "GET /Auth/Keys/x/Items HTTP/1.1\r\nHost: h\r\n\r\n", true},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5000}, nil)
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(tc.request))); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, got := f.fastPass(&ctx); got != tc.want {
			t.Errorf("%s: fast path %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFrontLetsOnlyWebSocketSwitch: a request to switch to another protocol (h2c,
// whose tunnel would carry requests past the gate) reaches Jellyfin as an ordinary
// request, without its Upgrade.
func TestFrontLetsOnlyWebSocketSwitch(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	_, addr := startFront(t, up.URL)
	for _, method := range []string{"GET", "POST"} {
		res, _ := rawExchange(t, addr, method+" /Items HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
			"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 0\r\n\r\n")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: answer %d", method, res.StatusCode)
		}
		r := up.last(t)
		if r.Method != method || r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "" {
			t.Errorf("%s: upstream got %s with Upgrade %q, HTTP2-Settings %q", method, r.Method, r.Header.Get("Upgrade"), r.Header.Get("Http2-Settings"))
		}
	}
}

// TestFrontStreamsBodiesWhole: answers of every framing reach the client whole
// through the fast path (small, spliced, chunked, ending with the connection, HEAD),
// and a connection whose answer was read whole carries the next request.
func TestFrontStreamsBodiesWhole(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 5<<16) // 5 MiB
	var mu sync.Mutex
	peers := map[string]int{}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peers[r.RemoteAddr]++
		mu.Unlock()
		switch r.URL.Path {
		case "/small":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "small")
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = io.WriteString(w, big)
		case "/chunked":
			for i := 0; i < 3; i++ {
				_, _ = io.WriteString(w, big[:100_000])
				w.(http.Flusher).Flush()
			}
		case "/until-close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, big[:70_000])
			w.(http.Flusher).Flush()
		}
	}))
	up.Start()
	t.Cleanup(up.Close)
	_, addr := startFront(t, up.URL)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for _, tc := range []struct{ path, want string }{
		{"/small", "small"}, {"/big", big}, {"/big", big}, {"/chunked", strings.Repeat(big[:100_000], 3)},
		{"/until-close", big[:70_000]}, {"/big", big}, {"/small", "small"},
	} {
		res, err := client.Get("http://" + addr + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(body) != tc.want {
			t.Fatalf("%s: %d bytes (%v), want %d", tc.path, len(body), err, len(tc.want))
		}
	}
	req, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/big", nil)
	res, err := client.Do(req)
	if err != nil || res.ContentLength != int64(len(big)) {
		t.Fatalf("HEAD /big: %v, length %d", err, res.ContentLength)
	}
	res.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	reused := 0
	for _, n := range peers {
		reused = max(reused, n)
	}
	if reused < 3 {
		t.Errorf("no upstream connection carried more than %d requests: %v", reused, peers)
	}
}

// FuzzFastPassAgreesWithTheGate: whatever request the fast path takes, the engine's
// gate, reading the same request as net/http parses it, would have let through
// unchanged: no token or the same passing one, a readable credential, not jfguard's
// route, not the web index, not a route the gate intercepts or guards.
func FuzzFastPassAgreesWithTheGate(f *testing.F) {
	const key = "0123456789abcdef0123456789abcdef"
	for _, seed := range []string{
		"GET /Items HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /Items HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n",
		"GET /Items?api_key=" + key + " HTTP/1.1\r\nHost: h\r\n\r\n",
		"HEAD /Items HTTP/1.1\r\nHost: h\r\nAuthorization: MediaBrowser Client=\"a\", Token=\"" + key + "\"\r\n\r\n",
		"GET /Items HTTP/1.1\r\nHost: h\r\nx-emby-authorization: Emby Token=" + key + "\r\nX-Emby-Token: other\r\n\r\n",
		"GET /web/index.html HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /Items HTTP/1.1\r\nHost: h\r\nX-Emby-Token: \r\nX-Emby-Token: other\r\n\r\n",
		"GET /Auth/Keys HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n",
		"HEAD /jellyfin/auth/keys/ HTTP/1.1\r\nHost: h\r\nX-Emby-Token: " + key + "\r\n\r\n",
		"GET /System/Logs/Log?name=x HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /Plugins/p/1.0/Image HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	up := httptest.NewServer(http.NotFoundHandler())
	f.Cleanup(up.Close)
	s, _ := startFront(f, up.URL)
	s.apiKeys.mu.Lock()
	s.apiKeys.keys[tokenHash(key)] = true
	s.apiKeys.mu.Unlock()
	front := s.NewFront()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5000}, nil)
		if ctx.Request.Read(bufio.NewReader(bytes.NewReader(raw))) != nil || wire.CheckRequest(&ctx.Request) != nil {
			return
		}
		if _, pass := front.fastPass(&ctx); !pass {
			return
		}
		var sent bytes.Buffer
		if _, err := ctx.Request.WriteTo(&sent); err != nil {
			t.Fatalf("the front cannot write a request it passed: %v", err)
		}
		r, err := http.ReadRequest(bufio.NewReader(&sent))
		if err != nil {
			t.Fatalf("net/http cannot read a request the fast path passed: %v\n%q", err, sent.String())
		}
		creds, err := upstream.ExtractCredentials(r)
		switch {
		case err != nil:
			t.Fatalf("the gate refuses the credentials of a request the fast path passed: %v\n%q", err, sent.String())
		case creds.Token != "" && !s.apiKeys.has(tokenHash(creds.Token)):
			t.Fatalf("the gate reads token %q, which does not pass\n%q", creds.Token, sent.String())
		case strings.HasPrefix(strings.ToLower(r.URL.Path), "/jfguard"), isWebIndex(r), interceptionOf(r) != nil, guardedAction(r) != "":
			t.Fatalf("the fast path passed a route the engine serves: %q", r.URL.Path)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			t.Fatalf("the fast path passed a %s", r.Method)
		}
	})
}

// TestFrontAnswersExpectContinue: a client that waits for 100 Continue before its
// body (an upload) gets it from the front, and Jellyfin gets the body without
// the expectation the front has already answered.
func TestFrontAnswersExpectContinue(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	_, addr := startFront(t, up.URL)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := `{"Name":"subtitle"}`
	if _, err := fmt.Fprintf(conn, "POST /Videos/x/Subtitles HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("before the body: %q, %v; want 100 Continue", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodPost})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("answer %v, %v", res, err)
	}
	if r := up.last(t); r.Header.Get("Expect") != "" || r.ContentLength != int64(len(body)) {
		t.Errorf("upstream got Expect %q and a body of %d bytes", r.Header.Get("Expect"), r.ContentLength)
	}
}

// TestEngineTakesTheFrontsClientAddr: the engine decides a request the front handed
// on with the client address the front resolved, without resolving it again from
// the peer; a request from the front without one it can read is refused.
func TestEngineTakesTheFrontsClientAddr(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	s, _ := startFront(t, up.URL)
	engine := httptest.NewServer(http.HandlerFunc(s.NewFront().fromFront))
	t.Cleanup(engine.Close)
	for _, tc := range []struct {
		name, client string
		status       int
		forwarded    string
	}{
		{"resolved by the front", "198.51.100.7 127.0.0.1 b", http.StatusOK, "198.51.100.7"},
		{"none", "", http.StatusInternalServerError, ""},
		{"malformed", "198.51.100.7 127.0.0.1 x", http.StatusInternalServerError, ""},
	} {
		r, err := http.NewRequest(http.MethodGet, engine.URL+"/Items", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Jfguard-Peer", "127.0.0.1:5000")
		if tc.client != "" {
			r.Header.Set("X-Jfguard-Client-Addr", tc.client)
		}
		res, err := engine.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Fatalf("%s: answer %d, want %d", tc.name, res.StatusCode, tc.status)
		}
		if tc.forwarded == "" {
			continue
		}
		if got := up.last(t).Header.Get("X-Forwarded-For"); got != tc.forwarded {
			t.Errorf("%s: the engine forwarded for %q, want %q", tc.name, got, tc.forwarded)
		}
	}
}

// TestFrontResolvesOncePerRequest: the front resolves a request's client address
// the first time it is asked for and reads it back after (the fast path, then the
// hand-on to the engine), until the request is reset for the next one.
func TestFrontResolvesOncePerRequest(t *testing.T) {
	t.Parallel()
	up := newRecordingUpstream(t)
	s, _ := startFront(t, up.URL)
	s.opts.ProxyTrust = clientaddr.ProxyTrust{TrustForwardedFor: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	f := s.NewFront()
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5000}, nil)
	ctx.Request.Header.Set("X-Forwarded-For", "203.0.113.1")
	if got := f.clientAddr(&ctx); got.IP != netip.MustParseAddr("203.0.113.1") || !got.ViaProxy {
		t.Fatalf("resolved %+v", got)
	}
	ctx.Request.Header.Set("X-Forwarded-For", "203.0.113.2")
	if got := f.clientAddr(&ctx); got.IP != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("resolved again within the request: %+v", got)
	}
	ctx.Request.ResetUserValues()
	if got := f.clientAddr(&ctx); got.IP != netip.MustParseAddr("203.0.113.2") {
		t.Errorf("the next request got %+v", got)
	}
}
