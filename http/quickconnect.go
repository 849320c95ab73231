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
	"github.com/jfguard/jfguard/projections"
)

// quickConnectLedger remembers, for the lifetime of a Quick Connect request, which
// secret goes with which code and which codes a verified session authorized through
// jfguard. A token from AuthenticateWithQuickConnect is verified only when its code
// was authorized that way: Quick Connect is how a TV signs in with "enter the code on
// your phone", and the phone must already have passed the second factor.
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
func (s *Server) handleQuickConnectInitiate(c *gin.Context) {
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

// authorizeQuickConnect is the gate's path for Jellyfin's own "Quick Connect" page:
// a verified session authorizing a code. Authorizing a code lets a new device in, so
// it is an account change: only a session with a recent second factor may, decided
// by the domain's step-up rule; a refusal points to jfguard's security page, where
// the person proves the factor and authorizes the code. It reports whether the
// request may go on to Jellyfin; the code is noted first, because the device
// finishes its sign-in as soon as Jellyfin answers.
func (s *Server) authorizeQuickConnect(c *gin.Context, creds upstream.Credentials, addr clientaddr.ClientAddr) bool {
	code := queryFold(c.Request, "code")
	h := tokenHash(creds.Token)
	var uid string
	s.read(func(st *projections.State) {
		if ref, ok := st.Tokens[h]; ok && ref.Status == projections.TokenVerified {
			uid = ref.UserID
		}
	})
	if uid == "" {
		s.refuse(c, http.StatusUnauthorized, "this session needs a second factor")
		return false
	}
	caller, pol := domain.Caller{TokenHash: h}, s.Policy()
	_, err := s.opts.Projector.ExecUser(c.Request.Context(), uid, s.eventContext(uid, addr, creds), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, err := u.Authorize(caller, domain.ActionQuickConnect, pol, now)
		if err != nil {
			return evs, err
		}
		return []events.Payload{&events.QuickConnectAuthorized{TokenHash: h}}, nil
	})
	if err != nil {
		s.setSecurityHeaders(c.Writer.Header())
		c.Header("Cache-Control", "no-store")
		// jfguard's script in the web app follows this header to the security page,
		// which asks for the second step and approves the code there.
		c.Header(stepUpHeader, "/jfguard/setup?quick_connect="+url.QueryEscape(code)+"#devices")
		c.Header("Access-Control-Expose-Headers", stepUpHeader)
		if stepUpAnswer(c, err) {
			// The web app shows Jellyfin's generic error; the body says where to go.
			s.log.Info("quick connect authorize refused", "user", uid, "err", err)
		} else {
			s.log.Error("quick connect authorize", "err", err)
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "unavailable", "message": "Try again in a moment."})
		}
		c.Abort()
		return false
	}
	if code != "" {
		s.qc.authorize(code, uid)
	}
	return true
}

// stepUpHeader names the page where a refused change can be made after a step-up.
const stepUpHeader = "X-Jfguard-Step-Up"

// handleQuickConnectApprove authorizes a Quick Connect code from jfguard's security
// page (its route needs a recent second factor): jfguard asks Jellyfin to authorize
// the code for the caller, with the caller's own token, then records it.
func (s *Server) handleQuickConnectApprove(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Code string `json:"code"`
	}](c, 1024)
	if !ok {
		return
	}
	code := strings.TrimSpace(in.Code)
	if code == "" || len(code) > 32 {
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_code", "message": "Type the code the device shows."})
		return
	}
	uid, creds := userOf(c), credsOf(c)
	h := tokenHash(creds.Token)
	s.qc.authorize(code, uid)
	if err := s.jf.AuthorizeQuickConnect(c.Request.Context(), creds.Token, code); err != nil {
		var se *upstream.StatusError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusBadRequest) {
			c.JSON(http.StatusNotFound, gin.H{"error": "unknown_code", "message": "No device is waiting with this code. Check it, or start again on the device."})
			return
		}
		s.log.Warn("quick connect authorize at Jellyfin", "err", err)
		c.JSON(http.StatusBadGateway, gin.H{"error": "upstream_failed", "message": "Jellyfin did not accept the code. Is Quick Connect on?"})
		return
	}
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.QuickConnectAuthorized{TokenHash: h}}, nil
	}) {
		s.qc.forget(code) // not recorded, so not let in
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

// handleQuickConnectAuthenticate decides on the token Quick Connect hands out.
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
	by, viaJfguard := s.qc.authorizedBy(in.Secret)
	pol := s.Policy()
	ctx := c.Request.Context()
	h := tokenHash(res.AccessToken)
	sealed, err := s.opts.Sealer.Seal(ctx, res.User.ID, []byte(res.AccessToken))
	if err != nil {
		s.logoutAsync(res.AccessToken)
		s.refuse(c, http.StatusServiceUnavailable, "sign-in is unavailable right now")
		return
	}
	refused := false
	_, err = s.opts.Projector.ExecUser(ctx, res.User.ID, s.eventContext(res.User.ID, addr, creds), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		refused = false
		var evs []events.Payload
		if !u.Known() {
			evs = append(evs, &events.UserDiscovered{Name: res.User.Name, Admin: res.User.Policy.IsAdministrator})
		}
		if u.Sessions[h] != nil {
			// Jellyfin answers the same secret with the same token while it keeps the
			// request: a client retrying the call gets the session it already has.
			return evs, nil
		}
		reason := ""
		switch {
		case !pol.Enabled:
			reason = domain.ReasonDisabled
		case viaJfguard && by == res.User.ID:
			reason = domain.ReasonQuickConnect
		case !u.HasSecondFactor() && !pol.RequireAll:
			reason = domain.ReasonNoSecondFactor
		case pol.LANBypass && addr.BypassSafe && pol.InLAN(addr.IP):
			reason = domain.ReasonLAN
		default:
			refused = true
			return evs, nil
		}
		// A token from Quick Connect is a device's, whatever let it in.
		sv := domain.NewSessionVerified(h, reason, sealed)
		sv.Assurance = string(domain.AssuranceDevice)
		return append(evs, sv), nil
	})
	if err != nil || refused {
		// Authorized outside jfguard (directly at Jellyfin, or by a session that did
		// not pass the second factor): the token must not be usable.
		s.logoutAsync(res.AccessToken)
		s.refuse(c, http.StatusUnauthorized, "this sign-in needs a second factor")
		return
	}
	ans.write(c.Writer)
}
