package gateway

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/http/clientaddr"
)

// clientAddrKey carries the resolved client address in the request's context, to
// the handlers (clientAddr) and to the proxy's Rewrite.
type clientAddrKey struct{}

// resolveClientAddr resolves a client address from the TCP peer and the forwarding
// headers: the address bans, rate limits, LAN bypass and the events are decided on,
// and the one the proxy forwards to Jellyfin. It is the one place jfguard resolves
// one, once per request: the front calls it for every request it reads
// (Front.clientAddr) and hands its result to the engine with the request; only a
// request that reaches the engine without the front (the engine served alone, in
// tests) is resolved by resolveClient.
func (s *Server) resolveClientAddr(peer netip.Addr, forwardedFor []string, forwarded bool) clientaddr.ClientAddr {
	if !peer.IsValid() {
		// Nothing can be granted to a request whose peer is not an address.
		s.log.Debug("client address", "err", clientaddr.ErrInvalidRemoteAddr)
		return clientaddr.ClientAddr{Forwarded: forwarded}
	}
	addr, err := clientaddr.Resolve(peer, forwardedFor, forwarded, s.opts.ProxyTrust)
	if err != nil {
		s.log.Debug("client address", "err", err, "peer", peer)
	}
	return addr
}

// resolveClient gives every request reaching the engine, jfguard's own routes and
// Jellyfin's alike, its client address before any handler runs: the one the front
// resolved, or, for a request that did not come through the front, the one
// resolveClientAddr resolves from the request. Handlers read it with clientAddr.
func (s *Server) resolveClient() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		addr, ok := clientAddrOf(r.Context())
		if !ok {
			addr = s.resolveClientAddr(peerOf(r.RemoteAddr), r.Header["X-Forwarded-For"],
				len(r.Header["X-Forwarded-For"]) > 0 || len(r.Header["Forwarded"]) > 0 || len(r.Header["X-Real-Ip"]) > 0)
			c.Request = r.WithContext(withClientAddr(r.Context(), addr))
		}
		if !operatorRoute(r.URL.Path) {
			s.metrics.clientSources[addrSource(addr)].Inc()
		}
		c.Next()
	}
}

// peerOf is the address of a request's RemoteAddr (with or without a port),
// unmapped and without zone as ClientAddr keeps it; the zero Addr when it is none.
func peerOf(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return a.WithZone("").Unmap()
	}
	return netip.Addr{}
}

// withClientAddr is ctx carrying the request's client address.
func withClientAddr(ctx context.Context, addr clientaddr.ClientAddr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// clientAddr is the client address of the request, as resolveClient gave it. A
// request it did not see has the zero ClientAddr: no IP, and LAN bypass refused.
func clientAddr(c *gin.Context) clientaddr.ClientAddr {
	addr, _ := clientAddrOf(c.Request.Context())
	return addr
}

// clientAddrOf is the client address stored in ctx, if any.
func clientAddrOf(ctx context.Context) (clientaddr.ClientAddr, bool) {
	addr, ok := ctx.Value(clientAddrKey{}).(clientaddr.ClientAddr)
	return addr, ok
}

// The client address as the front hands it to the engine (clientHeader): the
// resolved address, the peer ("-" for none) and the flags that are set, one letter
// each ("-" for none).
const (
	flagForwarded  = 'f'
	flagViaProxy   = 'p'
	flagBypassSafe = 'b'
)

// errClientHeader: the engine got a request from the front whose client address it
// cannot read.
var errClientHeader = errors.New("the front's client address header is malformed")

// formatClientAddr writes a ClientAddr for clientHeader.
func formatClientAddr(a clientaddr.ClientAddr) string {
	flags := make([]byte, 0, 3)
	for _, f := range [...]struct {
		on   bool
		flag byte
	}{{a.Forwarded, flagForwarded}, {a.ViaProxy, flagViaProxy}, {a.BypassSafe, flagBypassSafe}} {
		if f.on {
			flags = append(flags, f.flag)
		}
	}
	if len(flags) == 0 {
		flags = append(flags, '-')
	}
	return addrText(a.IP) + " " + addrText(a.Peer) + " " + string(flags)
}

// parseClientAddr reads what formatClientAddr wrote, and nothing else.
func parseClientAddr(v string) (clientaddr.ClientAddr, error) {
	fields := strings.Split(v, " ")
	if len(fields) != 3 {
		return clientaddr.ClientAddr{}, errClientHeader
	}
	var a clientaddr.ClientAddr
	var ok1, ok2 bool
	a.IP, ok1 = parseAddrText(fields[0])
	a.Peer, ok2 = parseAddrText(fields[1])
	if !ok1 || !ok2 || fields[2] == "" {
		return clientaddr.ClientAddr{}, errClientHeader
	}
	if fields[2] == "-" {
		return a, nil
	}
	for i := 0; i < len(fields[2]); i++ {
		switch fields[2][i] {
		case flagForwarded:
			a.Forwarded = true
		case flagViaProxy:
			a.ViaProxy = true
		case flagBypassSafe:
			a.BypassSafe = true
		default:
			return clientaddr.ClientAddr{}, errClientHeader
		}
	}
	return a, nil
}

// addrText is an address for clientHeader, "-" for none.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

// parseAddrText reads what addrText wrote.
func parseAddrText(s string) (netip.Addr, bool) {
	if s == "-" {
		return netip.Addr{}, true
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == ""
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
