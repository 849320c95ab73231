package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/upstream"
)

// handleChallengeEnrollBegin starts adding an authenticator app from a sign-in
// challenge: when every user must use a second factor (security.require_all) and this
// one has none, the challenge (which proves the password) is where they set one up.
func (s *Server) handleChallengeEnrollBegin(c *gin.Context) {
	caller := callerOf(clientAddr(c), upstream.Credentials{})
	key, err := s.app.BeginEnrollAtChallenge(c.Request.Context(), caller, c.Param("id"))
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	png, err := domain.TOTPQRCode(key.URI, 256)
	if err != nil {
		s.verifyFailure(c, err)
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
	uid, ok := s.app.ChallengeUser(id)
	if !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	addr := clientAddr(c)
	if allowed, wait, err := s.limits.allow(c.Request.Context(), s.addressKey(addr.IP), uid, s.now()); !allowed {
		s.limitRefused(c, wait, err)
		return
	}
	out, err := s.app.ConfirmEnrollAtChallenge(c.Request.Context(), callerOf(addr, upstream.Credentials{}), id, in.Code)
	if err != nil {
		s.verifyFailure(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "auth": json.RawMessage(out.AuthResult), "recovery_codes": out.RecoveryCodes})
}
