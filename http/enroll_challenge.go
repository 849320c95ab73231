package gateway

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// handleChallengeEnrollBegin starts adding an authenticator app from a sign-in
// challenge: when every user must use a second factor (security.require_all) and this
// one has none, the challenge (which proves the password) is where they set one up.
func (s *Server) handleChallengeEnrollBegin(c *gin.Context) {
	id := c.Param("id")
	uid, ok := s.userByChallenge(id)
	if !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	key, sealed, err := s.newSealedTOTP(c.Request.Context(), uid)
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	png, err := domain.TOTPQRCode(key.URI, 256)
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	addr := clientAddr(c)
	pol := s.Policy()
	_, err = s.opts.Projector.ExecUser(c.Request.Context(), uid, events.Context{Actor: uid, IP: addrString(addr)}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideBeginEnrollAtChallenge(u, pol, id, sealed, now)
	})
	if err != nil {
		s.enrollFailure(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": key.Secret, "uri": key.URI, "qr": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)})
}

// handleChallengeEnrollConfirm confirms the new authenticator with a code, which also
// completes the sign-in; the recovery codes are shown once.
func (s *Server) handleChallengeEnrollConfirm(c *gin.Context) {
	id := c.Param("id")
	in, ok := decodeJSON[struct {
		Code string `json:"code"`
	}](c, 1024)
	if !ok {
		return
	}
	uid, ok := s.userByChallenge(id)
	if !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	addr := clientAddr(c)
	if allowed, wait := s.limits.allow(s.addressKey(addr.IP), uid, s.now()); !allowed {
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(secs))
		c.JSON(http.StatusTooManyRequests, gin.H{"error": "rate_limited", "message": "Too many attempts. Wait a moment.", "retry_after": secs})
		return
	}
	secret, _, err := s.pendingTOTP(c.Request.Context(), uid)
	if err != nil {
		s.enrollFailure(c, err)
		return
	}
	plain, stored, err := domain.NewRecoveryCodes(s.opts.Rand, s.opts.HashParams)
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	pol := s.Policy()
	var sealedResult events.Sealed
	_, err = s.opts.Projector.ExecUser(c.Request.Context(), uid, events.Context{Actor: uid, IP: addrString(addr)}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if ch := u.Challenges[id]; ch != nil {
			sealedResult = ch.AuthResult
		}
		return domain.DecideEnrollAtChallenge(u, pol, id, secret, in.Code, now, stored)
	})
	if err != nil {
		s.enrollFailure(c, err)
		return
	}
	raw, err := s.opts.Sealer.Open(c.Request.Context(), uid, sealedResult)
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "auth": json.RawMessage(raw), "recovery_codes": plain})
}

func (s *Server) enrollFailure(c *gin.Context, err error) {
	switch {
	case err == domain.ErrEnrollNotOffered:
		c.JSON(http.StatusConflict, gin.H{"error": "enroll_not_offered", "message": "This sign-in does not set up a new factor."})
	case err == domain.ErrNoPendingTOTP:
		c.JSON(http.StatusConflict, gin.H{"error": "no_enrollment", "message": "Start adding an authenticator app first."})
	default:
		s.verifyFailure(c, err)
	}
}
