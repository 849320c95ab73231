package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
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
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": "request_too_large"})
		return v, false
	}
	if err := json.Unmarshal(body, &v); err != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "bad_request", "message": "the body must be a JSON object: " + err.Error()})
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
		c.JSON(http.StatusNotFound, gin.H{"error": "challenge_not_found", "message": "This sign-in has expired. Sign in again."})
		return
	}
	c.JSON(http.StatusOK, v)
}

// verifyFailure maps a decision error to the answer a client gets. Every wrong or
// unusable code gets the same answer.
func (s *Server) verifyFailure(c *gin.Context, err error) {
	if s.passkeyError(c, err) {
		return
	}
	var locked *domain.LockedError
	switch {
	case errors.As(err, &locked):
		secs := int(math.Ceil(locked.Until.Sub(s.now()).Seconds()))
		c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
		c.JSON(http.StatusTooManyRequests, gin.H{"error": "locked", "message": "Too many wrong codes. Try again later.", "locked_until": locked.Until.UTC()})
	case errors.Is(err, domain.ErrChallengeBurned):
		c.JSON(http.StatusGone, gin.H{"error": "challenge_burned", "message": "Too many wrong codes for this sign-in. Sign in again."})
	case errors.Is(err, domain.ErrChallengeNotFound), errors.Is(err, domain.ErrChallengeCompleted):
		c.JSON(http.StatusNotFound, gin.H{"error": "challenge_not_found", "message": "This sign-in has expired. Sign in again."})
	default:
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_code", "message": "That code did not work."})
	}
}

// handleChallengeVerify completes a challenge with a second factor.
func (s *Server) handleChallengeVerify(c *gin.Context) {
	id := c.Param("id")
	in, ok := decodeJSON[verifyRequest](c, maxCredentialBody)
	if !ok {
		return
	}
	addr := clientAddr(c)
	uid, ok := s.userByChallenge(id)
	if !ok {
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	}
	if allowed, wait := s.limits.allow(s.addressKey(addr.IP), uid, s.now()); !allowed {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		c.JSON(http.StatusTooManyRequests, gin.H{"error": "rate_limited", "message": "Too many attempts. Wait a moment.", "retry_after": int(math.Ceil(wait.Seconds()))})
		return
	}
	raw, err := s.completeChallenge(c, uid, id, in, addr)
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

// completeChallenge checks a factor against a challenge and returns the held
// AuthenticationResult on success. It sets the trust cookie when asked to.
func (s *Server) completeChallenge(c *gin.Context, uid, id string, in verifyRequest, addr clientaddr.ClientAddr) ([]byte, error) {
	ctx := c.Request.Context()
	method := strings.ToLower(strings.TrimSpace(in.Method))
	if method == "" {
		method = guessMethod(in.Code)
	}
	proof := domain.FactorProof{Method: method, Code: in.Code}
	if method == domain.MethodTOTP {
		secret, err := s.totpSecret(ctx, uid)
		if err != nil {
			return nil, err
		}
		proof.TOTPSecret = secret
	}
	if method == domain.MethodPasskey {
		a, err := s.finishAssertion(in.Ceremony, ceremonyChallenge, id, in.Credential, s.userClone)
		if err != nil {
			return nil, err
		}
		if a.cause != nil {
			s.log.Info("passkey assertion did not verify", "user", uid, "err", a.cause)
		}
		proof.Passkey = a.assertion
	}
	deviceID := in.DeviceID
	if deviceID == "" {
		deviceID = c.GetHeader("X-Jfguard-Device")
	}
	attempt := domain.Attempt{
		ChallengeID: id, Proof: proof, TrustBrowser: in.TrustBrowser && deviceID != "",
		NewBrowserID: s.newID(), DeviceID: deviceID, BrowserName: browserName(c.Request.UserAgent()),
	}
	// Trust is granted only with a cookie to hold it.
	var cookie string
	if attempt.TrustBrowser {
		secret, value, err := s.newTrustCookie()
		if err != nil {
			s.log.Error("cannot make a trust cookie; the browser is not trusted", "err", err)
		} else {
			cookie, attempt.NewSecretHash = value, secret.Hash()
		}
	}
	// The events of the attempt name the device that signed in, as the challenge
	// recorded it: the session they verify belongs to that device, whoever typed
	// the code.
	ec := events.Context{Actor: uid, IP: addrString(addr)}
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil {
			if ch := u.Challenges[id]; ch != nil && ch.Device != (events.Device{}) {
				d := ch.Device
				ec.Device = &d
			}
		}
	})
	pol := s.Policy()
	var out domain.AttemptOutcome
	_, err := s.opts.Projector.ExecUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		attempt.Proof.Now = now
		out = domain.DecideAttempt(u, pol, attempt)
		return out.Events, out.Err
	})
	if err != nil {
		if errors.Is(err, domain.ErrChallengeBurned) && out.Challenge != nil {
			s.logoutSealed(uid, out.Challenge.Token)
		}
		return nil, err
	}
	raw, err := s.opts.Sealer.Open(ctx, uid, out.Challenge.AuthResult)
	if err != nil {
		return nil, err
	}
	if out.BrowserID != "" {
		s.setTrustCookie(c, cookie, out.TrustExpiresAt)
	}
	return raw, nil
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

func addrString(a clientaddr.ClientAddr) string {
	if a.IP.IsValid() {
		return a.IP.String()
	}
	return ""
}

// totpSecret unseals the user's confirmed TOTP secret.
func (s *Server) totpSecret(ctx context.Context, uid string) (string, error) {
	var sealed events.Sealed
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil && u.TOTP != nil {
			sealed = u.TOTP.Secret
		}
	})
	if sealed == "" {
		return "", domain.ErrMethodNotAvailable
	}
	b, err := s.opts.Sealer.Open(ctx, uid, sealed)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// logoutSealed logs a held token out at Jellyfin.
func (s *Server) logoutSealed(uid string, sealed events.Sealed) {
	if sealed == "" {
		return
	}
	b, err := s.opts.Sealer.Open(context.Background(), uid, sealed)
	if err != nil {
		s.log.Warn("cannot unseal a held token to log it out", "err", err)
		return
	}
	s.logoutAsync(string(b))
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
		c.JSON(http.StatusForbidden, gin.H{"error": "forbidden"})
		return
	}
	creds, err := upstream.ExtractCredentials(c.Request)
	if err != nil || creds.Client == "" || creds.DeviceID == "" {
		creds.Client, creds.Device, creds.DeviceID, creds.Version = "jfguard login", "script", "jfguard-login-"+tokenHash(in.Username)[:16], s.opts.Version
	}
	invalid := func() {
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_credentials", "message": "Wrong username, password or code."})
	}
	attempt, err := s.beginPassword(c.Request.Context(), addr, in.Username, "", true)
	if err != nil {
		s.passwordRefused(c, err, false)
		return
	}
	defer attempt.end()
	body, _ := json.Marshal(signInRequest{Username: in.Username, Pw: in.Password})
	up := c.Request.Clone(c.Request.Context())
	up.Method = http.MethodPost
	up.URL.Path = strings.TrimSuffix(s.opts.Upstream.Path, "/") + "/Users/AuthenticateByName"
	up.URL.RawPath = ""
	up.URL.RawQuery = ""
	up.Header = http.Header{}
	up.Header.Set("Content-Type", "application/json")
	up.Header.Set("Authorization", upstream.AuthHeader(creds.Client, creds.Device, creds.DeviceID, creds.Version, ""))
	orig := c.Request
	c.Request = up // its context carries the client address, which the proxy forwards
	ans, err := s.forwardBuffered(c, body)
	c.Request = orig
	if err != nil {
		c.JSON(http.StatusBadGateway, gin.H{"error": "upstream_unreachable"})
		return
	}
	if ans.status != http.StatusOK {
		if ans.status == http.StatusUnauthorized {
			attempt.rejected(c.Request.Context(), "bad_password")
		}
		invalid()
		return
	}
	var res upstream.AuthResult
	if err := json.Unmarshal(ans.body, &res); err != nil || res.AccessToken == "" {
		c.JSON(http.StatusBadGateway, gin.H{"error": "unexpected_upstream_answer"})
		return
	}
	out, err := s.decideSignIn(c, addr, creds, res, ans.body, false)
	if err != nil {
		s.logoutAsync(res.AccessToken)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "unavailable"})
		return
	}
	if out.Pass {
		c.Data(http.StatusOK, "application/json; charset=utf-8", ans.body)
		return
	}
	if allowed, _ := s.limits.allow(s.addressKey(addr.IP), res.User.ID, s.now()); !allowed {
		s.expireChallenge(c.Request.Context(), res.User.ID, out.ChallengeID)
		c.JSON(http.StatusTooManyRequests, gin.H{"error": "rate_limited"})
		return
	}
	raw, err := s.completeChallenge(c, res.User.ID, out.ChallengeID, verifyRequest{Method: in.Method, Code: in.Code}, addr)
	if err != nil {
		// A script does not come back to this challenge: end it now.
		s.expireChallenge(c.Request.Context(), res.User.ID, out.ChallengeID)
		var locked *domain.LockedError
		if errors.As(err, &locked) {
			s.verifyFailure(c, err)
			return
		}
		invalid()
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", raw)
}

// expireChallenge ends a challenge now and logs its token out.
func (s *Server) expireChallenge(ctx context.Context, uid, id string) {
	var token events.Sealed
	_, err := s.opts.Projector.ExecUser(ctx, uid, events.Context{Actor: "jfguard"}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		ch := u.Challenges[id]
		if ch == nil || ch.Verified {
			return nil, nil
		}
		token = ch.Token
		return []events.Payload{&events.ChallengeExpired{ChallengeID: id}}, nil
	})
	if err != nil {
		s.log.Error("expire challenge", "err", err)
		return
	}
	s.logoutSealed(uid, token)
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
			s.sweep(ctx)
		}
	}
}

// sweep runs one pass of challenge expiry. Several nodes may sweep: the append's
// concurrency check lets one of them record each expiry, and only that one logs the
// token out.
func (s *Server) sweep(ctx context.Context) {
	now := s.now()
	type due struct{ uid, id string }
	var list []due
	s.read(func(st *projections.State) {
		for id, uid := range st.ChallengeUsers {
			if u := st.Users[uid]; u != nil {
				if ch := u.Challenges[id]; ch != nil && !ch.Verified && !now.Before(ch.ExpiresAt) {
					list = append(list, due{uid, id})
				}
			}
		}
	})
	for _, d := range list {
		s.expireChallenge(ctx, d.uid, d.id)
	}
}
