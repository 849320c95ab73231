package gateway

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// Gate decisions for a token.
type verdict int

const (
	verdictPass verdict = iota
	verdictRefuse
	verdictUnavailable
)

// gate is the path of every request that is not jfguard's own: take the client
// address resolveClient resolved, extract the credential, classify the token, then
// proxy or refuse.
func (s *Server) gate(c *gin.Context) {
	r := c.Request
	addr := clientAddr(c)
	if s.banned(addr) {
		s.metrics.gate.WithLabelValues("banned").Inc()
		s.refuse(c, http.StatusForbidden, "forbidden")
		return
	}
	creds, err := upstream.ExtractCredentials(r)
	if err != nil {
		s.metrics.gate.WithLabelValues("bad_credentials").Inc()
		s.refuse(c, http.StatusUnauthorized, "unusable credentials")
		return
	}
	ctx := r.Context()

	switch route := jellyfinRoute(r); route {
	case routePasswordStep:
		s.handlePasswordStep(c, addr, creds)
		return
	case routeQuickConnectAuth:
		s.handleQuickConnectAuthenticate(c, addr, creds)
		return
	case routeQuickConnectInitiate:
		s.handleQuickConnectInitiate(c)
		return
	}
	if creds.Token == "" {
		s.metrics.gate.WithLabelValues("no_token").Inc()
		s.proxy.ServeHTTP(c.Writer, c.Request)
		return
	}
	switch s.classify(ctx, creds, addr) {
	case verdictRefuse:
		s.metrics.gate.WithLabelValues("refused").Inc()
		s.refuse(c, http.StatusUnauthorized, "this session needs a second factor")
		return
	case verdictUnavailable:
		s.metrics.gate.WithLabelValues("unavailable").Inc()
		s.refuse(c, http.StatusServiceUnavailable, "cannot check this session right now")
		return
	}
	s.metrics.gate.WithLabelValues("pass").Inc()
	switch jellyfinRoute(r) {
	case routeQuickConnectAuthorize:
		if !s.authorizeQuickConnect(c, creds, addr) {
			return
		}
	case routeLogout:
		s.proxyLogout(c, creds, addr)
		return
	}
	s.proxy.ServeHTTP(c.Writer, c.Request)
}

// refuse answers a gate refusal: a JSON error that names no user and no reason
// beyond what the client can act on.
func (s *Server) refuse(c *gin.Context, status int, msg string) {
	s.setSecurityHeaders(c.Writer.Header())
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"jfguard": gin.H{"error": msg}})
}

// refuseBanned stops a banned address at jfguard's own sign-in and self-service API,
// as the gate does for Jellyfin's: with a stolen token or challenge id it could
// otherwise still create app passwords or answer challenges. The control API stays
// reachable with the admin token, so a ban can be lifted from the banned address.
func (s *Server) refuseBanned() gin.HandlerFunc {
	return func(c *gin.Context) {
		addr := clientAddr(c)
		if s.banned(addr) {
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "forbidden"})
			return
		}
		c.Next()
	}
}

// banned reports whether a ban holds for the client: one on its address block, or
// one an older version of jfguard recorded on its IPv6 address alone.
func (s *Server) banned(addr clientaddr.ClientAddr) bool {
	keys := domain.BanKeys(addr.IP, s.opts.IPv6Prefix)
	if len(keys) == 0 {
		return false
	}
	now := s.now()
	var banned bool
	s.read(func(st *projections.State) {
		for _, k := range keys {
			banned = banned || st.Addresses[k].Banned(now)
		}
	})
	return banned
}

// Routes of Jellyfin the gate treats specially.
type route int

const (
	routeOther route = iota
	routePasswordStep
	routeQuickConnectInitiate
	routeQuickConnectAuthorize
	routeQuickConnectAuth
	routeLogout
)

// jellyfinRoute recognises the routes jfguard intercepts. Jellyfin's routing is
// case-insensitive the .NET way (each character upper-cased: "authentıcatebyname"
// with a dotless i is the same route), Kestrel removes dot segments before routing
// ("/Users/AuthenticateByName/." is the sign-in), and a server may sit under a base
// path, so clean the path, upper-case it and match its end. Cleaning also merges
// repeated slashes, which Kestrel keeps: that can only make jfguard intercept a
// request Jellyfin then refuses, never miss one. Methods match ignoring case, as
// ASP.NET Core matches them (HttpMethods.Equals is an ordinal ignore-case
// comparison), because Go's server hands the method on as the client wrote it: a
// "post" is Jellyfin's POST.
func jellyfinRoute(r *http.Request) route {
	if !sameMethod(r.Method, http.MethodPost) {
		return routeOther
	}
	p := strings.ToUpper(path.Clean(r.URL.Path))
	switch {
	case strings.HasSuffix(p, "/USERS/AUTHENTICATEBYNAME"):
		return routePasswordStep
	case strings.HasSuffix(p, "/USERS/AUTHENTICATEWITHQUICKCONNECT"):
		return routeQuickConnectAuth
	case strings.HasSuffix(p, "/QUICKCONNECT/INITIATE"):
		return routeQuickConnectInitiate
	case strings.HasSuffix(p, "/QUICKCONNECT/AUTHORIZE"):
		return routeQuickConnectAuthorize
	case strings.HasSuffix(p, "/SESSIONS/LOGOUT"):
		return routeLogout
	case strings.HasSuffix(p, "/AUTHENTICATE") && strings.Contains(p, "/USERS/"):
		return routePasswordStep
	}
	return routeOther
}

// sameMethod compares HTTP methods the way ASP.NET Core does: ignoring case.
// Methods are tokens of ASCII characters (Go's server refuses any other), so ASCII
// folding is the whole of it.
func sameMethod(got, want string) bool { return strings.EqualFold(got, want) }

// classify decides whether a token may pass. Known tokens are one map lookup; API
// keys one more; an unknown token is resolved once at Jellyfin and remembered.
func (s *Server) classify(ctx context.Context, creds upstream.Credentials, addr clientaddr.ClientAddr) verdict {
	h := tokenHash(creds.Token)
	var ref projections.TokenRef
	var known bool
	s.read(func(st *projections.State) { ref, known = st.Tokens[h] })
	if known {
		if ref.Status == projections.TokenVerified {
			return verdictPass
		}
		return verdictRefuse
	}
	if s.apiKeys.has(h) {
		s.metrics.apiKeyUse.WithLabelValues(h[:8]).Inc()
		return verdictPass
	}
	v := s.unknown.resolve(h, func() (verdict, time.Duration) { return s.resolveUnknown(ctx, creds, h, addr) })
	if v == verdictPass && s.apiKeys.has(h) {
		// A key first seen on this request counts too.
		s.metrics.apiKeyUse.WithLabelValues(h[:8]).Inc()
	}
	return v
}

// resolveUnknown handles a token jfguard has never seen: a session from before
// jfguard was installed, a session made directly at Jellyfin, or an API key created
// since the last refresh. It fails closed for users who need a second factor.
func (s *Server) resolveUnknown(ctx context.Context, creds upstream.Credentials, h string, addr clientaddr.ClientAddr) (verdict, time.Duration) {
	if s.apiKeys.refreshSoon(ctx) && s.apiKeys.has(h) {
		return verdictPass, time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, err := s.jf.Me(ctx, creds.Token)
	var se *upstream.StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusUnauthorized:
		// Not a valid token at Jellyfin: let Jellyfin refuse it as it would.
		return verdictPass, 10 * time.Second
	case errors.As(err, &se) && se.Status == http.StatusBadRequest:
		// Jellyfin accepted the token but it names no user: an API key created since
		// the list was fetched (refreshSoon keeps a list for 10 seconds). Only a token
		// Jellyfin accepts gets here, so fetching the list again cannot be abused.
		if err := s.apiKeys.refreshNow(ctx); err != nil {
			return verdictUnavailable, 5 * time.Second
		}
		if s.apiKeys.has(h) {
			return verdictPass, time.Minute
		}
		return verdictRefuse, 30 * time.Second
	case err != nil:
		s.log.Warn("cannot resolve an unknown token", "err", err)
		return verdictUnavailable, 5 * time.Second
	}
	pol := s.Policy()
	reason := ""
	var needs bool
	s.read(func(st *projections.State) {
		user := st.Users[u.ID]
		needs = pol.Enabled && (pol.RequireAll || (user != nil && user.HasSecondFactor()))
	})
	switch {
	case !pol.Enabled:
		reason = domain.ReasonDisabled
	case !needs:
		reason = domain.ReasonNoSecondFactor
	case pol.LANBypass && addr.BypassSafe && pol.InLAN(addr.IP):
		reason = domain.ReasonLAN
	default:
		s.log.Info("refused a session jfguard did not verify", "user", u.Name, "ip", addr.IP.String())
		return verdictRefuse, 30 * time.Second
	}
	// The token is kept sealed like every other session's, so signing the user out
	// everywhere can log it out at Jellyfin.
	sealed, err := s.opts.Sealer.Seal(ctx, u.ID, []byte(creds.Token))
	if err != nil {
		s.log.Error("seal a resolved session", "err", err)
		return verdictUnavailable, time.Second
	}
	_, err = s.opts.Projector.ExecUser(ctx, u.ID, s.eventContext(u.ID, addr, creds), func(user *domain.User, now time.Time) ([]events.Payload, error) {
		var evs []events.Payload
		if !user.Known() {
			evs = append(evs, &events.UserDiscovered{Name: u.Name, Admin: u.Policy.IsAdministrator})
		}
		if user.Sessions[h] != nil {
			return evs, nil
		}
		return append(evs, domain.NewSessionVerified(h, reason, sealed)), nil
	})
	if err != nil {
		s.log.Error("record verified session", "err", err)
		return verdictUnavailable, time.Second
	}
	return verdictPass, time.Minute
}

// eventContext is the envelope context of an event caused by a request.
func (s *Server) eventContext(actor string, addr clientaddr.ClientAddr, creds upstream.Credentials) events.Context {
	ec := events.Context{Actor: actor}
	if addr.IP.IsValid() {
		ec.IP = addr.IP.String()
	}
	if creds.DeviceID != "" || creds.Client != "" {
		ec.Device = &events.Device{ID: creds.DeviceID, Name: creds.Device, Client: creds.Client, Version: creds.Version}
	}
	return ec
}
