package gateway

import (
	"context"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/events/backup"
)

// BackupRequest is what an online backup is asked for.
type BackupRequest struct {
	// Passphrase wraps the master key in the archive; never logged.
	Passphrase string `json:"passphrase"`
	// ExcludeMasterKey leaves the master key out of the archive.
	ExcludeMasterKey bool `json:"exclude_master_key"`
}

// BackupFunc writes a backup archive of this node's streams and key files to w.
type BackupFunc func(ctx context.Context, w io.Writer, req BackupRequest) error

// requireAdminToken lets through the admin token only. An archive holds every
// sealed value and the wrapped data keys: no session (not an administrator's,
// which a stolen browser could carry) and never the auditor token, which only reads
// the log.
func (s *Server) requireAdminToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		if caller, ok := s.adminCaller(c.Request); ok && caller.token {
			c.Next()
			return
		}
		answer(c, errAnsAdminTokenOnly)
	}
}

var errAnsAdminTokenOnly = newAPIError(http.StatusForbidden, "forbidden", "Only jfguard's admin token (data_dir/admin.token) may take a backup.")

// handleBackup streams a backup archive. Once the archive has started, a failure
// can only cut it short: the client checks the archive's manifest, which comes
// last, and refuses a cut one.
func (s *Server) handleBackup(c *gin.Context) {
	if s.opts.Backup == nil {
		answer(c, newAPIError(http.StatusServiceUnavailable, "unavailable", "This node cannot take backups."))
		return
	}
	req, ok := decodeJSON[BackupRequest](c, 4<<10)
	if !ok {
		return
	}
	// Refused now, while the answer can still be a JSON error.
	if !req.ExcludeMasterKey {
		if err := backup.CheckPassphrase(req.Passphrase); err != nil {
			answer(c, badRequest(err.Error()))
			return
		}
	}
	c.Header("Content-Type", "application/x-tar")
	c.Header("Content-Disposition", `attachment; filename="jfguard-backup.tar"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	s.log.Info("backup started", "master_key_included", !req.ExcludeMasterKey)
	if err := s.opts.Backup(c.Request.Context(), c.Writer, req); err != nil {
		s.log.Error("backup failed", "err", err)
		// Cut the connection: a complete-looking answer must be a complete archive.
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup finished")
}
