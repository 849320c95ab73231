package gateway

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// handleAppPasswordCreate creates an app password and shows it once.
func (s *Server) handleAppPasswordCreate(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Label string `json:"label"`
	}](c, 1024)
	if !ok {
		return
	}
	label := strings.TrimSpace(in.Label)
	if label == "" || utf8.RuneCountInString(label) > 64 {
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_label", "message": "Give the app password a name of 1 to 64 characters, e.g. “Living room TV”."})
		return
	}
	plain, id, hash, err := domain.NewAppPassword(s.opts.Rand, s.opts.HashParams)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	pol := s.Policy()
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideCreateAppPassword(u, pol, id, label, hash)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "label": label, "password": plain,
		"message": "Type this into the app's password field, with your user name. It is shown only now."})
}

// handleAppPasswordRevoke revokes an app password; sessions it signed in stay until
// revoked themselves (they are listed as sessions).
func (s *Server) handleAppPasswordRevoke(c *gin.Context) {
	id := c.Param("id")
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideRevokeAppPassword(u, id)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleDeviceRevoke removes a paired device and logs its session out at Jellyfin.
func (s *Server) handleDeviceRevoke(c *gin.Context) {
	id := c.Param("id")
	var token events.Sealed
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, t, err := domain.DecideRevokeDevice(u, id)
		token = t
		return evs, err
	}) {
		return
	}
	s.app.LogoutSealed(userOf(c), token)
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
