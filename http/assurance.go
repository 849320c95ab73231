package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

// Context keys of an account-changing route: the action it takes and whether its
// body carries a factor for the decision to check.
const (
	ctxAction = "jfguard.action"
	ctxProof  = "jfguard.proof"
)

// Answers of refused account changes; the setup and admin pages re-prompt on
// step_up_required and explain device_session.
const (
	msgStepUp        = "Confirm it is you: prove your second factor again to make this change."
	msgDeviceSession = "This session belongs to an app or a TV (an app password, a paired device or Quick Connect): it cannot change security settings. Use a browser where you signed in with your second factor."
	// msgSecondFactorRequired answers an administrator's change from an account
	// without a second factor: there is nothing to step up with.
	msgSecondFactorRequired = "Administrators need a second factor to change the server. Set one up on your security page first, then sign in with it."
)

// account declares the account-changing action of a route. The step-up rule itself
// is decided in the domain (User.Authorize); this records the action for the
// decision (the use case guards every change with it, on the state it changes) and
// refuses early, before any slow work, when the session cannot take it now. A route
// that changes the account without declaring an action fails closed in the use
// case.
func (s *Server) account(action domain.Action) gin.HandlerFunc { return s.accountRoute(action, false) }

// accountWithProof is account for the forms whose body carries a current factor
// with the change (disable, new recovery codes, remove a passkey or the address):
// the factor in the request counts as recent, and the decision checks it.
func (s *Server) accountWithProof(action domain.Action) gin.HandlerFunc {
	return s.accountRoute(action, true)
}

func (s *Server) accountRoute(action domain.Action, proof bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(ctxAction, action)
		c.Set(ctxProof, proof)
		if err := s.app.Authorize(c.Request.Context(), s.accountOf(c)); err != nil {
			s.selfServiceError(c, err)
			c.Abort()
			return
		}
		c.Next()
	}
}

// ownSessionOr declares the action of a route that names a session (:hash): ending
// the caller's own session is ActionSignOut (always allowed), any other is action.
func (s *Server) ownSessionOr(action domain.Action) gin.HandlerFunc {
	other := s.account(action)
	own := s.account(domain.ActionSignOut)
	return func(c *gin.Context) {
		if c.Param("hash") == tokenHash(credsOf(c).Token) {
			own(c)
			return
		}
		other(c)
	}
}

// handleStepUp proves a current factor for the caller's session: account changes
// are allowed from it for the step-up window.
func (s *Server) handleStepUp(c *gin.Context) {
	p, ok := s.proofOf(c)
	if !ok {
		return
	}
	until, err := s.app.StepUp(c.Request.Context(), s.accountOf(c), p)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "until": until.UTC()})
}

// handleSignOutEverywhere is the lost-phone button: every other session, held
// sign-in, app password, paired device and trusted browser of the caller ends, and
// their tokens are logged out at Jellyfin. It needs a recent factor, or one in the
// request (a recovery code or an emailed code when the phone is gone).
func (s *Server) handleSignOutEverywhere(c *gin.Context) {
	in, ok := decodeJSON[proofRequest](c, maxCredentialBody)
	if !ok {
		return
	}
	ctx, a := c.Request.Context(), s.accountOf(c)
	var proof *domain.FactorProof
	if in.Method != "" || in.Code != "" || in.Ceremony != "" {
		p, ok := s.proof(c, in)
		if !ok {
			return
		}
		p, err := s.app.CompleteProof(ctx, a, p)
		if err != nil {
			s.selfServiceError(c, err)
			return
		}
		proof = &p
	}
	r, err := s.app.SignOutEverywhere(ctx, a, proof)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "revoked": revokedCounts(r)})
}

// revokedCounts is what a revocation ended, for the answer.
func revokedCounts(r domain.Revocation) map[string]int {
	out := map[string]int{}
	for _, e := range r.Events {
		if so, ok := e.(*events.SignedOutEverywhere); ok {
			out["sessions"], out["held_sign_ins"], out["app_passwords"] = so.Sessions, so.HeldSignIns, so.AppPasswords
			out["devices"], out["trusted_browsers"] = so.Devices, so.Browsers
		}
	}
	return out
}

// accountOf is the self-service request of c for the use cases: the signed-in user,
// the session asking and the action and proof its route declared.
func (s *Server) accountOf(c *gin.Context) usecase.Account {
	action, _ := c.Value(ctxAction).(domain.Action)
	proof, _ := c.Value(ctxProof).(bool)
	return usecase.Account{
		Caller: callerOf(clientAddr(c), credsOf(c)), UserID: userOf(c), TokenHash: tokenHash(credsOf(c).Token),
		Action: action, Proof: proof,
	}
}
