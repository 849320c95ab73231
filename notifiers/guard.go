package notifiers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Timeouts of outbound HTTP: a receiver that does not answer delays only its own sink,
// and never for longer than this.
const (
	dialTimeout  = 5 * time.Second
	totalTimeout = 10 * time.Second
)

// ErrBlockedAddress is returned when an HTTP sink would connect to an address inside
// the network jfguard runs in (loopback, private, link-local, …) and the host is not
// in notify.allow_private_hosts.
var ErrBlockedAddress = errors.New("address is not public")

// cgnat is the shared address space of carrier-grade NAT (RFC 6598), routed inside
// providers' networks and never on the internet.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses embed an IPv4
// address, which decides where the connection really ends up.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// thisNetwork is 0.0.0.0/8, which Linux connects to as the local host.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// blockedAddr reports whether connecting to ip would reach something other than the
// public internet. Alert receivers are admin-configured, but a webhook URL is still a
// request forgery vector: it must not become a way to reach the cloud metadata
// service, the router's admin page or services bound to loopback.
func blockedAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return ip.IsLoopback() ||
		ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() ||
		ip.IsUnspecified() ||
		cgnat.Contains(ip) ||
		thisNetwork.Contains(ip) ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// guard decides which hosts HTTP sinks may reach. The allow list holds host names and
// IP literals exactly as written in URLs; everything else must resolve to public
// addresses, checked on the socket being connected so a DNS answer that changes
// between a check and the connection (rebinding) cannot slip through.
type guard struct {
	allow map[string]bool
}

func newGuard(allow []string) *guard {
	g := &guard{allow: map[string]bool{}}
	for _, h := range allow {
		g.allow[normalizeHost(h)] = true
	}
	return g
}

// normalizeHost makes "[::1]", "::1" and "Gotify.LAN." compare equal to their URL forms.
func normalizeHost(h string) string {
	h = strings.TrimSpace(strings.ToLower(h))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

// allowed reports whether host (as written in a URL) is on the allow list.
func (g *guard) allowed(host string) bool { return g.allow[normalizeHost(host)] }

// control runs on every socket just before it connects, with the resolved address.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrBlockedAddress, address)
	}
	if blockedAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// dialContext connects to addr, checking the address actually connected to unless the
// host is allowed.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !g.allowed(host) {
		d.Control = control
	}
	return d.DialContext(ctx, network, addr)
}

// client returns the HTTP client every HTTP sink uses: guarded dialing, no proxy from
// the environment (a proxy would hide the real destination from the guard), bounded
// time, and redirects refused (a redirect is a second destination nobody configured).
func (g *guard) client() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.dialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: totalTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   totalTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// parseEndpoint checks a receiver URL from the settings: http or https, a host, no
// credentials in it (they would end up in logs). key names the setting in errors.
func parseEndpoint(key, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a URL: %w", key, redactURL(raw), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: scheme %q is not allowed; use an http:// or https:// URL", key, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%s: %q has no host", key, redactURL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials in the URL are not allowed; use the token or password settings", key)
	}
	u.Fragment = ""
	return u, nil
}

// redactURL keeps the scheme and host of a URL: paths and queries of webhook URLs
// often carry the receiver's secret (chat webhooks put a token in the path).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// requestError turns a client error into one that names the host but not the URL.
func requestError(sink string, u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: POST to %s: %w", sink, u.Host, err)
}
