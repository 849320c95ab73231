package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/wire"
	"github.com/valyala/fasthttp"
)

// Front is the server core every client connection meets. It reads each request
// with a strict parser, proxies the requests the gate would let through unchanged
// (a token that passes, or none, on a route jfguard does nothing more with) straight
// to Jellyfin on pooled connections, and hands every other request to the gin engine
// (jfguard's own routes, sign-in interception, tokens still to resolve, refusals,
// WebSocket upgrades) over an in-memory connection. The engine decides those exactly
// as it did when it was the server; the front only saves it the requests whose answer
// is known in advance.
type Front struct {
	s   *Server
	log *slog.Logger
	srv *fasthttp.Server
	// upstream is Jellyfin; nil when the fast path is off (an upstream URL with a
	// base path or query, which the engine's proxy joins).
	upstream *fasthttp.HostClient
	// direct is the client of a plain-HTTP upstream (the usual one, on the same
	// machine or network); upstream serves an HTTPS one.
	direct *upstreamClient
	engine *fasthttp.HostClient
	mem    *memListener
	inner  *http.Server
	wg     sync.WaitGroup
}

// Front's limits, the ones Kestrel applies by default where they exist.
const (
	// frontMaxHead is the largest request head (line and headers) accepted, twice
	// nginx's default for one header line; a larger one is answered 431.
	frontMaxHead = 16 << 10
	// frontBodyInMemory is the largest body read whole before the request is
	// handled; a larger one streams through.
	frontBodyInMemory = 4 << 20
	// frontHeadTimeout bounds how long a client may take to send a request
	// without a body, as net/http's ReadHeaderTimeout did.
	frontHeadTimeout = 20 * time.Second
	// frontBodyTimeout bounds how long a request with a body may take to arrive
	// (an upload over a slow link).
	frontBodyTimeout = time.Hour
	frontIdleTimeout = 2 * time.Minute
)

// The headers that carry what the front knows of a request to the engine. The front
// removes them from every request it reads, so only the front can set them, and the
// engine is reachable from nowhere else.
const (
	// peerHeader is the client's TCP peer, the engine's RemoteAddr.
	peerHeader = "X-Jfguard-Peer"
	// clientHeader is the client address the front resolved (formatClientAddr),
	// which the engine takes rather than resolving it again.
	clientHeader = "X-Jfguard-Client-Addr"
)

// resolvedClientKey is the user value of a front request that holds its client
// address once resolved (Front.clientAddr).
type resolvedClientKey struct{}

// resolvedClient holds a front request's client address. The request's reset
// closes it, which gives it back to resolvedClients: resolving costs no allocation.
type resolvedClient struct{ addr clientaddr.ClientAddr }

// Close gives r back to resolvedClients.
func (r *resolvedClient) Close() error {
	r.addr = clientaddr.ClientAddr{}
	resolvedClients.Put(r)
	return nil
}

// resolvedClients are the holders of resolved client addresses.
var resolvedClients = sync.Pool{New: func() any { return new(resolvedClient) }}

// NewFront builds the server core in front of the gateway s.
func (s *Server) NewFront() *Front {
	f := &Front{s: s, log: s.log, mem: newMemListener()}
	f.srv = &fasthttp.Server{
		Handler:               f.serve,
		ErrorHandler:          f.badRequest,
		HeaderReceived:        headerTimeouts,
		Name:                  "jfguard",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         false,
		ReadBufferSize:        frontMaxHead,
		MaxRequestBodySize:    frontBodyInMemory,
		StreamRequestBody:     true,
		ReadTimeout:           frontHeadTimeout,
		IdleTimeout:           frontIdleTimeout,
		CloseOnShutdown:       true,
		// jfguard forwards what it was sent: no multipart parsing, ever.
		DisablePreParseMultipartForm: true,
		Logger:                       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	f.engine = &fasthttp.HostClient{
		Addr:                      "jfguard-engine",
		Dial:                      func(string) (net.Conn, error) { return f.mem.Dial() },
		StreamResponseBody:        true,
		DisablePathNormalizing:    true,
		NoDefaultUserAgentHeader:  true,
		MaxIdemponentCallAttempts: 1,
		MaxIdleConnDuration:       time.Minute,
		ReadBufferSize:            frontMaxHead,
	}
	if up := s.opts.Upstream; up != nil && (up.Path == "" || up.Path == "/") && up.RawQuery == "" {
		f.upstream = &fasthttp.HostClient{
			Addr:                     hostPort(up.Host, up.Scheme),
			IsTLS:                    up.Scheme == "https",
			StreamResponseBody:       true,
			DisablePathNormalizing:   true,
			NoDefaultUserAgentHeader: true,
			MaxIdleConnDuration:      90 * time.Second,
			ReadBufferSize:           frontMaxHead,
			WriteBufferSize:          64 << 10,
			MaxConns:                 1024,
			MaxConnWaitTimeout:       10 * time.Second,
		}
	}
	if f.upstream != nil && !f.upstream.IsTLS {
		f.direct = newUpstreamClient(f.upstream.Addr)
	}
	f.inner = &http.Server{
		Handler:     http.HandlerFunc(f.fromFront),
		IdleTimeout: frontIdleTimeout,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return f
}

// hostPort is host with the scheme's port when it names none.
func hostPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if scheme == "https" {
		return net.JoinHostPort(host, "443")
	}
	return net.JoinHostPort(host, "80")
}

// headerTimeouts gives a request with a body the time an upload over a slow link
// needs; one without must arrive whole within frontHeadTimeout.
func headerTimeouts(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if h.ContentLength() != 0 {
		return fasthttp.RequestConfig{ReadTimeout: frontBodyTimeout}
	}
	return fasthttp.RequestConfig{}
}

// Serve accepts connections on ln until Shutdown.
func (f *Front) Serve(ln net.Listener) error {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := f.inner.Serve(f.mem); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, errListenerClosed) {
			f.log.Error("engine", "err", err)
		}
	}()
	return f.srv.Serve(ln)
}

// Shutdown stops accepting, lets requests in flight finish (until ctx ends), then
// stops the engine.
func (f *Front) Shutdown(ctx context.Context) error {
	err := f.srv.ShutdownWithContext(ctx)
	if e := f.inner.Shutdown(ctx); e != nil && err == nil {
		err = e
	}
	f.mem.Close()
	f.wg.Wait()
	if f.direct != nil {
		f.direct.closeIdle()
	}
	return err
}

// serve is the front's handler for every request.
func (f *Front) serve(ctx *fasthttp.RequestCtx) {
	defer f.recover(ctx)
	req := &ctx.Request
	if err := wire.CheckRequest(req); err != nil {
		f.log.Debug("ambiguous request refused", "reason", err, "peer", ctx.RemoteAddr().String())
		f.refuse(ctx, http.StatusBadRequest)
		return
	}
	if err := wire.BufferChunked(req, frontBodyInMemory); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, wire.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		f.log.Debug("chunked body refused", "reason", err, "peer", ctx.RemoteAddr().String())
		f.refuse(ctx, status)
		return
	}
	req.Header.Del(peerHeader)
	req.Header.Del(clientHeader)
	if !isWebSocket(&req.Header) {
		// Only WebSocket may switch protocols: a tunnel of another kind (h2c) would
		// carry requests past the gate. Without its Upgrade the request is an
		// ordinary one.
		req.Header.Del("Upgrade")
		req.Header.Del("Http2-Settings")
	}
	// The front has read the whole body or streams it: the engine and Jellyfin get
	// a request without the expectation, which the front has answered.
	req.Header.Del("Expect")
	if isWebSocket(&req.Header) || isEventFeed(&req.Header) {
		f.handOnJoined(ctx)
		return
	}
	if addr, ok := f.fastPass(ctx); ok {
		f.proxy(ctx, addr)
		return
	}
	f.handOn(ctx)
}

// recover answers 500 for a handler that panicked, as the engine's recoverer does.
func (f *Front) recover(ctx *fasthttp.RequestCtx) {
	if v := recover(); v != nil {
		f.log.Error("panic serving request", "path", requestPath(ctx), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		ctx.Response.Reset()
		ctx.SetStatusCode(http.StatusInternalServerError)
		ctx.SetConnectionClose()
	}
}

// badRequest answers a request the parser refused: 431 for a head too large, 413
// for a body, 400 for anything else, and closes the connection (what follows on it
// cannot be trusted to start where the parser thinks).
func (f *Front) badRequest(ctx *fasthttp.RequestCtx, err error) {
	status := http.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		status = http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	f.log.Debug("malformed request", "err", err, "peer", ctx.RemoteAddr().String())
	f.refuse(ctx, status)
}

// refuse answers status with no body and closes the connection.
func (f *Front) refuse(ctx *fasthttp.RequestCtx, status int) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetConnectionClose()
}

// proxy sends a request the gate lets through to Jellyfin and streams the answer
// back, as the engine's proxy would: the same forwarding headers, no hop-by-hop
// headers either way, the request target as the client sent it.
func (f *Front) proxy(ctx *fasthttp.RequestCtx, addr clientaddr.ClientAddr) {
	req := &ctx.Request
	stripHopHeaders(&req.Header)
	for _, h := range [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Jfguard-Client"} {
		req.Header.Del(h)
	}
	if addr.IP.IsValid() {
		req.Header.Set("X-Forwarded-For", addr.IP.String())
	}
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.SetBytesV("X-Forwarded-Host", req.Header.Host())
	if f.direct != nil {
		if err := f.direct.do(ctx); err != nil {
			f.upstreamFailed(ctx, err)
			return
		}
		stripAnswerHeaders(&ctx.Response.Header)
		return
	}
	resp := fasthttp.AcquireResponse()
	if err := f.upstream.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		f.upstreamFailed(ctx, err)
		return
	}
	relay(ctx, resp)
}

// upstreamFailed answers 502 for a request Jellyfin did not answer.
func (f *Front) upstreamFailed(ctx *fasthttp.RequestCtx, err error) {
	f.log.Warn("upstream unreachable", "path", requestPath(ctx), "err", err)
	ctx.Response.Reset()
	ctx.SetStatusCode(http.StatusBadGateway)
}

// requestPath is the path of ctx's request as sent, for logs: without the query,
// which may hold a token.
func requestPath(ctx *fasthttp.RequestCtx) string {
	p, _, _ := bytes.Cut(ctx.Request.Header.RequestURI(), []byte("?"))
	return string(p)
}

// handOn sends a request to the engine, which serves it as it would a client's,
// and streams the answer back.
func (f *Front) handOn(ctx *fasthttp.RequestCtx) {
	f.tellEngine(ctx)
	resp := fasthttp.AcquireResponse()
	if err := f.engine.Do(&ctx.Request, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		f.log.Error("engine unreachable", "path", requestPath(ctx), "err", err)
		ctx.SetStatusCode(http.StatusInternalServerError)
		return
	}
	relay(ctx, resp)
}

// relay makes resp, an answer read from the upstream or the engine, ctx's answer:
// its headers but those of the connection it came on (whether the client's
// connection stays open is the front's business), and its body streamed as it
// arrives. resp is released once the client has the body.
func relay(ctx *fasthttp.RequestCtx, resp *fasthttp.Response) {
	resp.Header.CopyTo(&ctx.Response.Header)
	stripAnswerHeaders(&ctx.Response.Header)
	switch {
	case ctx.IsHead():
		ctx.Response.SkipBody = true
		fasthttp.ReleaseResponse(resp)
	case resp.IsBodyStream():
		size := resp.Header.ContentLength()
		if size < 0 {
			size = -1
		}
		ctx.Response.SetBodyStream(&upstreamBody{resp: resp, r: resp.BodyStream()}, size)
	default:
		ctx.Response.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
	}
}

// stripAnswerHeaders removes from a relayed answer the headers about the connection
// it came on: whether the client's stays open is the front's business.
func stripAnswerHeaders(h *fasthttp.ResponseHeader) {
	h.ResetConnectionClose()
	for _, name := range [...]string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate"} {
		h.Del(name)
	}
}

// upstreamBody is an answer's body on its way from the upstream's connection to the
// client's.
type upstreamBody struct {
	resp *fasthttp.Response
	r    io.Reader
}

func (b *upstreamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// WriteTo moves a body of known length in large pieces: a video then costs a few
// system calls per megabyte instead of one per 4 KiB.
func (b *upstreamBody) WriteTo(w io.Writer) (int64, error) {
	buf := relayBuffers.Get().(*[]byte)
	defer relayBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{b.r}, *buf)
}

// CloseWithError ends the body once the server has written it or failed to: a
// body the client did not take whole closes the upstream connection rather than
// read the rest of it.
func (b *upstreamBody) CloseWithError(error) error {
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}

// relayBuffers are upstreamBody's copy buffers.
var relayBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// stripHopHeaders removes the headers that concern one connection only, and those
// its Connection header names.
func stripHopHeaders(h *fasthttp.RequestHeader) {
	if conn := h.Peek("Connection"); len(conn) > 0 {
		for _, name := range bytes.Split(conn, []byte(",")) {
			if name = bytes.TrimSpace(name); len(name) > 0 {
				h.DelBytes(name)
			}
		}
	}
	for _, name := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "Te", "Trailer", "Upgrade"} {
		h.Del(name)
	}
}

// isWebSocket reports whether a request asks to switch to WebSocket, the one
// protocol switch jfguard lets through (Jellyfin's /socket).
func isWebSocket(h *fasthttp.RequestHeader) bool {
	return wire.EqualFold(h.Peek("Upgrade"), "websocket")
}

// isEventFeed reports whether a request is for jfguard's event feed, an answer that
// lasts as long as its reader: it is joined to the engine, which then learns at once
// when the reader leaves.
func isEventFeed(h *fasthttp.RequestHeader) bool {
	uri := h.RequestURI()
	return h.IsGet() && (string(uri) == "/jfguard/api/events" || bytes.HasPrefix(uri, []byte("/jfguard/api/events?")))
}

// handOnJoined hands a request whose answer outlives a request (a protocol switch,
// the event feed) to the engine, whose gate decides it as any other, then joins the
// client's connection to the engine's for as long as both stay open. The engine is
// told to close after this one answer: whatever else the client sent on the
// connection never reaches it as a request.
func (f *Front) handOnJoined(ctx *fasthttp.RequestCtx) {
	f.tellEngine(ctx)
	h := &ctx.Request.Header
	if isWebSocket(h) {
		h.Set("Connection", "Upgrade, close")
	} else {
		h.SetConnectionClose()
	}
	var head bytes.Buffer
	if _, err := ctx.Request.WriteTo(&head); err != nil {
		f.refuse(ctx, http.StatusBadRequest)
		return
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		engine, err := f.mem.Dial()
		if err != nil {
			return
		}
		defer engine.Close()
		if _, err := engine.Write(head.Bytes()); err != nil {
			return
		}
		join(client, engine)
	})
}

// join copies bytes both ways until either side ends, then closes both.
func join(a, b net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		done <- struct{}{}
	}
	go pipe(a, b)
	go pipe(b, a)
	<-done
	_ = a.Close()
	_ = b.Close()
	<-done
}

// tellEngine writes on a request handed to the engine what the front knows of it:
// its peer and its client address.
func (f *Front) tellEngine(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	h.Set(peerHeader, ctx.RemoteAddr().String())
	h.Set(clientHeader, formatClientAddr(f.clientAddr(ctx)))
}

// fromFront serves a request the front handed on: its peer is the one the front
// saw, its client address the one the front resolved. A request without a client
// address the engine can read is refused: nothing is decided on an address the
// front did not give.
func (f *Front) fromFront(w http.ResponseWriter, r *http.Request) {
	addr, err := parseClientAddr(r.Header.Get(clientHeader))
	if err != nil {
		f.log.Error("request from the front", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	r.RemoteAddr = r.Header.Get(peerHeader)
	r.Header.Del(peerHeader)
	r.Header.Del(clientHeader)
	f.s.ServeHTTP(w, r.WithContext(withClientAddr(r.Context(), addr)))
}
