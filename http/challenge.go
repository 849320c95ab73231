package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// verifyRequest is the body of a challenge verification.
type verifyRequest struct {
	Method       string `json:"method"`
	Code         string `json:"code"`
	TrustBrowser bool   `json:"trust_browser"`
	DeviceID     string `json:"device_id"`
	// Ceremony and Credential carry a passkey's answer (method "passkey").
	Ceremony   string          `json:"ceremony,omitempty"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

// decodeJSON reads a small JSON body into T, refusing unknown shapes clearly.
func decodeJSON[T any](c *gin.Context, limit int64) (T, bool) {
	var v T
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		answer(c, errAnsTooLarge)
		return v, false
	}
	if err := json.Unmarshal(body, &v); err != nil {
		answer(c, badRequest("the body must be a JSON object: "+err.Error()))
		return v, false
	}
	return v, true
}

// challengeView is what the challenge page needs to know.
type challengeView struct {
	ID          string    `json:"id"`
	User        string    `json:"user"`
	Methods     []string  `json:"methods"`
	ExpiresAt   time.Time `json:"expires_at"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Web         bool      `json:"web"`
}

// challenge returns a challenge's view, or false when it does not exist (any more).
func (s *Server) challenge(id string) (challengeView, bool) {
	var v challengeView
	var ok bool
	now := s.now()
	s.read(func(st *projections.State) {
		u := st.Users[st.ChallengeUsers[id]]
		if u == nil {
			return
		}
		ch := u.Challenges[id]
		if ch == nil || ch.Done || !now.Before(ch.ExpiresAt) {
			return
		}
		ok = true
		methods := u.Methods()
		if len(methods) == 0 {
			methods = ch.Methods // a user who must set up a factor (enroll_totp)
		}
		v = challengeView{ID: id, User: u.Name, Methods: methods, ExpiresAt: ch.ExpiresAt, Web: ch.Web}
		if u.Locked(now) {
			v.LockedUntil = u.LockedUntil
		}
	})
	return v, ok
}

// handleChallengeInfo serves what a challenge page shows (the methods, the lockout).
// It names the user only to whoever holds the challenge id: the one who typed the
// right password.
func (s *Server) handleChallengeInfo(c *gin.Context) {
	v, ok := s.challenge(c.Param("id"))
	if !ok {
		answer(c, errAnsChallengeGone)
		return
	}
	c.JSON(http.StatusOK, v)
}

// verifyFailure answers a factor that did not complete a challenge. Every wrong or
// unusable code gets the same answer.
func (s *Server) verifyFailure(c *gin.Context, err error) { s.fail(c, err, errAnsInvalidCode) }

// handleChallengeVerify completes a challenge with a second factor.
func (s *Server) handleChallengeVerify(c *gin.Context) {
	id := c.Param("id")
	in, ok := decodeJSON[verifyRequest](c, maxCredentialBody)
	if !ok {
		return
	}
	addr := clientAddr(c)
	uid, ok := s.app.ChallengeUser(id)
	if !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	if allowed, wait, err := s.limits.allow(c.Request.Context(), s.addressKey(addr.IP), uid, s.now()); !allowed {
		s.limitRefused(c, wait, err)
		return
	}
	raw, err := s.completeChallenge(c, id, in, addr)
	if err != nil {
		s.metrics.factors.WithLabelValues(metricMethod(in.Method), "failed").Inc()
		s.verifyFailure(c, err)
		return
	}
	s.metrics.factors.WithLabelValues(metricMethod(in.Method), "verified").Inc()
	c.JSON(http.StatusOK, gin.H{"ok": true, "auth": json.RawMessage(raw)})
}

func metricMethod(m string) string {
	switch m {
	case domain.MethodTOTP, domain.MethodRecovery, domain.MethodEmail, domain.MethodPasskey:
		return m
	}
	return "other"
}

// completeChallenge reads the factor of a request (a passkey's assertion is
// verified here, by the relying party) and has the use case check it against the
// challenge; it returns the held AuthenticationResult and sets the trust cookie when
// the browser is now trusted.
func (s *Server) completeChallenge(c *gin.Context, id string, in verifyRequest, addr clientaddr.ClientAddr) ([]byte, error) {
	method := strings.ToLower(strings.TrimSpace(in.Method))
	if method == "" {
		method = guessMethod(in.Code)
	}
	proof := domain.FactorProof{Method: method, Code: in.Code}
	if method == domain.MethodPasskey {
		a, err := s.finishAssertion(in.Ceremony, ceremonyChallenge, id, in.Credential, s.userClone)
		if err != nil {
			return nil, err
		}
		if a.cause != nil {
			s.log.Info("passkey assertion did not verify", "challenge", id, "err", a.cause)
		}
		proof.Passkey = a.assertion
	}
	deviceID := in.DeviceID
	if deviceID == "" {
		deviceID = c.GetHeader("X-Jfguard-Device")
	}
	res, err := s.app.VerifyChallenge(c.Request.Context(), usecase.VerifyRequest{
		Caller: callerOf(addr, upstream.Credentials{}), ChallengeID: id, Proof: proof,
		TrustBrowser: in.TrustBrowser, DeviceID: deviceID, BrowserName: browserName(c.Request.UserAgent()),
	})
	if err != nil {
		return nil, err
	}
	if res.TrustCookie != "" {
		s.setTrustCookie(c, res.TrustCookie, res.TrustExpiresAt)
	}
	return res.AuthResult, nil
}

// guessMethod picks the method for a bare code: six digits are an authenticator code,
// anything longer a recovery code.
func guessMethod(code string) string {
	digits := 0
	for _, r := range code {
		if r >= '0' && r <= '9' {
			digits++
		} else if r != ' ' && r != '-' {
			return domain.MethodRecovery
		}
	}
	if digits == 6 {
		return domain.MethodTOTP
	}
	return domain.MethodRecovery
}

// browserName turns a User-Agent into a short label for the trusted browsers list.
func browserName(ua string) string {
	b := "Browser"
	switch {
	case strings.Contains(ua, "Edg/"):
		b = "Edge"
	case strings.Contains(ua, "Firefox/"):
		b = "Firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "Chromium/"):
		b = "Chrome"
	case strings.Contains(ua, "Safari/"):
		b = "Safari"
	}
	osName := ""
	switch {
	case strings.Contains(ua, "Android"):
		osName = "Android"
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"):
		osName = "iOS"
	case strings.Contains(ua, "Windows"):
		osName = "Windows"
	case strings.Contains(ua, "Mac OS X"):
		osName = "macOS"
	case strings.Contains(ua, "Linux"):
		osName = "Linux"
	}
	if osName != "" {
		return b + " on " + osName
	}
	return b
}

// loginRequest is the body of POST /jfguard/api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Code     string `json:"code"`
	Method   string `json:"method"`
}

// handleLogin does password and second factor in one call, for scripts. Unknown
// user, wrong password and wrong code all get the same answer.
func (s *Server) handleLogin(c *gin.Context) {
	in, ok := decodeJSON[loginRequest](c, 4096)
	if !ok {
		return
	}
	addr := clientAddr(c)
	if s.banned(addr) {
		s.fail(c, errAnsForbidden)
		return
	}
	creds, err := upstream.ExtractCredentials(c.Request)
	if err != nil || creds.Client == "" || creds.DeviceID == "" {
		creds.Client, creds.Device, creds.DeviceID, creds.Version = "jfguard login", "script", "jfguard-login-"+tokenHash(in.Username)[:16], s.opts.Version
	}
	ctx := c.Request.Context()
	out, err := s.app.SignInWithPassword(ctx, usecase.PasswordSignIn{
		Caller: callerOf(addr, creds), Username: in.Username, Password: in.Password,
		Trust: func() *usecase.PresentedTrust { return s.presentedTrust(c) },
	}, s.loginPassword(c.Request, creds, in))
	if err != nil {
		s.loginFailed(c, err)
		return
	}
	if out.TrustCookie != "" {
		s.setTrustCookie(c, out.TrustCookie, out.TrustExpiresAt)
	}
	switch out.Verdict {
	case usecase.PasswordRejected:
		s.fail(c, errAnsInvalidLogin)
		return
	case usecase.PasswordPassed:
		c.Data(http.StatusOK, "application/json; charset=utf-8", out.Answer.Body)
		return
	}
	if allowed, wait, err := s.limits.allow(ctx, s.addressKey(addr.IP), out.UserID, s.now()); !allowed {
		s.app.ExpireChallenge(ctx, out.UserID, out.ChallengeID)
		s.limitRefused(c, wait, err)
		return
	}
	raw, err := s.completeChallenge(c, out.ChallengeID, verifyRequest{Method: in.Method, Code: in.Code}, addr)
	if err != nil {
		// A script does not come back to this challenge: end it now.
		s.app.ExpireChallenge(ctx, out.UserID, out.ChallengeID)
		var locked *domain.LockedError
		if errors.As(err, &locked) {
			s.verifyFailure(c, err)
			return
		}
		s.fail(c, errAnsInvalidLogin)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", raw)
}

// loginPassword is the password check of a login: Jellyfin's AuthenticateByName,
// asked in the caller's name (its client and device), from the request's context,
// which carries the client address the proxy forwards.
func (s *Server) loginPassword(r *http.Request, creds upstream.Credentials, in loginRequest) forwardedPassword {
	body, _ := json.Marshal(signInRequest{Username: in.Username, Pw: in.Password})
	up := r.Clone(r.Context())
	up.Method = http.MethodPost
	up.URL.Path = strings.TrimSuffix(s.opts.Upstream.Path, "/") + "/Users/AuthenticateByName"
	up.URL.RawPath = ""
	up.URL.RawQuery = ""
	up.Header = http.Header{}
	up.Header.Set("Content-Type", "application/json")
	up.Header.Set("Authorization", upstream.AuthHeader(creds.Client, creds.Device, creds.DeviceID, creds.Version, ""))
	return forwardedPassword{s: s, req: up, body: body}
}

// loginFailed answers a login whose password neither passed nor was held, in
// jfguard's own API's shape.
func (s *Server) loginFailed(c *gin.Context, err error) {
	switch {
	case errors.Is(err, usecase.ErrJellyfinUnreachable):
		s.fail(c, errAnsUpstreamDown)
	case errors.Is(err, usecase.ErrUnreadableAnswer):
		s.fail(c, errAnsUpstreamAnswer)
	case errors.Is(err, domain.ErrOutsideNetworks):
		s.fail(c, err)
	case errors.Is(err, usecase.ErrSignInUndecided):
		s.fail(c, errAnsUnavailable)
	default:
		s.passwordRefused(c, err, false)
	}
}

// sweepLoop expires held challenges past their lifetime and logs their tokens out.
func (s *Server) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.app.SweepChallenges(ctx)
		}
	}
}
