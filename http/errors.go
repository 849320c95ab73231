package gateway

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections/usecase"
)

// apiError is every refusal of jfguard's own API: a status, a stable code clients
// branch on, a message people read, and what a client needs to come back (a wait,
// the methods of a step-up). Handlers hand errors to fail; errorAnswer is the one
// place an error becomes an answer.
type apiError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as Retry-After (whole seconds, at least one).
	RetryAfter time.Duration
	// Extra are more fields of the body (retry_after, locked_until, methods, …).
	Extra gin.H
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// body is the JSON body of the answer.
func (e *apiError) body() gin.H {
	b := gin.H{"error": e.Code}
	if e.Message != "" {
		b["message"] = e.Message
	}
	for k, v := range e.Extra {
		b[k] = v
	}
	return b
}

// newAPIError is an answer with a status, a code and a message.
func newAPIError(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// The answers more than one route gives.
var (
	errAnsInvalidCode      = newAPIError(http.StatusUnauthorized, "invalid_code", "That code did not work.")
	errAnsChallengeGone    = newAPIError(http.StatusNotFound, "challenge_not_found", "This sign-in has expired. Sign in again.")
	errAnsChallengeBurned  = newAPIError(http.StatusGone, "challenge_burned", "Too many wrong codes for this sign-in. Sign in again.")
	errAnsInternal         = newAPIError(http.StatusInternalServerError, "internal", "Something went wrong. Try again.")
	errAnsUnavailable      = newAPIError(http.StatusServiceUnavailable, "unavailable", "Sign-in is unavailable right now. Try again in a moment.")
	errAnsUnauthorized     = newAPIError(http.StatusUnauthorized, "unauthorized", "Sign in to Jellyfin first.")
	errAnsForbidden        = newAPIError(http.StatusForbidden, "forbidden", "")
	errAnsInvalidPasskey   = newAPIError(http.StatusUnauthorized, "invalid_passkey", msgPasskeyFailed)
	errAnsPasskeysOff      = newAPIError(http.StatusServiceUnavailable, "passkeys_unavailable", msgPasskeysOff)
	errAnsNotFound         = newAPIError(http.StatusNotFound, "not_found", "Nothing to change: it is already gone.")
	errAnsInvalidLogin     = newAPIError(http.StatusUnauthorized, "invalid_credentials", "Wrong username, password or code.")
	errAnsUpstreamDown     = newAPIError(http.StatusBadGateway, "upstream_unreachable", "")
	errAnsUpstreamAnswer   = newAPIError(http.StatusBadGateway, "unexpected_upstream_answer", "")
	errAnsEnrollNotOffered = newAPIError(http.StatusConflict, "enroll_not_offered", "This sign-in does not set up a new factor.")
	errAnsNoEnrollment     = newAPIError(http.StatusConflict, "no_enrollment", "Start adding an authenticator app first.")
	errAnsTooLarge         = newAPIError(http.StatusRequestEntityTooLarge, "request_too_large", "")
	errAnsFeedUnavailable  = newAPIError(http.StatusServiceUnavailable, "unavailable", "")
	errAnsReadersOnly      = newAPIError(http.StatusForbidden, "forbidden", "Administrators and the auditor token only.")
	errAnsLogoutFailed     = newAPIError(http.StatusBadGateway, "jellyfin_logout_failed", "You are signed out everywhere through jfguard, but Jellyfin did not end every session. Try again in a moment; your administrator was told.")
)

// badRequest is the answer to a request jfguard cannot read, saying why.
func badRequest(msg string) *apiError { return newAPIError(http.StatusBadRequest, "bad_request", msg) }

// rateLimitedAnswer refuses a request over a rate limit.
func rateLimitedAnswer(wait time.Duration) *apiError {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "Too many attempts. Wait a moment.",
		RetryAfter: wait, Extra: gin.H{"retry_after": secs}}
}

// errorAnswer maps an error to its answer: the errors of the domain, the use cases
// and the gateway each have one answer wherever they occur; anything else gets
// fallback (nil: an internal error).
func (s *Server) errorAnswer(err error, fallback *apiError) *apiError {
	var ae *apiError
	var locked *domain.LockedError
	var su *domain.StepUpError
	var throttled *domain.ThrottledError
	var held *domain.PasswordHeldError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &su):
		methods := su.Methods
		if methods == nil {
			methods = []string{}
		}
		return &apiError{Status: http.StatusForbidden, Code: "step_up_required", Message: msgStepUp,
			Extra: gin.H{"action": su.Action, "methods": methods, "step_up": "/jfguard/api/me/step-up"}}
	case errors.Is(err, domain.ErrDeviceSession):
		return newAPIError(http.StatusForbidden, "device_session", msgDeviceSession)
	case errors.Is(err, domain.ErrSecondFactorRequired):
		return &apiError{Status: http.StatusForbidden, Code: "second_factor_required", Message: msgSecondFactorRequired,
			Extra: gin.H{"setup": "/jfguard/setup"}}
	case errors.Is(err, domain.ErrNoSession):
		return errAnsUnauthorized
	case errors.As(err, &throttled):
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "Too many failed sign-ins from your network. Try again in a minute.",
			RetryAfter: throttled.Until.Sub(s.now())}
	case errors.As(err, &held):
		wait := held.Until.Sub(s.now())
		return &apiError{Status: http.StatusTooManyRequests, Code: "password_held", RetryAfter: wait,
			Message: fmt.Sprintf("Too many wrong passwords for this user name: signing in with its password is paused. Try again in %s.", minutes(wait))}
	case errors.Is(err, domain.ErrPasswordPaused):
		return newAPIError(http.StatusTooManyRequests, "password_paused", "Too many wrong passwords for this user name: signing in with its password is paused until an administrator releases it. Sign in another way (a passkey, an app password or Quick Connect), or ask your administrator.")
	case errors.Is(err, usecase.ErrLockoutGuard):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: 30 * time.Second,
			Message: "Signing in with a password is unavailable for this user name right now: jfguard could not make sure another wrong password will not lock the account. Try again in a moment."}
	case errors.As(err, &locked):
		return &apiError{Status: http.StatusTooManyRequests, Code: "locked", Message: "Too many wrong codes. Try again later.",
			RetryAfter: locked.Until.Sub(s.now()), Extra: gin.H{"locked_until": locked.Until.UTC()}}
	case errors.Is(err, domain.ErrChallengeBurned):
		return errAnsChallengeBurned
	case errors.Is(err, domain.ErrChallengeNotFound), errors.Is(err, domain.ErrChallengeCompleted):
		return errAnsChallengeGone
	case errors.Is(err, errPasskeysOff):
		return errAnsPasskeysOff
	case errors.Is(err, errCeremonyUnknown), errors.Is(err, errCeremonyExpired), errors.Is(err, errCeremonyMismatch):
		return newAPIError(http.StatusBadRequest, "passkey_expired", msgPasskeyCeremony)
	case errors.Is(err, errCeremoniesFull):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "busy", Message: "Too many passkey requests right now. Try again in a minute.", RetryAfter: time.Minute}
	case errors.Is(err, domain.ErrPasskeyCloned):
		return newAPIError(http.StatusUnauthorized, "passkey_refused", msgPasskeyCloned)
	case errors.Is(err, domain.ErrPasskeyInvalid):
		return errAnsInvalidPasskey
	case errors.Is(err, domain.ErrPasskeyLabel):
		return newAPIError(http.StatusBadRequest, "bad_label", "Give the passkey a name of 1 to 64 characters, e.g. “My phone”.")
	case errors.Is(err, domain.ErrPasskeyRegistered):
		return newAPIError(http.StatusConflict, "already_registered", "This passkey is already added.")
	case errors.Is(err, domain.ErrNotFound):
		return errAnsNotFound
	case errors.Is(err, domain.ErrTOTPEnrolled):
		return newAPIError(http.StatusConflict, "already_enrolled", "An authenticator app is already set up. Disable it first.")
	case errors.Is(err, domain.ErrNoPendingTOTP):
		return errAnsNoEnrollment
	case errors.Is(err, domain.ErrEnrollNotOffered):
		return errAnsEnrollNotOffered
	case errors.Is(err, domain.ErrNoFactor):
		return newAPIError(http.StatusConflict, "no_factor", "Two-factor sign-in is not set up.")
	case errors.Is(err, domain.ErrPairingExpired):
		return newAPIError(http.StatusGone, "expired", "This request has expired. Sign in on the device again.")
	case errors.Is(err, domain.ErrPairingResolved):
		return newAPIError(http.StatusConflict, "already_answered", "This request was already answered.")
	case errors.Is(err, domain.ErrTooMany):
		return newAPIError(http.StatusConflict, "limit_reached", "You have reached the limit. Remove one first.")
	case errors.Is(err, domain.ErrCodeFormat), errors.Is(err, domain.ErrCodeInvalid), errors.Is(err, domain.ErrCodeReused),
		errors.Is(err, domain.ErrMethodNotAvailable), errors.Is(err, domain.ErrCodeExpired):
		return errAnsInvalidCode
	// self-service (http/email.go, http/devices.go): the email factor, app passwords
	case errors.As(err, new(*domain.SendLimitedError)):
		return sendLimitedAnswer(err, s.now())
	case errors.Is(err, usecase.ErrEmailConfirmed):
		return errAnsEmailConfirmed
	case errors.Is(err, domain.ErrNoEmail):
		return errAnsNoEmail
	case errors.Is(err, domain.ErrEmailAddress):
		return errAnsBadAddress
	case errors.Is(err, usecase.ErrMailUnavailable):
		return errAnsEmailOff
	case errors.Is(err, usecase.ErrAppPasswordLabel):
		return errAnsAppPasswordLabel
	case errors.Is(err, domain.ErrOutsideNetworks):
		return errAnsOutsideNetworks
	case errors.Is(err, usecase.ErrJellyfinLogout):
		return errAnsLogoutFailed
	}
	if fallback == nil {
		return errAnsInternal
	}
	return fallback
}

// fail answers a request with the answer to err (see errorAnswer) and ends it.
func (s *Server) fail(c *gin.Context, err error, fallback ...*apiError) {
	var fb *apiError
	if len(fallback) > 0 {
		fb = fallback[0]
	}
	answer(c, s.errorAnswer(err, fb))
}

// answer writes an apiError and ends the request.
func answer(c *gin.Context, a *apiError) {
	if a.RetryAfter > 0 {
		c.Header("Retry-After", retryAfter(a.RetryAfter))
	}
	c.AbortWithStatusJSON(a.Status, a.body())
}

// retryAfter is a wait as a Retry-After value: whole seconds, at least one.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(int(math.Ceil(d.Seconds())), 1))
}

// isStepUpRefusal reports whether err is a refusal of the step-up rule: a session
// that must prove a factor again, a device's session that may never make the
// change, or an administrator's change from an account without a second factor.
func isStepUpRefusal(err error) bool {
	var su *domain.StepUpError
	return errors.As(err, &su) || errors.Is(err, domain.ErrDeviceSession) || errors.Is(err, domain.ErrSecondFactorRequired)
}
