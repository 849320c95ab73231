package gateway

import (
	"bytes"
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
// whether the password may reach Jellyfin, Jellyfin checks it, and jfguard decides
// what the answer may unlock.
func (s *Server) handlePasswordStep(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSignInBody+1))
	if err != nil || len(body) > maxSignInBody {
		s.refuse(c, http.StatusRequestEntityTooLarge, "sign-in request too large")
		return
	}
	var in signInRequest
	_ = json.Unmarshal(body, &in) // Jellyfin judges a malformed body itself.

	ctx, caller := c.Request.Context(), callerOf(addr, creds)
	appPassword := domain.LooksLikeAppPassword(in.Pw)
	attempt, err := s.app.BeginPassword(ctx, caller, in.Username, pathUserID(c.Request.URL.Path), !appPassword)
	if err != nil {
		s.passwordRefused(c, err, true)
		return
	}
	defer attempt.End()
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
			attempt.Rejected(ctx, "bad_password")
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
	out, err := s.app.DecideSignIn(ctx, usecase.SignInRequest{
		Caller: caller, Result: res, Raw: ans.body, Web: c.GetHeader(webMarker) == "web", Trust: s.presentedTrust(c),
	})
	if errors.Is(err, domain.ErrOutsideNetworks) {
		s.metrics.signIns.WithLabelValues("refused_network").Inc()
		s.fail(c, err) // the use case logged the token out
		return
	}
	if err != nil {
		s.log.Error("sign-in decision failed; logging the token out", "err", err, "user", res.User.Name)
		s.app.LogoutAsync(res.AccessToken)
		s.refuse(c, http.StatusServiceUnavailable, "sign-in is unavailable right now")
		return
	}
	if out.TrustCookie != "" {
		s.setTrustCookie(c, out.TrustCookie, out.TrustExpiresAt)
	}
	if out.Pass {
		s.metrics.signIns.WithLabelValues("pass_" + out.Reason).Inc()
		ans.write(c.Writer)
		return
	}
	s.metrics.signIns.WithLabelValues("challenge").Inc()
	s.writeChallenge(c, out.ChallengeID, out.Methods)
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

// presentedTrustCookie reads the request's trust cookie and returns the hash of its
// secret and the browser the index names for it. A value that is not a cookie of
// today's format, or that no trust key in force signed, is refused before the
// index is consulted: made-up values cost a MAC, not a lookup.
func (s *Server) presentedTrustCookie(c *gin.Context) (projections.TrustCookieRef, string, bool) {
	v, err := c.Cookie(trustCookieName)
	if err != nil || v == "" {
		return projections.TrustCookieRef{}, "", false
	}
	hash, err := domain.VerifyTrustCookie(s.trustKeysAt(s.now()), v)
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

// presentedTrust is the request's trust cookie as the sign-in use case takes it, nil
// when there is none worth presenting.
func (s *Server) presentedTrust(c *gin.Context) *usecase.PresentedTrust {
	ref, hash, ok := s.presentedTrustCookie(c)
	if !ok {
		return nil
	}
	return &usecase.PresentedTrust{UserID: ref.UserID, BrowserID: ref.BrowserID, SecretHash: hash}
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
