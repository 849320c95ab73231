package gateway

import (
	"bytes"
	"net/http"

	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/valyala/fasthttp"
)

// fastPass reports whether the front may proxy a request itself: the gate would
// let it through unchanged. That is a GET or HEAD, spelled as clients spell them,
// on a plain path that is neither jfguard's nor one the proxy rewrites, from an
// address without a ban, carrying no token or one jfguard knows passes (a verified
// session or an API key). Anything else, even what would pass after more work (a
// token to resolve at Jellyfin), goes to the engine, so the fast path can only
// ever agree with the gate.
func (f *Front) fastPass(ctx *fasthttp.RequestCtx) (clientaddr.ClientAddr, bool) {
	h := &ctx.Request.Header
	if f.upstream == nil || !(h.IsGet() || h.IsHead()) {
		return clientaddr.ClientAddr{}, false
	}
	target := h.RequestURI()
	p, query, _ := bytes.Cut(target, []byte("?"))
	if !plainProxyPath(p) {
		return clientaddr.ClientAddr{}, false
	}
	s := f.s
	addr := f.clientAddr(ctx)
	if s.banned(addr) {
		return addr, false
	}
	creds, err := upstream.ExtractCredentialsFrom(fasthttpValues(h), string(query))
	if err != nil {
		return addr, false
	}
	if creds.Token == "" {
		s.metrics.clientSources[addrSource(addr)].Inc()
		s.metrics.gate.WithLabelValues("no_token").Inc()
		return addr, true
	}
	th := tokenHash(creds.Token)
	var verified bool
	s.read(func(st *projections.State) {
		ref, ok := st.Tokens[th]
		verified = ok && ref.Status == projections.TokenVerified
	})
	if !verified {
		if !s.apiKeys.has(th) {
			return addr, false
		}
		s.metrics.apiKeyUse.WithLabelValues(th[:8]).Inc()
	}
	s.metrics.clientSources[addrSource(addr)].Inc()
	s.metrics.gate.WithLabelValues("pass").Inc()
	return addr, true
}

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
	return len(b) >= len(prefix) && equalFoldASCII(b[:len(prefix)], prefix)
}

// hasSuffixFoldBytes reports whether b ends with the lower-case ASCII suffix,
// ignoring case.
func hasSuffixFoldBytes(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && equalFoldASCII(b[len(b)-len(suffix):], suffix)
}

// equalFoldASCII compares b with a lower-case ASCII string, ignoring case.
func equalFoldASCII(b []byte, lower string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// clientAddr resolves the client address of a front request as the engine's
// resolveClient does, from the peer and the forwarding headers.
func (f *Front) clientAddr(ctx *fasthttp.RequestCtx) clientaddr.ClientAddr {
	var fwd http.Header
	for _, name := range [...]string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		for _, v := range ctx.Request.Header.PeekAll(name) {
			if fwd == nil {
				fwd = make(http.Header, 3)
			}
			fwd[name] = append(fwd[name], string(v))
		}
	}
	addr, err := clientaddr.ResolveClientAddr(ctx.RemoteAddr().String(), fwd, f.s.opts.ProxyTrust)
	if err != nil {
		f.log.Debug("client address", "err", err, "peer", ctx.RemoteAddr().String())
	}
	return addr
}

// fasthttpValues looks up a fasthttp request's header values by canonical name,
// for upstream.ExtractCredentialsFrom.
func fasthttpValues(h *fasthttp.RequestHeader) upstream.HeaderValues {
	return func(name string) []string {
		raw := h.PeekAll(name)
		if len(raw) == 0 {
			return nil
		}
		vals := make([]string, len(raw))
		for i, v := range raw {
			vals[i] = string(v)
		}
		return vals
	}
}
