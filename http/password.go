package gateway

import (
	"errors"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections/usecase"
)

// The password step's decisions are the domain's (domain/password.go), its state and
// calls to Jellyfin the use case's (projections/usecase/password.go); this file
// reads the path and answers a password the step did not forward.

// pathUserID is the user id of /Users/{id}/Authenticate, the older way to sign in
// with a password, written as Jellyfin writes ids (32 lower-case hex digits); "" for
// any other path, or an id that is not a GUID.
func pathUserID(p string) string {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	n := len(parts)
	if n < 3 || !strings.EqualFold(parts[n-1], "Authenticate") || !strings.EqualFold(parts[n-3], "Users") {
		return ""
	}
	id := strings.ToLower(strings.ReplaceAll(parts[n-2], "-", ""))
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return ""
	}
	return id
}

// passwordRefused answers a password the password step did not forward. The gate's
// routes answer in the gate's refusal shape ({"jfguard":{"error"}}), jfguard's own API
// in its own ({"error","message"}).
func (s *Server) passwordRefused(c *gin.Context, err error, gate bool) {
	if label := passwordRefusalMetric(err); label != "" {
		s.metrics.signIns.WithLabelValues(label).Inc()
	}
	a := s.errorAnswer(err, errAnsUnavailable)
	if !gate {
		c.Header("Cache-Control", "no-store")
		answer(c, a)
		return
	}
	if a.RetryAfter > 0 {
		c.Header("Retry-After", retryAfter(a.RetryAfter))
	}
	s.refuse(c, a.Status, a.Message)
}

// passwordRefusalMetric is the sign-in metric's label for a password the step did
// not forward; "" for a refusal it does not count.
func passwordRefusalMetric(err error) string {
	var throttled *domain.ThrottledError
	var held *domain.PasswordHeldError
	switch {
	case errors.As(err, &throttled):
		return "throttled"
	case errors.As(err, &held):
		return "password_held"
	case errors.Is(err, domain.ErrPasswordPaused):
		return "password_paused"
	case errors.Is(err, usecase.ErrLockoutGuard):
		return "lockout_guard_failed"
	}
	return ""
}

// minutes says a wait in whole minutes, at least one.
func minutes(d time.Duration) string {
	n := max(int(math.Ceil(d.Minutes())), 1)
	if n == 1 {
		return "a minute"
	}
	return strconv.Itoa(n) + " minutes"
}
