package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// errAnsAppPasswordLabel refuses an app password without a usable name.
var errAnsAppPasswordLabel = newAPIError(http.StatusBadRequest, "bad_label", "Give the app password a name of 1 to 64 characters, e.g. “Living room TV”.")

// handleAppPasswordCreate creates an app password and shows it once.
func (s *Server) handleAppPasswordCreate(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Label string `json:"label"`
	}](c, 1024)
	if !ok {
		return
	}
	pw, err := s.app.CreateAppPassword(c.Request.Context(), s.accountOf(c), in.Label)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": pw.ID, "label": pw.Label, "password": pw.Password,
		"message": "Type this into the app's password field, with your user name. It is shown only now."})
}

// handleAppPasswordRevoke revokes an app password; sessions it signed in stay until
// revoked themselves (they are listed as sessions).
func (s *Server) handleAppPasswordRevoke(c *gin.Context) {
	if err := s.app.RevokeAppPassword(c.Request.Context(), s.accountOf(c), c.Param("id")); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleDeviceRevoke removes a paired device and logs its session out at Jellyfin.
func (s *Server) handleDeviceRevoke(c *gin.Context) {
	if err := s.app.RevokeDevice(c.Request.Context(), s.accountOf(c), c.Param("id")); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handlePairings lists the caller's devices waiting for approval.
func (s *Server) handlePairings(c *gin.Context) {
	v, ok := s.buildMe(userOf(c), "", "")
	if !ok {
		c.JSON(http.StatusOK, gin.H{"pairings": []pairingView{}})
		return
	}
	c.JSON(http.StatusOK, gin.H{"pairings": v.Pairings, "devices": v.Devices})
}
