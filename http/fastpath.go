package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"unsafe"

	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/http/wire"
	"github.com/jfguard/jfguard/projections"
	"github.com/valyala/fasthttp"
)

// fastPass reports whether the front may proxy a request itself: the gate would
// let it through unchanged. That is a GET or HEAD, spelled as clients spell them,
// naming its host (an HTTP/1.0 request without one is the engine's to complete),
// on a plain path that is neither jfguard's, nor one the proxy rewrites, nor one
// the step-up rule guards (guarded_routes.go: GET /Auth/Keys lists API keys),
// from an address without a ban, carrying no token or one jfguard knows passes (a
// verified session or an API key). Anything else, even what would pass after more
// work (a token to resolve at Jellyfin), goes to the engine, so the fast path can
// only ever agree with the gate.
func (f *Front) fastPass(ctx *fasthttp.RequestCtx) (clientaddr.ClientAddr, bool) {
	h := &ctx.Request.Header
	if f.upstream == nil || !(h.IsGet() || h.IsHead()) || len(h.Host()) == 0 {
		return clientaddr.ClientAddr{}, false
	}
	target := h.RequestURI()
	p, query, _ := bytes.Cut(target, []byte("?"))
	if !plainProxyPath(p) || guardOf(http.MethodGet, viewString(p)) != "" {
		return clientaddr.ClientAddr{}, false
	}
	s := f.s
	addr := f.clientAddr(ctx)
	if s.banned(addr) {
		return addr, false
	}
	creds, err := upstream.ExtractCredentialsFrom(func(name string, i int) (string, bool) {
		if i == 0 {
			// Most headers are sent once: no list to build.
			if v := h.Peek(name); len(v) > 0 {
				return viewString(v), true
			}
		}
		if vals := h.PeekAll(name); i < len(vals) {
			return viewString(vals[i]), true
		}
		return "", false
	}, viewString(query))
	if err != nil {
		return addr, false
	}
	if creds.Token == "" {
		s.metrics.clientSources[addrSource(addr)].Inc()
		s.metrics.gateNoToken.Inc()
		return addr, true
	}
	var th [sha256.Size * 2]byte
	tokenHashTo(&th, creds.Token)
	var verified bool
	s.read(func(st *projections.State) {
		ref, ok := st.Tokens[string(th[:])]
		verified = ok && ref.Status == projections.TokenVerified
	})
	if !verified {
		if !s.apiKeys.hasHash(th[:]) {
			return addr, false
		}
		s.metrics.apiKeyUsed(th[:8])
	}
	s.metrics.clientSources[addrSource(addr)].Inc()
	s.metrics.gatePass.Inc()
	return addr, true
}

// tokenHashTo writes tokenHash(token) into dst without allocating.
func tokenHashTo(dst *[sha256.Size * 2]byte, token string) {
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	hex.Encode(dst[:], sum[:])
}

// viewString is b as a string without a copy. The front uses it for the request's
// own bytes, which stay put until its handler returns, and only for calls that keep
// nothing of what they are given.
func viewString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// plainProxyPath reports whether a request path is one the fast path may take:
// it reads the same encoded and decoded (no '%', no byte outside printable ASCII,
// no backslash), has no empty or dot segment to be normalised, is not under
// /jfguard in any case, and is not the web app's index page (which the proxy
// rewrites). Every other path goes to the engine, which matches it as Jellyfin
// would.
func plainProxyPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for _, c := range p {
		if c <= ' ' || c >= 0x7f || c == '%' || c == '\\' {
			return false
		}
	}
	if bytes.Contains(p, []byte("//")) || bytes.Contains(p, []byte("/./")) || bytes.Contains(p, []byte("/../")) ||
		bytes.HasSuffix(p, []byte("/.")) || bytes.HasSuffix(p, []byte("/..")) {
		return false
	}
	if hasPrefixFoldBytes(p, "/jfguard") {
		return false
	}
	for _, suffix := range [...]string{"/web", "/web/", "/web/index.html"} {
		if hasSuffixFoldBytes(p, suffix) {
			return false
		}
	}
	return true
}

// hasPrefixFoldBytes reports whether b starts with the lower-case ASCII prefix,
// ignoring case.
func hasPrefixFoldBytes(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && wire.EqualFold(b[:len(prefix)], prefix)
}

// hasSuffixFoldBytes reports whether b ends with the lower-case ASCII suffix,
// ignoring case.
func hasSuffixFoldBytes(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && wire.EqualFold(b[len(b)-len(suffix):], suffix)
}

// clientAddr is the client address of a front request, resolved by
// resolveClientAddr the first time it is asked for (by the fast path, or when the
// request is handed to the engine) and read back after: one resolution per
// request, whichever way it goes.
func (f *Front) clientAddr(ctx *fasthttp.RequestCtx) clientaddr.ClientAddr {
	if r, ok := ctx.UserValue(resolvedClientKey{}).(*resolvedClient); ok {
		return r.addr
	}
	h := &ctx.Request.Header
	var buf [4]string
	lines := buf[:0]
	for _, v := range h.PeekAll("X-Forwarded-For") {
		lines = append(lines, viewString(v))
	}
	forwarded := len(lines) > 0 || len(h.PeekAll("Forwarded")) > 0 || len(h.PeekAll("X-Real-Ip")) > 0
	tcp, isTCP := ctx.RemoteAddr().(*net.TCPAddr)
	peer := tcp.AddrPort().Addr().WithZone("").Unmap()
	if !isTCP {
		peer = peerOf(ctx.RemoteAddr().String())
	}
	r := resolvedClients.Get().(*resolvedClient)
	r.addr = f.s.resolveClientAddr(peer, lines, forwarded)
	ctx.SetUserValue(resolvedClientKey{}, r)
	return r.addr
}
