package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Paths the load and the stream ask for: Jellyfin's shapes, so jfguard's gate treats
// them as it treats a real client's.
const (
	itemsPath  = "/Items?ParentId=bench&Limit=10&Fields=Overview"
	streamPath = "/Videos/bench/stream?static=true"
	itemsSize  = 1024
)

// upstream stands in for Jellyfin with what the benchmark needs and no more: a 1 KB
// JSON answer and a generated body of any size, both for the client's token only;
// the API key list jfguard fetches with its admin key, which is how the client's
// token passes jfguard's gate (an API key passes with one map lookup); and whether
// Quick Connect is on, which jfguard's readiness asks. It is a fasthttp server so
// that the direct baseline is as fast as this machine allows.
type upstream struct {
	admin, client credential
	streamSize    int64
	items, keys   []byte
	// unknown lists the paths it does not serve that were asked for: jfguard
	// asking for something the benchmark did not foresee.
	mu      sync.Mutex
	unknown map[string]int
	// served counts the item lists answered with 200: every request a load counts
	// must be one of them, or a proxy answered it by itself.
	served atomic.Int64
	srv    *fasthttp.Server
	addr   string
}

// startUpstream serves the stand-in on a loopback port until close.
func startUpstream(adminKey, clientKey string, streamSize int64) (*upstream, error) {
	u := &upstream{admin: newCredential(adminKey), client: newCredential(clientKey), streamSize: streamSize, items: itemsJSON(itemsSize), unknown: map[string]int{}}
	u.keys = fmt.Appendf(nil, `{"Items":[{"AccessToken":%q,"AppName":"jfguard"},{"AccessToken":%q,"AppName":"bench"}],"TotalRecordCount":2}`, adminKey, clientKey)
	u.srv = &fasthttp.Server{Handler: u.handle, Name: "Kestrel", NoDefaultDate: true, NoDefaultContentType: true}
	addr, err := serve(u.srv)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	u.addr = addr
	return u, nil
}

// url is the upstream's base URL, the direct path.
func (u *upstream) url() string { return "http://" + u.addr }

// close stops the server once its connections are idle.
func (u *upstream) close() error { return u.srv.Shutdown() }

// unknownPaths lists what was asked for that it does not serve, with counts.
func (u *upstream) unknownPaths() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for p, n := range u.unknown {
		out = append(out, fmt.Sprintf("%s (%d)", p, n))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// handle answers Jellyfin's routes the benchmark uses; anything else is 404.
func (u *upstream) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/Items":
		if !u.client.in(&ctx.Request.Header) {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBody(u.items)
		u.served.Add(1)
	case "/Videos/bench/stream":
		if !u.client.in(&ctx.Request.Header) {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		ctx.SetContentType("video/mp4")
		ctx.SetBodyStream(&pattern{left: u.streamSize}, int(u.streamSize))
	case "/Auth/Keys":
		if !u.admin.in(&ctx.Request.Header) {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBody(u.keys)
	case "/QuickConnect/Enabled":
		// jfguard's readiness asks; a Jellyfin set up as its docs recommend says yes.
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBodyString("true")
	default:
		u.mu.Lock()
		u.unknown[string(ctx.Method())+" "+string(ctx.Path())]++
		u.mu.Unlock()
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

// credential is a token and the bytes that show it in a MediaBrowser header, made
// once so that checking a request allocates nothing.
type credential struct {
	token  string
	needle []byte
}

// newCredential prepares token for in.
func newCredential(token string) credential {
	return credential{token: token, needle: []byte(`Token="` + token + `"`)}
}

// in reports whether a request carries the token the ways Jellyfin clients send
// one: in the MediaBrowser Authorization header or in X-Emby-Token.
func (c credential) in(h *fasthttp.RequestHeader) bool {
	if string(h.Peek("X-Emby-Token")) == c.token {
		return true
	}
	auth := h.Peek("Authorization")
	return bytes.HasPrefix(auth, []byte("MediaBrowser ")) && bytes.Contains(auth, c.needle)
}

// itemsJSON is a Jellyfin-like item list padded to exactly size bytes.
func itemsJSON(size int) []byte {
	head := `{"Items":[{"Name":"Bench","Id":"bench","Type":"Movie","Overview":"`
	tail := `"}],"TotalRecordCount":1,"StartIndex":0}`
	return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
}

// authResponder is the cheapest forward-auth server there can be: 200 to anything.
// A real portal (Authelia, Authentik) does more per request, so nginx + forward-auth
// measured with it is the best case of that setup.
type authResponder struct {
	srv  *fasthttp.Server
	addr string
}

// startAuthResponder serves the responder on a loopback port until close.
func startAuthResponder() (*authResponder, error) {
	a := &authResponder{srv: &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {}, NoDefaultDate: true, NoDefaultContentType: true}}
	addr, err := serve(a.srv)
	if err != nil {
		return nil, fmt.Errorf("forward-auth responder: %w", err)
	}
	a.addr = addr
	return a, nil
}

// close stops the responder once its connections are idle.
func (a *authResponder) close() error { return a.srv.Shutdown() }

// serve runs srv on a new loopback port and returns its address.
func serve(srv *fasthttp.Server) (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// pattern is a generated body of left bytes: nothing is stored, and WriteTo hands
// the connection large writes, so the upstream is never what limits a stream.
type pattern struct{ left int64 }

// patternBlock is the text (about 256 KiB) every generated body repeats.
var patternBlock = bytes.Repeat([]byte("jfguard-dataplane-bench\n"), 256<<10/24)

// Read fills b with the next bytes of the body.
func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(int64(len(b)), p.left)], patternBlock)
	p.left -= int64(n)
	return n, nil
}

// WriteTo writes the rest of the body to w a patternBlock at a time.
func (p *pattern) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for p.left > 0 {
		n, err := w.Write(patternBlock[:min(int64(len(patternBlock)), p.left)])
		total += int64(n)
		p.left -= int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
