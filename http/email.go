package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections/usecase"
)

// Mailer sends email (the SMTP settings the notifiers use).
type Mailer interface {
	SendMail(ctx context.Context, to []string, subject, text, html string) error
}

// Answers of the email factor's routes.
var (
	errAnsEmailOff       = newAPIError(http.StatusServiceUnavailable, "email_unavailable", "Email codes are not set up on this server (smtp settings).")
	errAnsBadAddress     = newAPIError(http.StatusBadRequest, "bad_address", "That is not an email address jfguard can send to.")
	errAnsEmailConfirmed = newAPIError(http.StatusConflict, "already_confirmed", "An email address is already set up. Remove it first.")
	errAnsNoEmail        = newAPIError(http.StatusConflict, "no_email", "Add an email address first.")
	// A code was recorded but could not be emailed; each route says what to do.
	errAnsAddressSendFailed = newAPIError(http.StatusBadGateway, "send_failed", "The email could not be sent. Check the address or try again later.")
	errAnsProofSendFailed   = newAPIError(http.StatusBadGateway, "send_failed", "The email could not be sent. Try again later.")
	errAnsSignInSendFailed  = newAPIError(http.StatusBadGateway, "send_failed", "The email could not be sent. Use another method or try again later.")
)

// emailSendLimits: 5 codes per 5 minutes from one address. The per-user limit (3 per
// 10 minutes) is decided from the event log.
func emailSendLimits() Limits {
	return Limits{VerifyPerIP: 5, VerifyIPWindow: 5 * time.Minute, VerifyPerUser: 1000, VerifyUserWindow: time.Minute}
}

// sendLimitedAnswer refuses a code over a send limit (err is a
// *domain.SendLimitedError) with when the next one is possible.
func sendLimitedAnswer(err error, now time.Time) *apiError {
	var limited *domain.SendLimitedError
	if !errors.As(err, &limited) {
		return errAnsInternal
	}
	wait := limited.Next.Sub(now)
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	return &apiError{Status: http.StatusTooManyRequests, Code: "send_limited",
		Message: fmt.Sprintf("A new code can be sent in %s.", humanWait(secs)), RetryAfter: max(wait, time.Second),
		Extra: gin.H{"retry_after": secs, "next_send_at": limited.Next.UTC()}}
}

func humanWait(secs int) string {
	if secs < 60 {
		return fmt.Sprintf("%d seconds", secs)
	}
	m := (secs + 59) / 60
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// ipSendAllowed applies the per-address send limit, and answers a refusal.
func (s *Server) ipSendAllowed(c *gin.Context) bool {
	now := s.now()
	if ok, wait, err := s.emailLimits.allow(c.Request.Context(), s.addressKey(clientAddr(c).IP), "", now); !ok {
		if err != nil {
			s.limitRefused(c, 0, err)
			return false
		}
		s.fail(c, &domain.SendLimitedError{Next: now.Add(wait)})
		return false
	}
	return true
}

// failSend answers a failed email use case: an email that could not be sent gets
// sendFailed, anything else its usual answer (fallback when it has none; without
// one, the self-service answers).
func (s *Server) failSend(c *gin.Context, err error, sendFailed *apiError, fallback ...*apiError) {
	switch {
	case errors.Is(err, usecase.ErrSendFailed):
		s.fail(c, sendFailed)
	case len(fallback) > 0:
		s.fail(c, err, fallback...)
	default:
		s.selfServiceError(c, err)
	}
}

// handleEmailAdd adds an address and emails a code to confirm it.
func (s *Server) handleEmailAdd(c *gin.Context) {
	if s.opts.Mailer == nil {
		s.fail(c, errAnsEmailOff)
		return
	}
	in, ok := decodeJSON[struct {
		Address string `json:"address"`
	}](c, 1024)
	if !ok {
		return
	}
	// A bad address is refused before it costs the client one of its sends.
	if _, err := domain.NormalizeEmailAddress(in.Address); err != nil {
		s.fail(c, err)
		return
	}
	if !s.ipSendAllowed(c) {
		return
	}
	addr, err := s.app.AddEmail(c.Request.Context(), s.accountOf(c), in.Address)
	if err != nil {
		s.failSend(c, err, errAnsAddressSendFailed)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "message": "We emailed a code to " + addr + "."})
}

// handleEmailConfirm confirms the address with the emailed code.
func (s *Server) handleEmailConfirm(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Code string `json:"code"`
	}](c, 1024)
	if !ok {
		return
	}
	if err := s.app.ConfirmEmail(c.Request.Context(), s.accountOf(c), in.Code); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleEmailProofCode emails a code the user can give to prove the factor for a
// self-service change.
func (s *Server) handleEmailProofCode(c *gin.Context) {
	if s.opts.Mailer == nil {
		s.fail(c, errAnsEmailOff)
		return
	}
	if !s.ipSendAllowed(c) {
		return
	}
	if err := s.app.SendProofCode(c.Request.Context(), s.accountOf(c)); err != nil {
		s.failSend(c, err, errAnsProofSendFailed)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleEmailRemove removes the address (a confirmed one needs a current factor).
func (s *Server) handleEmailRemove(c *gin.Context) {
	p, ok := s.proofOf(c)
	if !ok {
		return
	}
	if err := s.app.RemoveEmail(c.Request.Context(), s.accountOf(c), p); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleChallengeEmail emails a sign-in code for a challenge. The challenge id is
// the capability: only whoever typed the right password has it.
func (s *Server) handleChallengeEmail(c *gin.Context) {
	if s.opts.Mailer == nil {
		s.fail(c, errAnsEmailOff)
		return
	}
	id := c.Param("id")
	if _, ok := s.app.ChallengeUser(id); !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	if !s.ipSendAllowed(c) {
		return
	}
	if err := s.app.SendChallengeCode(c.Request.Context(), callerOf(clientAddr(c), upstream.Credentials{}), id); err != nil {
		s.failSend(c, err, errAnsSignInSendFailed, errAnsInvalidCode)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "message": "We emailed you a code. It works for 5 minutes."})
}
