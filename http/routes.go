package http

import (
	"github.com/gin-gonic/gin"
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
	r.Use(s.recoverer())

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

	// Self-service, authenticated by the caller's verified Jellyfin token.
	me := j.Group("/api/me", s.refuseBanned(), s.requireSession())
	me.GET("", s.handleMe)
	me.POST("/totp", s.handleTOTPBegin)
	me.GET("/totp/qr", s.handleTOTPQR)
	me.POST("/totp/confirm", s.handleTOTPConfirm)
	me.POST("/recovery-codes", s.handleRecoveryRegenerate)
	me.POST("/disable", s.handleDisable)
	me.DELETE("/browsers/:id", s.handleRevokeBrowser)
	me.DELETE("/sessions/:hash", s.handleRevokeSession)
	me.POST("/pairings/:id/approve", s.handlePairingAnswer(true))
	me.POST("/pairings/:id/deny", s.handlePairingAnswer(false))
	me.DELETE("/devices/:id", s.handleDeviceRevoke)
	me.GET("/pairings", s.handlePairings)
	me.POST("/app-passwords", s.handleAppPasswordCreate)
	me.DELETE("/app-passwords/:id", s.handleAppPasswordRevoke)
	me.POST("/email", s.handleEmailAdd)
	me.POST("/email/confirm", s.handleEmailConfirm)
	me.POST("/email/code", s.handleEmailProofCode)
	me.POST("/email/remove", s.handleEmailRemove)
	me.POST("/passkeys/register", s.handlePasskeyRegisterBegin)
	me.POST("/passkeys", s.handlePasskeyRegister)
	me.POST("/passkeys/proof", s.handlePasskeyProofBegin)
	me.PATCH("/passkeys/:id", s.handlePasskeyRename)
	me.POST("/passkeys/:id/remove", s.handlePasskeyRemove)

	// The control API, the admin's event feed and what the admin page reads besides.
	j.POST("/rpc", s.handleRPC)
	j.GET("/api/events", s.requireAdmin(), s.handleEventFeed)
	j.GET("/api/admin/event-types", s.requireAdmin(), handleEventTypes)

	r.NoRoute(s.gate)
	return r
}

var promhttpOpts = promhttp.HandlerOpts{}
