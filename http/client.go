package gateway

import (
	"context"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/http/clientaddr"
)

// clientAddrKey carries the resolved client address in the request's context, to
// the handlers (clientAddr) and to the proxy's Rewrite.
type clientAddrKey struct{}

// resolveClient resolves the client address of every request, jfguard's own routes
// and Jellyfin's alike, once and before any handler runs: the address bans, rate
// limits, LAN bypass and the events are decided on, and the one the proxy forwards to
// Jellyfin. Handlers read it with clientAddr.
func (s *Server) resolveClient() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		addr, err := clientaddr.ResolveClientAddr(r.RemoteAddr, r.Header, s.opts.ProxyTrust)
		if err != nil {
			s.log.Debug("client address", "err", err, "peer", r.RemoteAddr)
		}
		if !operatorRoute(r.URL.Path) {
			s.metrics.clientSources[addrSource(addr)].Inc()
		}
		c.Request = r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, addr))
		c.Next()
	}
}

// clientAddr is the client address of the request, as resolveClient resolved it. A
// request it did not see has the zero ClientAddr: no IP, and LAN bypass refused.
func clientAddr(c *gin.Context) clientaddr.ClientAddr {
	addr, _ := clientAddrOf(c.Request.Context())
	return addr
}

// clientAddrOf is the client address resolveClient stored in ctx, if any.
func clientAddrOf(ctx context.Context) (clientaddr.ClientAddr, bool) {
	addr, ok := ctx.Value(clientAddrKey{}).(clientaddr.ClientAddr)
	return addr, ok
}

// addrSource names how a request's client address was learned, for the
// jfguard_client_addresses_total series that jfguard doctor reads: requests that
// reach jfguard without a forwarding header while forwarding is trusted went around
// the proxy, or came through one that does not say whom it forwards for.
func addrSource(a clientaddr.ClientAddr) string {
	switch {
	case a.ViaProxy && a.Forwarded:
		return "proxy"
	case a.ViaProxy:
		return "proxy_without_header"
	case a.Forwarded:
		return "untrusted_header"
	}
	return "direct"
}

// operatorRoute reports whether a path is one that operators and their tools call
// directly, not through the reverse proxy: the control API and the probes.
func operatorRoute(path string) bool {
	switch strings.TrimSuffix(path, "/") {
	case "/jfguard/rpc", "/jfguard/healthz", "/jfguard/readyz", "/jfguard/metrics":
		return true
	}
	return false
}
