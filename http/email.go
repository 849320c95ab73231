package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// Mailer sends email (the SMTP settings the notifiers use).
type Mailer interface {
	SendMail(ctx context.Context, to []string, subject, text, html string) error
}

// emailSendLimits: 5 codes per 5 minutes from one address. The per-user limit (3 per
// 10 minutes) is decided from the event log.
func emailSendLimits() Limits {
	return Limits{VerifyPerIP: 5, VerifyIPWindow: 5 * time.Minute, VerifyPerUser: 1000, VerifyUserWindow: time.Minute}
}

// emailUnavailable answers when no mail server is configured.
func emailUnavailable(c *gin.Context) {
	c.JSON(http.StatusServiceUnavailable, gin.H{"error": "email_unavailable", "message": "Email codes are not set up on this server (smtp settings)."})
}

// sendLimited answers a refused send with when the next one is possible.
func sendLimited(c *gin.Context, next time.Time, now time.Time) {
	secs := int(math.Ceil(next.Sub(now).Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Header("Retry-After", strconv.Itoa(secs))
	c.JSON(http.StatusTooManyRequests, gin.H{"error": "send_limited", "retry_after": secs, "next_send_at": next.UTC(),
		"message": fmt.Sprintf("A new code can be sent in %s.", humanWait(secs))})
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

// ipSendAllowed applies the per-address send limit.
func (s *Server) ipSendAllowed(c *gin.Context) bool {
	addr := clientAddr(c)
	now := s.now()
	if ok, wait := s.emailLimits.allow(s.addressKey(addr.IP), "", now); !ok {
		sendLimited(c, now.Add(wait), now)
		return false
	}
	return true
}

// newEmailCode makes a code and its hash.
func (s *Server) newEmailCode() (string, string, error) {
	code, err := domain.NewEmailCode(s.opts.Rand)
	if err != nil {
		return "", "", err
	}
	hash, err := domain.HashEmailCode(code, s.opts.Rand, s.opts.HashParams)
	return code, hash, err
}

// mailCode sends a code to an address.
func (s *Server) mailCode(ctx context.Context, to, code, purpose string) error {
	subject := "Your Jellyfin sign-in code: " + code
	text := fmt.Sprintf("Your code to %s is:\n\n    %s\n\nIt works once, for 5 minutes. If you did not ask for it, someone knows your password: change it.\n", purpose, code)
	html := fmt.Sprintf(`<p>Your code to %s is:</p><p style="font-size:28px;font-weight:bold;letter-spacing:4px">%s</p><p>It works once, for 5 minutes. If you did not ask for it, someone knows your password: change it.</p>`, purpose, code)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	return s.opts.Mailer.SendMail(sctx, []string{to}, subject, text, html)
}

// handleEmailAdd adds an address and emails a code to confirm it.
func (s *Server) handleEmailAdd(c *gin.Context) {
	if s.opts.Mailer == nil {
		emailUnavailable(c)
		return
	}
	in, ok := decodeJSON[struct {
		Address string `json:"address"`
	}](c, 1024)
	if !ok {
		return
	}
	addr, err := domain.NormalizeEmailAddress(in.Address)
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_address", "message": "That is not an email address jfguard can send to."})
		return
	}
	if !s.ipSendAllowed(c) {
		return
	}
	uid := userOf(c)
	code, hash, err := s.newEmailCode()
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	sealed, err := s.opts.Sealer.Seal(c.Request.Context(), uid, []byte(addr))
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	pol := s.Policy()
	if !s.emailCommand(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideAddEmail(u, sealed, hash, now, pol.EmailCodeTTL)
	}) {
		return
	}
	if err := s.mailCode(c.Request.Context(), addr, code, "confirm this address"); err != nil {
		s.log.Error("send confirmation email", "err", err)
		c.JSON(http.StatusBadGateway, gin.H{"error": "send_failed", "message": "The email could not be sent. Check the address or try again later."})
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "message": "We emailed a code to " + addr + "."})
}

// emailCommand runs a decision and maps the email-specific errors.
func (s *Server) emailCommand(c *gin.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) bool {
	err := s.execAccount(c, decide)
	var limited *domain.SendLimitedError
	switch {
	case err == nil:
		return true
	case errors.As(err, &limited):
		sendLimited(c, limited.Next, s.now())
	case errors.Is(err, domain.ErrTOTPEnrolled):
		c.JSON(http.StatusConflict, gin.H{"error": "already_confirmed", "message": "An email address is already set up. Remove it first."})
	case errors.Is(err, domain.ErrNoEmail):
		c.JSON(http.StatusConflict, gin.H{"error": "no_email", "message": "Add an email address first."})
	default:
		s.selfServiceError(c, err)
	}
	return false
}

// handleEmailConfirm confirms the address with the emailed code.
func (s *Server) handleEmailConfirm(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Code string `json:"code"`
	}](c, 1024)
	if !ok {
		return
	}
	if !s.emailCommand(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideConfirmEmail(u, in.Code, now)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// userAddress unseals the user's email address.
func (s *Server) userAddress(ctx context.Context, uid string) (string, error) {
	var sealed events.Sealed
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil && u.Email != nil {
			sealed = u.Email.Address
		}
	})
	if sealed == "" {
		return "", domain.ErrMethodNotAvailable
	}
	b, err := s.opts.Sealer.Open(ctx, uid, sealed)
	return string(b), err
}

// handleEmailProofCode emails a code the user can give to prove the factor for a
// self-service change.
func (s *Server) handleEmailProofCode(c *gin.Context) {
	if s.opts.Mailer == nil {
		emailUnavailable(c)
		return
	}
	if !s.ipSendAllowed(c) {
		return
	}
	code, hash, err := s.newEmailCode()
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	pol := s.Policy()
	if !s.emailCommand(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideSendProofCode(u, hash, now, pol.EmailCodeTTL)
	}) {
		return
	}
	to, err := s.userAddress(c.Request.Context(), userOf(c))
	if err == nil {
		err = s.mailCode(c.Request.Context(), to, code, "confirm a change to your security settings")
	}
	if err != nil {
		s.log.Error("send proof email", "err", err)
		c.JSON(http.StatusBadGateway, gin.H{"error": "send_failed", "message": "The email could not be sent. Try again later."})
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleEmailRemove removes the address (a confirmed one needs a current factor).
func (s *Server) handleEmailRemove(c *gin.Context) {
	in, ok := decodeJSON[proofRequest](c, maxCredentialBody)
	if !ok {
		return
	}
	p, ok := s.proof(c, in)
	if !ok {
		return
	}
	pol := s.Policy()
	if !s.emailCommand(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		p.Now = now
		return domain.DecideRemoveEmail(u, pol, p)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleChallengeEmail emails a sign-in code for a challenge. The challenge id is
// the capability: only whoever typed the right password has it.
func (s *Server) handleChallengeEmail(c *gin.Context) {
	if s.opts.Mailer == nil {
		emailUnavailable(c)
		return
	}
	id := c.Param("id")
	uid, ok := s.userByChallenge(id)
	if !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	if !s.ipSendAllowed(c) {
		return
	}
	code, hash, err := s.newEmailCode()
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	addr := clientAddr(c)
	pol := s.Policy()
	_, err = s.opts.Projector.ExecUser(c.Request.Context(), uid, events.Context{Actor: uid, IP: addrString(addr)}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideSendChallengeCode(u, id, hash, now, pol.EmailCodeTTL)
	})
	var limited *domain.SendLimitedError
	switch {
	case errors.As(err, &limited):
		sendLimited(c, limited.Next, s.now())
		return
	case err != nil:
		s.verifyFailure(c, err)
		return
	}
	to, err := s.userAddress(c.Request.Context(), uid)
	if err == nil {
		err = s.mailCode(c.Request.Context(), to, code, "sign in to Jellyfin")
	}
	if err != nil {
		s.log.Error("send sign-in email", "err", err)
		c.JSON(http.StatusBadGateway, gin.H{"error": "send_failed", "message": "The email could not be sent. Use another method or try again later."})
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "message": "We emailed you a code. It works for 5 minutes."})
}
