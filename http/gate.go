package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// Gate decisions for a token.
type verdict int

const (
	verdictPass verdict = iota
	verdictRefuse
	verdictUnavailable
)

// gate is the path of every request that is not jfguard's own: take the client
// address resolveClient resolved, refuse a banned one, extract the credential, hand
// the routes jfguard intercepts to their handlers (interceptedRoutes, in routes.go),
// classify the token, hold the routes that change an account or run the server to
// the step-up rule (guarded_routes.go), then proxy or refuse.
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
	intercepted := interceptionOf(r)
	if intercepted != nil && intercepted.when == beforeToken {
		intercepted.handle(s, c, addr, creds)
		return
	}
	if creds.Token == "" {
		s.metrics.gate.WithLabelValues("no_token").Inc()
		s.proxy.ServeHTTP(c.Writer, c.Request)
		return
	}
	switch s.classify(r.Context(), creds, addr) {
	case verdictRefuse:
		s.metrics.gate.WithLabelValues("refused").Inc()
		s.refuse(c, http.StatusUnauthorized, "this session needs a second factor")
		return
	case verdictUnavailable:
		s.metrics.gate.WithLabelValues("unavailable").Inc()
		s.refuse(c, http.StatusServiceUnavailable, "cannot check this session right now")
		return
	}
	if action := guardedAction(r); action != "" && !s.mayTake(c, addr, creds, action) {
		s.metrics.gate.WithLabelValues("step_up_refused").Inc()
		return
	}
	s.metrics.gate.WithLabelValues("pass").Inc()
	if intercepted != nil && intercepted.when == afterPass {
		intercepted.handle(s, c, addr, creds)
		return
	}
	s.proxy.ServeHTTP(c.Writer, c.Request)
}

// mayTake applies the step-up rule to a token that passed, on a route that changes
// an account or runs the server, and answers the refusal when it may not: the same
// decision, answer (step_up_required, device_session, second_factor_required) and
// record (step_up_required) as jfguard's own account routes, recorded once a minute
// per session and action (see refusalMemo). A Jellyfin API key is let through: it is
// an administrator's credential for services by design, with no session to step
// up. A token that is neither a verified session nor an API key (one Jellyfin does
// not accept, let through for Jellyfin to refuse) is refused here.
func (s *Server) mayTake(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials, action domain.Action) bool {
	h := tokenHash(creds.Token)
	if s.apiKeys.has(h) {
		return true
	}
	var ref projections.TokenRef
	var known bool
	s.read(func(st *projections.State) { ref, known = st.Tokens[h] })
	if !known || ref.Status != projections.TokenVerified || ref.UserID == "" {
		s.refuse(c, http.StatusUnauthorized, "this route needs a verified session")
		return false
	}
	key := h + " " + string(action)
	a := usecase.Account{Caller: callerOf(addr, creds), UserID: ref.UserID, TokenHash: h, Action: action}
	var err error
	if s.gateRefusals.recent(key, s.now()) {
		err = s.app.Allowed(a)
	} else {
		if err = s.app.Authorize(c.Request.Context(), a); isStepUpRefusal(err) {
			s.gateRefusals.note(key, s.now())
		}
	}
	switch {
	case err == nil:
		return true
	case isStepUpRefusal(err), errors.Is(err, domain.ErrNoSession):
		s.setSecurityHeaders(c.Writer.Header())
		c.Header("Cache-Control", "no-store")
		s.fail(c, err)
	default:
		s.log.Error("authorize a guarded Jellyfin route", "err", err)
		s.refuse(c, http.StatusServiceUnavailable, "cannot check this session right now")
	}
	return false
}

// refusalMemo remembers the gate's recorded refusals for refusalMemoWindow. A
// client keeps asking for what it is refused (Jellyfin's web app asks for an
// administrator's plugin pages on every page it shows): each request is refused,
// but one step_up_required a minute per session and action tells the story.
type refusalMemo struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// Bounds of refusalMemo: how long a recorded refusal stands for the next ones, and
// how many it remembers before it forgets the old ones (then all: recording a
// refusal again is harmless).
const (
	refusalMemoWindow = time.Minute
	refusalMemoMax    = 10_000
)

// recent reports whether the refusal named key was recorded within the window.
func (m *refusalMemo) recent(key string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.seen[key]
	return ok && !now.Before(at) && now.Sub(at) < refusalMemoWindow
}

// note remembers that the refusal named key was recorded at now.
func (m *refusalMemo) note(key string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil || len(m.seen) >= refusalMemoMax {
		for k, at := range m.seen {
			if now.Sub(at) >= refusalMemoWindow {
				delete(m.seen, k)
			}
		}
		if m.seen == nil || len(m.seen) >= refusalMemoMax {
			m.seen = map[string]time.Time{}
		}
	}
	m.seen[key] = now
}

// handleLogout is the gate's path for a sign-out at Jellyfin (see proxyLogout).
func (s *Server) handleLogout(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials) {
	s.proxyLogout(c, creds, addr)
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
			s.fail(c, errAnsForbidden)
			return
		}
		c.Next()
	}
}

// banned reports whether a ban holds for the client: one on its address block, or
// one an older version of jfguard recorded on its IPv6 address alone.
func (s *Server) banned(addr clientaddr.ClientAddr) bool { return s.app.Banned(addr.IP) }

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

// resolveUnknown handles a token jfguard has never seen (see usecase.ResolveToken):
// an API key created since the last refresh passes, anything else is resolved at
// Jellyfin. It fails closed for users who need a second factor. How long each answer
// holds is decided here, for the verdict cache.
func (s *Server) resolveUnknown(ctx context.Context, creds upstream.Credentials, h string, addr clientaddr.ClientAddr) (verdict, time.Duration) {
	if s.apiKeys.refreshSoon(ctx) && s.apiKeys.has(h) {
		return verdictPass, time.Minute
	}
	res, err := s.app.ResolveToken(ctx, callerOf(addr, creds), creds.Token)
	switch {
	case errors.Is(err, usecase.ErrTokenNotAccepted):
		// Not a valid token at Jellyfin: let Jellyfin refuse it as it would.
		return verdictPass, 10 * time.Second
	case errors.Is(err, usecase.ErrTokenNamesNoUser):
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
	case errors.Is(err, usecase.ErrCannotResolve):
		s.log.Warn("cannot resolve an unknown token", "err", err)
		return verdictUnavailable, 5 * time.Second
	case err != nil:
		s.log.Error("record verified session", "err", err)
		return verdictUnavailable, time.Second
	case !res.Pass:
		return verdictRefuse, 30 * time.Second
	}
	return verdictPass, time.Minute
}
