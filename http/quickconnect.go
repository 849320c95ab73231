package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections/usecase"
)

// quickConnectLedger remembers, for the lifetime of a Quick Connect request, which
// secret goes with which code and which codes a verified session authorized through
// jfguard. A token from AuthenticateWithQuickConnect is verified only when its code
// was authorized that way: Quick Connect is how a TV signs in with "enter the code on
// your phone", and the phone must already have passed the second factor.
//
// The ledger is this node's memory of the Quick Connect exchanges passing through the
// gateway (which secret Initiate answered with which code, which code an authorized
// request carried), as the passkey ceremonies are of theirs: no aggregate's state,
// and nothing the log needs, since the authorization itself is recorded
// (quick_connect_authorized). The rule it serves is the domain's:
// domain.DecideQuickConnectSignIn is told who authorized the code.
type quickConnectLedger struct {
	now        func() time.Time
	mu         sync.Mutex
	codeOf     map[string]qcEntry // secret → code
	authorized map[string]qcAuth  // code → who authorized it
}

type qcEntry struct {
	code    string
	expires time.Time
}

type qcAuth struct {
	userID  string
	expires time.Time
}

// quickConnectTTL is how long Jellyfin keeps a Quick Connect request.
const quickConnectTTL = 10 * time.Minute

func newQuickConnectLedger(now func() time.Time) *quickConnectLedger {
	return &quickConnectLedger{now: now, codeOf: map[string]qcEntry{}, authorized: map[string]qcAuth{}}
}

func (l *quickConnectLedger) initiated(secret, code string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, e := range l.codeOf {
		if now.After(e.expires) {
			delete(l.codeOf, k)
		}
	}
	l.codeOf[secret] = qcEntry{code: code, expires: now.Add(quickConnectTTL)}
}

func (l *quickConnectLedger) authorize(code, userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, a := range l.authorized {
		if now.After(a.expires) {
			delete(l.authorized, k)
		}
	}
	l.authorized[code] = qcAuth{userID: userID, expires: now.Add(quickConnectTTL)}
}

// forget drops an authorization that was not recorded.
func (l *quickConnectLedger) forget(code string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.authorized, code)
}

// authorizedBy returns who authorized the request with this secret, consuming it.
func (l *quickConnectLedger) authorizedBy(secret string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.codeOf[secret]
	if !ok || l.now().After(e.expires) {
		return "", false
	}
	a, ok := l.authorized[e.code]
	if !ok || l.now().After(a.expires) {
		return "", false
	}
	delete(l.codeOf, secret)
	delete(l.authorized, e.code)
	return a.userID, true
}

// handleQuickConnectInitiate passes Initiate through and notes the secret and code.
func (s *Server) handleQuickConnectInitiate(c *gin.Context, _ clientaddr.ClientAddr, _ upstream.Credentials) {
	body, _ := io.ReadAll(io.LimitReader(c.Request.Body, maxSignInBody))
	ans, err := s.forwardBuffered(c, body)
	if err != nil {
		s.refuse(c, http.StatusBadGateway, "Jellyfin is unreachable")
		return
	}
	if ans.status == http.StatusOK {
		var qc struct {
			Secret string `json:"Secret"`
			Code   string `json:"Code"`
		}
		if json.Unmarshal(ans.body, &qc) == nil && qc.Secret != "" {
			s.qc.initiated(qc.Secret, qc.Code)
		}
	}
	ans.write(c.Writer)
}

// errAnsQuickConnectUnavailable: authorizing a code could not be recorded.
var errAnsQuickConnectUnavailable = newAPIError(http.StatusServiceUnavailable, "unavailable", "Try again in a moment.")

// handleQuickConnectAuthorize is the gate's path for Jellyfin's own "Quick Connect"
// page: a verified session authorizing a code (see usecase.AuthorizeQuickConnect).
// A refusal points to jfguard's security page, where the person proves the factor
// and authorizes the code. The code is noted before the request goes on to
// Jellyfin, because the device finishes its sign-in as soon as Jellyfin answers.
func (s *Server) handleQuickConnectAuthorize(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials) {
	code := queryFold(c.Request, "code")
	uid, err := s.app.AuthorizeQuickConnect(c.Request.Context(), callerOf(addr, creds), creds.Token)
	if errors.Is(err, usecase.ErrSessionNotVerified) {
		s.refuse(c, http.StatusUnauthorized, "this session needs a second factor")
		return
	}
	if err != nil {
		s.setSecurityHeaders(c.Writer.Header())
		c.Header("Cache-Control", "no-store")
		// jfguard's script in the web app follows this header to the security page,
		// which asks for the second step and approves the code there.
		c.Header(stepUpHeader, "/jfguard/setup?quick_connect="+url.QueryEscape(code)+"#devices")
		c.Header("Access-Control-Expose-Headers", stepUpHeader)
		if isStepUpRefusal(err) || errors.Is(err, domain.ErrNoSession) {
			// The web app shows Jellyfin's generic error; the body says where to go.
			s.log.Info("quick connect authorize refused", "user", uid, "err", err)
		} else {
			s.log.Error("quick connect authorize", "err", err)
		}
		s.fail(c, err, errAnsQuickConnectUnavailable)
		return
	}
	if code != "" {
		s.qc.authorize(code, uid)
	}
	s.proxy.ServeHTTP(c.Writer, c.Request)
}

// stepUpHeader names the page where a refused change can be made after a step-up.
const stepUpHeader = "X-Jfguard-Step-Up"

// Answers of authorizing a code from the security page.
var (
	errAnsQuickConnectBadCode     = newAPIError(http.StatusBadRequest, "bad_code", "Type the code the device shows.")
	errAnsQuickConnectUnknownCode = newAPIError(http.StatusNotFound, "unknown_code", "No device is waiting with this code. Check it, or start again on the device.")
	errAnsQuickConnectRefused     = newAPIError(http.StatusBadGateway, "upstream_failed", "Jellyfin did not accept the code. Is Quick Connect on?")
)

// handleQuickConnectApprove authorizes a Quick Connect code from jfguard's security
// page (its route needs a recent second factor; see usecase.ApproveQuickConnect).
// The code is noted first, because the device finishes its sign-in as soon as
// Jellyfin authorizes it, and forgotten again if the authorization was not recorded.
func (s *Server) handleQuickConnectApprove(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Code string `json:"code"`
	}](c, 1024)
	if !ok {
		return
	}
	code := strings.TrimSpace(in.Code)
	if code == "" || len(code) > 32 {
		s.fail(c, errAnsQuickConnectBadCode)
		return
	}
	a := s.accountOf(c)
	s.qc.authorize(code, a.UserID)
	err := s.app.ApproveQuickConnect(c.Request.Context(), a, credsOf(c).Token, code)
	switch {
	case errors.Is(err, usecase.ErrQuickConnectUnknownCode):
		s.fail(c, errAnsQuickConnectUnknownCode)
		return
	case errors.Is(err, usecase.ErrQuickConnectNotAccepted):
		s.fail(c, errAnsQuickConnectRefused)
		return
	case err != nil:
		s.qc.forget(code) // not recorded, so not let in
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "message": "The device is signing in."})
}

// queryFold reads a query parameter by case-insensitive name, as Jellyfin does.
func queryFold(r *http.Request, name string) string {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// handleQuickConnectAuthenticate decides on the token Quick Connect hands out (see
// usecase.DecideQuickConnectSignIn): a token authorized outside jfguard (directly at
// Jellyfin, or by a session that did not pass the second factor) is logged out and
// refused.
func (s *Server) handleQuickConnectAuthenticate(c *gin.Context, addr clientaddr.ClientAddr, creds upstream.Credentials) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSignInBody+1))
	if err != nil || len(body) > maxSignInBody {
		s.refuse(c, http.StatusRequestEntityTooLarge, "request too large")
		return
	}
	var in struct {
		Secret string `json:"Secret"`
	}
	_ = json.Unmarshal(body, &in)
	ans, err := s.forwardBuffered(c, body)
	if err != nil {
		s.refuse(c, http.StatusBadGateway, "Jellyfin is unreachable")
		return
	}
	if ans.status != http.StatusOK {
		ans.write(c.Writer)
		return
	}
	var res upstream.AuthResult
	if err := json.Unmarshal(ans.body, &res); err != nil || res.AccessToken == "" || !events.ValidAggregateID(res.User.ID) {
		s.refuse(c, http.StatusBadGateway, "unexpected answer from Jellyfin")
		return
	}
	by, _ := s.qc.authorizedBy(in.Secret)
	err = s.app.DecideQuickConnectSignIn(c.Request.Context(), usecase.QuickConnectSignIn{
		Caller: callerOf(addr, creds), Result: res, AuthorizedBy: by,
	})
	switch {
	case errors.Is(err, domain.ErrOutsideNetworks):
		s.metrics.signIns.WithLabelValues("refused_network").Inc()
		s.fail(c, err) // the use case logged the token out
		return
	case errors.Is(err, usecase.ErrSessionRefused):
		s.refuse(c, http.StatusUnauthorized, "this sign-in needs a second factor")
		return
	case err != nil:
		s.log.Error("quick connect sign-in", "err", err)
		s.refuse(c, http.StatusServiceUnavailable, "sign-in is unavailable right now")
		return
	}
	ans.write(c.Writer)
}
