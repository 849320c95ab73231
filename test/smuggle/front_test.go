package smuggle

import (
	"net"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/http/wire"
	"github.com/valyala/fasthttp"
)

// Tokens of the fasthttp fronts' stand-in gate.
const (
	frontOK  = "front-ok-token"
	frontBad = "front-bad-token"
)

// TestBareFasthttp runs the suite against a fasthttp front without
// wire.CheckRequest: its expected outcomes (the cases' bare column) record what
// fasthttp v1.79.0 refuses on its own and what it lets through.
func TestBareFasthttp(t *testing.T) {
	t.Parallel()
	up := startRecorder(t, "")
	runSuite(t, target{addr: startFront(t, up, nil), upstream: up, ok: frontOK, bad: frontBad,
		expecting: func(c smuggleCase) outcome { return c.bare }})
}

// TestStrictFront runs the suite against the same front calling wire.CheckRequest
// first, as jfguard's front does: every case must have its strict outcome.
func TestStrictFront(t *testing.T) {
	t.Parallel()
	up := startRecorder(t, "")
	gate := &passLog{}
	runSuite(t, target{addr: startFront(t, up, gate), upstream: up, ok: frontOK, bad: frontBad,
		expecting: func(c smuggleCase) outcome { return c.want }, gate: gate})
}

// maxBody is the largest body the front reads before its handler runs.
const maxBody = 4 << 20

// quiet drops the fasthttp server's log of refused connections: the suite's
// outcomes say what was refused.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// credentialHeaders are the headers Jellyfin reads a token from.
var credentialHeaders = []string{"Authorization", "X-Emby-Authorization", "X-Emby-Token", "X-MediaBrowser-Token"}

// carriesToken reports whether any credential header, whatever the case of its
// name, holds token. With DisableHeaderNamesNormalizing, fasthttp's Peek matches
// names byte for byte and would miss "authorization", which Jellyfin reads.
func carriesToken(h *fasthttp.RequestHeader, token string) bool {
	for k, v := range h.All() {
		for _, name := range credentialHeaders {
			if strings.EqualFold(string(k), name) && strings.Contains(string(v), token) {
				return true
			}
		}
	}
	return false
}

// startFront serves a minimal fasthttp front with the server settings of
// jfguard's: a gate that refuses the bad token with 401, then a HostClient proxy
// to up. With a strict log, wire.CheckRequest runs before anything else, a
// chunked body is read whole (wire.BufferChunked) before it is forwarded, and
// every request the gate passes is logged as the front read it.
func startFront(t *testing.T, up *recorder, strict *passLog) string {
	t.Helper()
	hc := &fasthttp.HostClient{Addr: up.addr(), DisablePathNormalizing: true}
	handler := func(ctx *fasthttp.RequestCtx) {
		if strict != nil {
			if err := wire.CheckRequest(&ctx.Request); err != nil {
				ctx.Error(err.Error(), fasthttp.StatusBadRequest)
				ctx.SetConnectionClose()
				return
			}
			if err := wire.BufferChunked(&ctx.Request, maxBody); err != nil {
				ctx.Error(err.Error(), fasthttp.StatusBadRequest)
				ctx.SetConnectionClose()
				return
			}
		}
		// A front routes on the path (jfguard's own pages or the gate); parsing it
		// must not change the target that is forwarded: without the HostClient's
		// DisablePathNormalizing, the parsed, normalised path would be sent.
		_ = ctx.Path()
		if carriesToken(&ctx.Request.Header, frontBad) {
			ctx.Error("refused", fasthttp.StatusUnauthorized)
			return
		}
		if strict != nil {
			h := &ctx.Request.Header
			strict.add(forwarded{string(h.Method()), string(h.RequestURI()), string(ctx.Request.Body())})
		}
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	}
	srv := &fasthttp.Server{
		Handler:                       handler,
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		StreamRequestBody:             true,
		MaxRequestBodySize:            maxBody,
		ReadBufferSize:                16 << 10,
		Logger:                        quiet{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("shut the front down: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("front: %v", err)
		}
	})
	return ln.Addr().String()
}
