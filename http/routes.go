package gateway

import (
	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every route jfguard owns, in one place. Everything else is Jellyfin's
// and goes through the gate to the proxy.
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

	r.NoRoute(s.gate)
	return r
}

var promhttpOpts = promhttp.HandlerOpts{}
