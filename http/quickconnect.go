package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/shared"
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
// The ledger is kept in the shared store's Exchanges bucket, so the three requests of an
// exchange (the TV's Initiate, the phone's Authorize, the TV's Authenticate) may land
// on three nodes. It is no aggregate's state and nothing the log needs, since the
// authorization itself is recorded (quick_connect_authorized). The rule it serves is
// the domain's: domain.DecideQuickConnectSignIn is told who authorized the code. A
// ledger that cannot be reached authorizes nothing.
type quickConnectLedger struct {
	now   func() time.Time
	store exchangeStore
}

// qcEntry is a secret's code; qcAuth who authorized a code. Expiries are in the
// gateway's clock.
type qcEntry struct {
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
}

type qcAuth struct {
	UserID  string    `json:"user_id"`
	Expires time.Time `json:"expires"`
}

// quickConnectTTL is how long Jellyfin keeps a Quick Connect request.
const quickConnectTTL = 10 * time.Minute

func newQuickConnectLedger(store exchangeStore, now func() time.Time) *quickConnectLedger {
	return &quickConnectLedger{now: now, store: store}
}

// The ledger's keys: the secret is a credential, so only its hash is stored.
func qcSecretKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return shared.Key("qc", "secret", hex.EncodeToString(sum[:]))
}

func qcCodeKey(code string) string { return shared.Key("qc", "code", code) }

func (l *quickConnectLedger) set(ctx context.Context, key string, v any) error {
	if l.store == nil {
		return errors.New("no shared store")
	}
	buf, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	return l.store.Set(ctx, shared.Exchanges, key, buf)
}

func (l *quickConnectLedger) initiated(ctx context.Context, secret, code string) error {
	return l.set(ctx, qcSecretKey(secret), qcEntry{Code: code, Expires: l.now().Add(quickConnectTTL)})
}

func (l *quickConnectLedger) authorize(ctx context.Context, code, userID string) error {
	return l.set(ctx, qcCodeKey(code), qcAuth{UserID: userID, Expires: l.now().Add(quickConnectTTL)})
}

// forget drops an authorization that was not recorded.
func (l *quickConnectLedger) forget(ctx context.Context, code string) {
	if l.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	_, _ = l.store.Take(ctx, shared.Exchanges, qcCodeKey(code))
}

// authorizedBy returns who authorized the request with this secret, consuming the
// authorization: of two nodes asked at once, one gets it.
func (l *quickConnectLedger) authorizedBy(ctx context.Context, secret string) (string, bool) {
	if l.store == nil || secret == "" {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	var e qcEntry
	raw, err := l.store.Get(ctx, shared.Exchanges, qcSecretKey(secret))
	if err != nil || json.Unmarshal(raw, &e) != nil || !l.now().Before(e.Expires) {
		return "", false
	}
	raw, err = l.store.Take(ctx, shared.Exchanges, qcCodeKey(e.Code))
	var a qcAuth
	if err != nil || json.Unmarshal(raw, &a) != nil || !l.now().Before(a.Expires) {
		return "", false
	}
	_, _ = l.store.Take(ctx, shared.Exchanges, qcSecretKey(secret))
	return a.UserID, true
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
			if err := s.qc.initiated(c.Request.Context(), qc.Secret, qc.Code); err != nil {
				// The device's sign-in will be refused: nothing says who may
				// authorize its code.
				s.log.Error("quick connect: cannot note the request", "err", err)
			}
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
		if err := s.qc.authorize(c.Request.Context(), code, uid); err != nil {
			s.log.Error("quick connect: cannot note the authorization", "err", err)
			s.fail(c, errAnsQuickConnectUnavailable)
			return
		}
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
	if err := s.qc.authorize(c.Request.Context(), code, a.UserID); err != nil {
		s.log.Error("quick connect: cannot note the authorization", "err", err)
		s.fail(c, errAnsQuickConnectUnavailable)
		return
	}
	err := s.app.ApproveQuickConnect(c.Request.Context(), a, credsOf(c).Token, code)
	switch {
	case errors.Is(err, usecase.ErrQuickConnectUnknownCode):
		s.fail(c, errAnsQuickConnectUnknownCode)
		return
	case errors.Is(err, usecase.ErrQuickConnectNotAccepted):
		s.fail(c, errAnsQuickConnectRefused)
		return
	case err != nil:
		s.qc.forget(c.Request.Context(), code) // not recorded, so not let in
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
	by, _ := s.qc.authorizedBy(c.Request.Context(), in.Secret)
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
