package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
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

// handlePasswordStep intercepts AuthenticateByName (and /Users/{id}/Authenticate)
// and translates it to the password sign-in use case, whose outcome it answers in
// Jellyfin's words where Jellyfin has some.
func (s *Server) handlePasswordStep(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSignInBody+1))
	if err != nil || len(body) > maxSignInBody {
		s.refuse(c, http.StatusRequestEntityTooLarge, "sign-in request too large")
		return
	}
	var in signInRequest
	_ = json.Unmarshal(body, &in) // Jellyfin judges a malformed body itself.
	out, err := s.app.SignInWithPassword(c.Request.Context(), usecase.PasswordSignIn{
		Caller: callerOf(addr, creds), Username: in.Username, Password: in.Pw,
		PathUserID: pathUserID(c.Request.URL.Path), AppPasswords: true,
		Web: c.GetHeader(webMarker) == "web", Trust: func() *usecase.PresentedTrust { return s.presentedTrust(c) },
	}, forwardedPassword{s: s, req: c.Request, body: body})
	if out.AppPassword {
		s.answerAppPasswordSignIn(c, out.Answer.Body, err)
		return
	}
	if err != nil {
		s.passwordStepFailed(c, err)
		return
	}
	if out.TrustCookie != "" {
		s.setTrustCookie(c, out.TrustCookie, out.TrustExpiresAt)
	}
	switch out.Verdict {
	case usecase.PasswordRejected:
		if out.Answer.Status == http.StatusUnauthorized {
			s.metrics.signIns.WithLabelValues("bad_password").Inc()
		}
		relayPassword(c.Writer, out.Answer)
	case usecase.PasswordPassed:
		s.metrics.signIns.WithLabelValues("pass_" + out.Reason).Inc()
		relayPassword(c.Writer, out.Answer)
	default:
		s.metrics.signIns.WithLabelValues("challenge").Inc()
		s.writeChallenge(c, out.ChallengeID, out.Methods)
	}
}

// passwordStepFailed answers a password sign-in that neither passed nor was held,
// in the gate's refusal shape.
func (s *Server) passwordStepFailed(c *gin.Context, err error) {
	switch {
	case errors.Is(err, usecase.ErrJellyfinUnreachable):
		s.refuse(c, http.StatusBadGateway, "Jellyfin is unreachable")
	case errors.Is(err, usecase.ErrUnreadableAnswer):
		s.refuse(c, http.StatusBadGateway, "unexpected answer from Jellyfin")
	case errors.Is(err, domain.ErrOutsideNetworks):
		s.metrics.signIns.WithLabelValues("refused_network").Inc()
		s.fail(c, err)
	case errors.Is(err, usecase.ErrSignInUndecided):
		s.refuse(c, http.StatusServiceUnavailable, "sign-in is unavailable right now")
	default:
		s.passwordRefused(c, err, true)
	}
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
