package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// trustCookieName is the trusted-browser cookie.
const trustCookieName = "jfguard_trust"

// webMarker is set by jfguard's script on the sign-in requests it wraps.
const webMarker = "X-Jfguard-Client"

// challengeHeader tells a client where its challenge is.
const challengeHeader = "X-Jfguard-Challenge"

// maxSignInBody bounds what jfguard reads of a sign-in request.
const maxSignInBody = 64 << 10

// signInRequest is Jellyfin's AuthenticateUserByName body; Jellyfin matches its field
// names case-insensitively, and so does encoding/json.
type signInRequest struct {
	Username string `json:"Username"`
	Pw       string `json:"Pw"`
}

// upstreamAnswer is a buffered answer from Jellyfin to a sign-in.
type upstreamAnswer struct {
	status int
	header http.Header
	body   []byte
}

// forwardBuffered sends a request to Jellyfin with the given body and reads the whole
// answer (sign-in answers are small).
func (s *Server) forwardBuffered(c *gin.Context, body []byte) (*upstreamAnswer, error) {
	r := c.Request
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Set("Accept-Encoding", "identity")
	rec := &bufferingWriter{header: http.Header{}, status: http.StatusOK}
	s.proxy.ServeHTTP(rec, out)
	if rec.status == http.StatusBadGateway && rec.buf.Len() == 0 {
		return nil, errors.New("jellyfin unreachable")
	}
	return &upstreamAnswer{status: rec.status, header: rec.header, body: rec.buf.Bytes()}, nil
}

// bufferingWriter captures a proxied answer.
type bufferingWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
	wrote  bool
}

func (b *bufferingWriter) Header() http.Header { return b.header }
func (b *bufferingWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferingWriter) Write(p []byte) (int, error) {
	b.wrote = true
	if b.buf.Len()+len(p) > 8<<20 {
		return 0, errors.New("answer too large")
	}
	return b.buf.Write(p)
}

// write sends a buffered answer to the client unchanged.
func (a *upstreamAnswer) write(w http.ResponseWriter) {
	for k, v := range a.header {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// handlePasswordStep intercepts AuthenticateByName: jfguard's password step decides
// whether the password may reach Jellyfin (beginPassword), Jellyfin checks it, and
// jfguard decides what the answer may unlock.
func (s *Server) handlePasswordStep(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSignInBody+1))
	if err != nil || len(body) > maxSignInBody {
		s.refuse(c, http.StatusRequestEntityTooLarge, "sign-in request too large")
		return
	}
	var in signInRequest
	_ = json.Unmarshal(body, &in) // Jellyfin judges a malformed body itself.

	appPassword := domain.LooksLikeAppPassword(in.Pw)
	attempt, err := s.beginPassword(c.Request.Context(), addr, in.Username, pathUserID(c.Request.URL.Path), !appPassword)
	if err != nil {
		s.passwordRefused(c, err, true)
		return
	}
	defer attempt.end()
	if appPassword {
		s.handleAppPasswordSignIn(c, addr, creds, in)
		return
	}
	ans, err := s.forwardBuffered(c, body)
	if err != nil {
		s.refuse(c, http.StatusBadGateway, "Jellyfin is unreachable")
		return
	}
	if ans.status != http.StatusOK {
		if ans.status == http.StatusUnauthorized {
			s.metrics.signIns.WithLabelValues("bad_password").Inc()
			attempt.rejected(c.Request.Context(), "bad_password")
		}
		ans.write(c.Writer)
		return
	}
	var res upstream.AuthResult
	if err := json.Unmarshal(ans.body, &res); err != nil || res.AccessToken == "" || res.User.ID == "" {
		// jfguard cannot gate what it cannot read: fail closed.
		s.log.Error("unreadable AuthenticationResult from Jellyfin; refusing the sign-in", "err", err)
		s.refuse(c, http.StatusBadGateway, "unexpected answer from Jellyfin")
		return
	}
	out, err := s.decideSignIn(c, addr, creds, res, ans.body, c.GetHeader(webMarker) == "web")
	if err != nil {
		s.log.Error("sign-in decision failed; logging the token out", "err", err, "user", res.User.Name)
		s.logoutAsync(res.AccessToken)
		s.refuse(c, http.StatusServiceUnavailable, "sign-in is unavailable right now")
		return
	}
	if out.Pass {
		s.metrics.signIns.WithLabelValues("pass_" + out.Reason).Inc()
		ans.write(c.Writer)
		return
	}
	s.metrics.signIns.WithLabelValues("challenge").Inc()
	s.writeChallenge(c, out.ChallengeID, out.Methods)
}

// decideSignIn records the decision on a sign-in Jellyfin accepted.
func (s *Server) decideSignIn(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials, res upstream.AuthResult, raw []byte, web bool) (domain.SignInOutcome, error) {
	ctx := c.Request.Context()
	uid := res.User.ID
	if !events.ValidAggregateID(uid) {
		return domain.SignInOutcome{}, errors.New("user id from Jellyfin is not usable")
	}
	sealedToken, err := s.opts.Sealer.Seal(ctx, uid, []byte(res.AccessToken))
	if err != nil {
		return domain.SignInOutcome{}, err
	}
	sealedResult, err := s.opts.Sealer.Seal(ctx, uid, raw)
	if err != nil {
		return domain.SignInOutcome{}, err
	}
	in := domain.SignIn{
		UserID: uid, UserName: res.User.Name, Admin: res.User.Policy.IsAdministrator,
		TokenHash: tokenHash(res.AccessToken), Token: sealedToken, AuthResult: sealedResult,
		IP: addr.IP, BypassSafe: addr.BypassSafe, Web: web,
		Device:         events.Device{ID: creds.DeviceID, Name: creds.Device, Client: creds.Client, Version: creds.Version},
		NewChallengeID: s.newID(),
		NewPairingID:   s.newID()[:16],
	}
	// The cookie that replaces the presented one if the browser is let through:
	// made now, so the decision records only its secret's hash, and only offered
	// if it could be made (a node not yet given the current master key cannot), so
	// the browser is never left holding a secret the server replaced.
	var next string
	if ref, hash, ok := s.presentedTrustCookie(c); ok && ref.UserID == uid {
		secret, value, err := s.newTrustCookie()
		if err != nil {
			s.log.Error("cannot make a trust cookie; the trusted browser is challenged", "err", err)
		} else {
			next = value
			in.Trust = &domain.PresentedTrust{BrowserID: ref.BrowserID, SecretHash: hash, NextSecretHash: secret.Hash()}
		}
	}
	pol := s.Policy()
	var out domain.SignInOutcome
	_, err = s.opts.Projector.ExecUser(ctx, uid, s.eventContext(uid, addr, creds), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		in.Now = now
		out = domain.DecideSignIn(u, pol, in)
		// The right password set Jellyfin's count of failed sign-ins back to zero.
		return append(out.Events, domain.DecidePasswordAccepted(u)...), nil
	})
	if err == nil && out.BrowserID != "" {
		s.setTrustCookie(c, next, out.TrustExpiresAt)
	}
	return out, err
}

// writeChallenge answers a held sign-in with jfguard's challenge.
func (s *Server) writeChallenge(c *gin.Context, id string, methods []string) {
	url := "/jfguard/challenge?c=" + id
	if methods == nil {
		methods = []string{}
	}
	s.setSecurityHeaders(c.Writer.Header())
	c.Header("Cache-Control", "no-store")
	c.Header(challengeHeader, url)
	c.Header("Access-Control-Expose-Headers", challengeHeader)
	c.JSON(http.StatusUnauthorized, gin.H{"jfguard": gin.H{"challenge": id, "url": url, "methods": methods}})
}

// recordSignInFailed counts a failed sign-in against the address's block (for bans);
// the event keeps the address itself.
func (s *Server) recordSignInFailed(ctx context.Context, addr clientaddr.ClientAddr, username, reason string) {
	if !addr.IP.IsValid() {
		return
	}
	id := s.addressKey(addr.IP)
	pol := s.Policy()
	ec := events.Context{IP: addr.IP.String()}
	if len(username) > 128 {
		username = username[:128]
	}
	_, err := s.opts.Projector.ExecAddress(ctx, id, ec, func(a *domain.Address, now time.Time) ([]events.Payload, error) {
		return domain.DecideSignInFailed(a, pol, username, reason, now), nil
	})
	if err != nil {
		s.log.Error("record failed sign-in", "err", err)
	}
}

// logoutAsync ends a token's session at Jellyfin without holding up the request.
func (s *Server) logoutAsync(token string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.jf.Logout(ctx, token); err != nil {
			s.log.Warn("logout at Jellyfin failed", "err", err)
		}
	}()
}

// trustKeys are the trust-cookie keys in force now.
func (s *Server) trustKeys() domain.TrustKeys {
	if s.opts.TrustKeySource != nil {
		return s.opts.TrustKeySource.TrustKeys(s.now())
	}
	return s.opts.TrustKeys
}

// presentedTrustCookie reads the request's trust cookie and returns the hash of its
// secret and the browser the index names for it. A value that is not a cookie of
// today's format, or that no trust key in force signed, is refused before the
// index is consulted: made-up values cost a MAC, not a lookup.
func (s *Server) presentedTrustCookie(c *gin.Context) (projections.TrustCookieRef, string, bool) {
	v, err := c.Cookie(trustCookieName)
	if err != nil || v == "" {
		return projections.TrustCookieRef{}, "", false
	}
	hash, err := domain.VerifyTrustCookie(s.trustKeys(), v)
	if err != nil {
		check := "malformed"
		if errors.Is(err, domain.ErrCookieSignature) {
			check = "bad_mac"
		}
		s.metrics.trust.WithLabelValues(check).Inc()
		return projections.TrustCookieRef{}, "", false
	}
	var ref projections.TrustCookieRef
	var ok bool
	s.read(func(st *projections.State) { ref, ok = st.TrustCookie(hash) })
	if !ok {
		s.metrics.trust.WithLabelValues("unknown").Inc()
		return ref, "", false
	}
	s.metrics.trust.WithLabelValues("known").Inc()
	return ref, hash, true
}

// newTrustCookie makes a fresh secret and its cookie value under the current
// trust key.
func (s *Server) newTrustCookie() (domain.TrustSecret, string, error) {
	secret, err := domain.NewTrustSecret(s.opts.Rand)
	if err != nil {
		return domain.TrustSecret{}, "", err
	}
	value, err := domain.SignTrustCookie(s.trustKeys().Current, secret)
	return secret, value, err
}

// setTrustCookie sets the trusted-browser cookie to value until the trust ends.
// The value is new on every use (see domain.DecideSignIn).
func (s *Server) setTrustCookie(c *gin.Context, value string, expires time.Time) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: trustCookieName, Value: value, Path: "/", Expires: expires, MaxAge: max(1, int(expires.Sub(s.now()).Seconds())),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.opts.PublicURL != nil && s.opts.PublicURL.Scheme == "https",
	})
}

// userByChallenge finds the user a challenge belongs to.
func (s *Server) userByChallenge(id string) (string, bool) {
	var uid string
	s.read(func(st *projections.State) { uid = st.ChallengeUsers[id] })
	return uid, uid != ""
}
