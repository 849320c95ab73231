package gateway

import (
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every route jfguard owns, in one place. Everything else is Jellyfin's
// and goes through the gate to the proxy; the routes of Jellyfin jfguard intercepts
// on the way are interceptedRoutes, below.
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false
	r.UseRawPath = true
	r.Use(s.recoverer(), s.resolveClient())

	j := r.Group("/jfguard", s.securityHeaders())
	s.pageRoutes(j)
	j.GET("/healthz", s.handleHealthz)
	j.GET("/readyz", s.handleReadyz)
	j.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.opts.Registry, promhttpOpts)))

	// Sign-in.
	j.POST("/api/challenge/:id/verify", s.refuseBanned(), s.handleChallengeVerify)
	j.GET("/api/challenge/:id", s.refuseBanned(), s.handleChallengeInfo)
	j.POST("/api/challenge/:id/email", s.refuseBanned(), s.handleChallengeEmail)
	j.POST("/api/challenge/:id/passkey", s.refuseBanned(), s.handleChallengePasskey)
	j.POST("/api/challenge/:id/enroll", s.refuseBanned(), s.handleChallengeEnrollBegin)
	j.POST("/api/challenge/:id/enroll/confirm", s.refuseBanned(), s.handleChallengeEnrollConfirm)
	j.POST("/api/login", s.handleLogin)

	// Passwordless sign-in with a passkey; the ceremony's cookie is scoped to these.
	j.GET("/api/passkey", s.handlePasskeyStatus)
	j.POST("/api/passkey/begin", s.refuseBanned(), s.handlePasskeySignInBegin)
	j.POST("/api/passkey/finish", s.refuseBanned(), s.handlePasskeySignIn)

	// Sign-in with an OIDC provider (oidc.go); the flow's cookie is scoped to these.
	j.GET("/api/oidc", s.handleOIDCProviders)
	j.GET("/oidc/:provider/start", s.handleOIDCStart)
	j.GET("/oidc/:provider/callback", s.handleOIDCCallback)
	j.POST("/oidc/finish", s.refuseBanned(), s.handleOIDCFinish)

	// Self-service, authenticated by the caller's verified Jellyfin token. Each route
	// that changes the account names its action: the domain's step-up rule decides
	// whether this session may take it now (a recent second factor; never a device's
	// session). Routes marked WithProof take the factor in the request itself.
	me := j.Group("/api/me", s.refuseBanned(), s.requireSession())
	me.GET("", s.handleMe)
	me.POST("/step-up", s.handleStepUp)
	me.POST("/sign-out-everywhere", s.handleSignOutEverywhere)
	me.POST("/totp", s.account(domain.ActionFactors), s.handleTOTPBegin)
	me.GET("/totp/qr", s.account(domain.ActionFactors), s.handleTOTPQR)
	me.POST("/totp/confirm", s.account(domain.ActionFactors), s.handleTOTPConfirm)
	me.POST("/recovery-codes", s.accountWithProof(domain.ActionFactors), s.handleRecoveryRegenerate)
	me.POST("/disable", s.accountWithProof(domain.ActionDisable2FA), s.handleDisable)
	me.DELETE("/browsers/:id", s.account(domain.ActionTrustedBrowsers), s.handleRevokeBrowser)
	me.DELETE("/sessions/:hash", s.ownSessionOr(domain.ActionSessions), s.handleRevokeSession)
	me.POST("/pairings/:id/approve", s.account(domain.ActionDevices), s.handlePairingAnswer(true))
	me.POST("/pairings/:id/deny", s.account(domain.ActionDevices), s.handlePairingAnswer(false))
	me.DELETE("/devices/:id", s.account(domain.ActionDevices), s.handleDeviceRevoke)
	me.GET("/pairings", s.handlePairings)
	me.POST("/quick-connect", s.account(domain.ActionQuickConnect), s.handleQuickConnectApprove)
	me.POST("/app-passwords", s.account(domain.ActionAppPasswords), s.handleAppPasswordCreate)
	me.DELETE("/app-passwords/:id", s.account(domain.ActionAppPasswords), s.handleAppPasswordRevoke)
	me.POST("/email", s.account(domain.ActionFactors), s.handleEmailAdd)
	me.POST("/email/confirm", s.account(domain.ActionFactors), s.handleEmailConfirm)
	me.POST("/email/code", s.account(domain.ActionStepUp), s.handleEmailProofCode)
	me.POST("/email/remove", s.accountWithProof(domain.ActionFactors), s.handleEmailRemove)
	me.POST("/passkeys/register", s.account(domain.ActionFactors), s.handlePasskeyRegisterBegin)
	me.POST("/passkeys", s.account(domain.ActionFactors), s.handlePasskeyRegister)
	me.POST("/passkeys/proof", s.account(domain.ActionStepUp), s.handlePasskeyProofBegin)
	me.PATCH("/passkeys/:id", s.account(domain.ActionFactors), s.handlePasskeyRename)
	me.POST("/passkeys/:id/remove", s.accountWithProof(domain.ActionFactors), s.handlePasskeyRemove)

	// The control API, the event feed (administrators and the auditor token) and
	// what the admin page reads besides.
	j.POST("/rpc", s.handleRPC)
	j.GET("/api/events", s.requireReader(), s.handleEventFeed)
	j.GET("/api/admin/event-types", s.requireAdmin(), handleEventTypes)
	j.POST("/api/admin/backup", s.requireAdminToken(), s.handleBackup)

	// Jellyfin's routes: the gate, which hands interceptedRoutes to their handlers.
	r.NoRoute(s.gate)
	return r
}

var promhttpOpts = promhttp.HandlerOpts{}

// interceptedRoutes are the routes of Jellyfin that jfguard does more with than let
// through: the gate hands each to its handler at the point its interception says,
// and the proxy rewrites the web app's index page. They are not gin routes because
// they are matched as Jellyfin matches them, which gin cannot: methods and paths
// ignoring case, the .NET way (each character upper-cased: "authentıcatebyname" with
// a dotless i is the same route), dot segments removed, and under any base path a
// server may sit at (see matches). The gate checks a ban and the credentials before
// it looks a request up here, and classifies the token after.
var interceptedRoutes = []interceptedRoute{
	intercept(post, "/Users/AuthenticateByName", routePasswordStep, beforeToken, (*Server).handlePasswordStep,
		"the password step: jfguard decides whether the password may reach Jellyfin, then what Jellyfin's answer unlocks (a second factor, a pairing, or an app password checked by jfguard)"),
	intercept(post, "/Users/AuthenticateWithQuickConnect", routeQuickConnectAuth, beforeToken, (*Server).handleQuickConnectAuthenticate,
		"the token Quick Connect hands a device is verified only when a verified session authorized its code through jfguard"),
	intercept(post, "/QuickConnect/Initiate", routeQuickConnectInitiate, beforeToken, (*Server).handleQuickConnectInitiate,
		"notes which secret goes with which code, so the sign-in that follows can be matched to its authorization"),
	intercept(post, "/QuickConnect/Authorize", routeQuickConnectAuthorize, afterPass, (*Server).handleQuickConnectAuthorize,
		"authorizing a code lets a device in: an account change under the step-up rule, noted before Jellyfin sees it"),
	intercept(post, "/Sessions/Logout", routeLogout, afterPass, (*Server).handleLogout,
		"a sign-out at Jellyfin ends the session in jfguard's record too"),
	intercept(post, "/Users/{id}/Authenticate", routePasswordStep, beforeToken, (*Server).handlePasswordStep,
		"the older password sign-in, naming the user in its path: the same password step"),
	intercept(getOrHead, "/web/", routeWebIndex, inProxy, nil,
		"the web app's index page loads jfguard's script (the proxy adds it to Jellyfin's page)"),
	intercept(getOrHead, "/web/index.html", routeWebIndex, inProxy, nil, "the same page by its file name"),
	intercept(getOrHead, "/web", routeWebIndex, inProxy, nil, "the same page without the slash"),
}

// Methods of intercepted routes.
var (
	post      = []string{http.MethodPost}
	getOrHead = []string{http.MethodGet, http.MethodHead}
)

// route names an intercepted route for the tests and the gate's dispatch.
type route int

const (
	routeOther route = iota
	routePasswordStep
	routeQuickConnectInitiate
	routeQuickConnectAuthorize
	routeQuickConnectAuth
	routeLogout
	routeWebIndex
)

// interception is when jfguard takes an intercepted request over.
type interception int

const (
	// beforeToken: the gate hands the request to its handler before the token is
	// classified. These requests sign in or start to: the session they make is what
	// jfguard decides on, not one they carry.
	beforeToken interception = iota
	// afterPass: the gate hands the request to its handler once its token passed.
	afterPass
	// inProxy: the gate lets the request through as any other, and the proxy
	// rewrites Jellyfin's answer (newProxy).
	inProxy
)

// gateHandler serves an intercepted request, with the client address and the
// credential the gate resolved.
type gateHandler func(s *Server, c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials)

// interceptedRoute is one row of interceptedRoutes.
type interceptedRoute struct {
	methods []string
	// path is the route as Jellyfin spells it; "{id}" stands for a path segment.
	path   string
	route  route
	when   interception
	handle gateHandler // nil for inProxy
	why    string
	// before and after are path, folded as it is matched, around "{id}" (before
	// is "" without one).
	before, after string
}

// intercept is a row of interceptedRoutes, with its path folded once for matching.
func intercept(methods []string, p string, r route, when interception, handle gateHandler, why string) interceptedRoute {
	fold := strings.ToUpper
	if when == inProxy {
		fold = strings.ToLower
	}
	before, after, ok := strings.Cut(p, "{id}")
	if !ok {
		before, after = "", p
	}
	return interceptedRoute{methods: methods, path: p, route: r, when: when, handle: handle, why: why,
		before: fold(before), after: fold(after)}
}

// matches reports whether a path, folded as the route's part of Jellyfin folds it,
// is the route's: it ends with the route's path, or for a path with "{id}", ends
// with what follows it and contains what precedes it. Matching the end covers a
// server under a base path; matching loosely can only make jfguard intercept a
// request Jellyfin then refuses, never miss one.
func (ir *interceptedRoute) matches(folded string) bool {
	return strings.HasSuffix(folded, ir.after) && strings.Contains(folded, ir.before)
}

// hasMethod compares the request's method with the route's the way ASP.NET Core
// does: ignoring case (HttpMethods.Equals is an ordinal ignore-case comparison).
// Go's server hands the method on as the client wrote it: a "post" is Jellyfin's
// POST.
func (ir *interceptedRoute) hasMethod(method string) bool {
	for _, m := range ir.methods {
		if sameMethod(method, m) {
			return true
		}
	}
	return false
}

// interceptionOf is the route of interceptedRoutes the gate hands r to, nil when
// the gate lets it through. Jellyfin's router is case-insensitive the .NET way and
// Kestrel removes dot segments before routing ("/Users/AuthenticateByName/." is the
// sign-in), so the path is cleaned and upper-cased. Cleaning also merges repeated
// slashes, which Kestrel keeps: that too can only make jfguard intercept a request
// Jellyfin then refuses.
func interceptionOf(r *http.Request) *interceptedRoute {
	var p string
	for i := range interceptedRoutes {
		ir := &interceptedRoutes[i]
		if ir.when == inProxy || !ir.hasMethod(r.Method) {
			continue
		}
		if p == "" {
			p = strings.ToUpper(path.Clean(r.URL.Path))
		}
		if ir.matches(p) {
			return ir
		}
	}
	return nil
}

// jellyfinRoute names the route the gate hands r to; routeOther when it lets r
// through.
func jellyfinRoute(r *http.Request) route {
	if ir := interceptionOf(r); ir != nil {
		return ir.route
	}
	return routeOther
}

// isWebIndex reports whether a request is for the Jellyfin web app's index page,
// whose answer the proxy rewrites. The web app's files are matched on the path as
// sent, ignoring case.
func isWebIndex(r *http.Request) bool {
	var p string
	for i := range interceptedRoutes {
		ir := &interceptedRoutes[i]
		if ir.when != inProxy || !ir.hasMethod(r.Method) {
			continue
		}
		if p == "" {
			p = strings.ToLower(r.URL.Path)
		}
		if ir.matches(p) {
			return true
		}
	}
	return false
}

// sameMethod compares HTTP methods the way ASP.NET Core does: ignoring case.
// Methods are tokens of ASCII characters (Go's server refuses any other), so ASCII
// folding is the whole of it.
func sameMethod(got, want string) bool { return strings.EqualFold(got, want) }
