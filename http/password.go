package gateway

import (
	"errors"
	"fmt"
	"math"
	"net/http"
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
	status, code, msg, wait := http.StatusServiceUnavailable, "unavailable", "Sign-in is unavailable right now. Try again in a moment.", time.Duration(0)
	var throttled *domain.ThrottledError
	var held *domain.PasswordHeldError
	switch {
	case errors.As(err, &throttled):
		wait = throttled.Until.Sub(s.now())
		status, code, msg = http.StatusTooManyRequests, "rate_limited", "Too many failed sign-ins from your network. Try again in a minute."
		s.metrics.signIns.WithLabelValues("throttled").Inc()
	case errors.As(err, &held):
		wait = held.Until.Sub(s.now())
		status, code = http.StatusTooManyRequests, "password_held"
		msg = fmt.Sprintf("Too many wrong passwords for this user name: signing in with its password is paused. Try again in %s.", minutes(wait))
		s.metrics.signIns.WithLabelValues("password_held").Inc()
	case errors.Is(err, domain.ErrPasswordPaused):
		status, code = http.StatusTooManyRequests, "password_paused"
		msg = "Too many wrong passwords for this user name: signing in with its password is paused until an administrator releases it. Sign in another way (a passkey, an app password or Quick Connect), or ask your administrator."
		s.metrics.signIns.WithLabelValues("password_paused").Inc()
	case errors.Is(err, usecase.ErrLockoutGuard):
		wait = 30 * time.Second
		msg = "Signing in with a password is unavailable for this user name right now: jfguard could not make sure another wrong password will not lock the account. Try again in a moment."
		s.metrics.signIns.WithLabelValues("lockout_guard_failed").Inc()
	}
	if wait > 0 {
		c.Header("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
	}
	if gate {
		s.refuse(c, status, msg)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"error": code, "message": msg})
}

// minutes says a wait in whole minutes, at least one.
func minutes(d time.Duration) string {
	n := max(int(math.Ceil(d.Minutes())), 1)
	if n == 1 {
		return "a minute"
	}
	return strconv.Itoa(n) + " minutes"
}
