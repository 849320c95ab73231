package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

const ctxUser = "jfguard.user"

// Refusals of the self-service and admin API's gates.
var (
	errAnsAdminsOnly = newAPIError(http.StatusForbidden, "forbidden", "Administrators only.")
	// errAnsNoAccount: the session's user is not in the projection (yet).
	errAnsNoAccount = newAPIError(http.StatusNotFound, "not_found", "")
)

// sessionUser returns the user of a request's verified Jellyfin token.
func (s *Server) sessionUser(r *http.Request) (uid string, creds upstream.Credentials, ok bool) {
	creds, err := upstream.ExtractCredentials(r)
	if err != nil || creds.Token == "" {
		return "", creds, false
	}
	uid = s.app.VerifiedUser(creds.Token)
	return uid, creds, uid != ""
}

// requireSession lets only verified sessions use self-service.
func (s *Server) requireSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		uid, creds, ok := s.sessionUser(c.Request)
		if !ok {
			s.fail(c, errAnsUnauthorized)
			return
		}
		c.Set(ctxUser, uid)
		c.Set("jfguard.creds", creds)
		c.Next()
	}
}

// requireAdmin lets in jfguard's admin token or a verified session of a Jellyfin
// administrator that is not a device's (an administrator's TV reads no audit log).
func (s *Server) requireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := s.adminCaller(c.Request); ok {
			c.Next()
			return
		}
		s.fail(c, errAnsAdminsOnly)
	}
}

// adminCaller is who calls the admin API: jfguard's admin token (the root
// credential of scripts and the CLI), or an administrator's session.
type adminCaller struct {
	token     bool
	userID    string
	tokenHash string
	// auditor: the auditor token, which may call read-only methods only.
	auditor bool
}

// adminCaller reports whether the request comes from an administrator, and which.
func (s *Server) adminCaller(r *http.Request) (adminCaller, bool) {
	if tok := s.opts.AdminToken; tok != "" {
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") &&
			subtle.ConstantTimeCompare([]byte(strings.TrimPrefix(h, "Bearer ")), []byte(tok)) == 1 {
			return adminCaller{token: true}, true
		}
	}
	uid, creds, ok := s.sessionUser(r)
	if !ok {
		return adminCaller{}, false
	}
	h := tokenHash(creds.Token)
	var admin bool
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil && u.Admin {
			ss := u.Sessions[h]
			admin = ss != nil && ss.Assurance != domain.AssuranceDevice
		}
	})
	return adminCaller{userID: uid, tokenHash: h}, admin
}

func userOf(c *gin.Context) string { return c.GetString(ctxUser) }

func credsOf(c *gin.Context) upstream.Credentials {
	v, _ := c.Get("jfguard.creds")
	creds, _ := v.(upstream.Credentials)
	return creds
}

// meView is the caller's security overview.
type meView struct {
	User struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Admin bool   `json:"admin"`
	} `json:"user"`
	TwoFactor     bool          `json:"two_factor"`
	Methods       []string      `json:"methods"`
	TOTP          totpView      `json:"totp"`
	RecoveryLeft  int           `json:"recovery_codes_left"`
	LockedUntil   *time.Time    `json:"locked_until,omitempty"`
	Browsers      []browserView `json:"trusted_browsers"`
	Sessions      []sessionView `json:"sessions"`
	Pairings      []pairingView `json:"pairings"`
	Devices       []pairingView `json:"devices"`
	AppPasswords  []appPwView   `json:"app_passwords"`
	Passkeys      []passkeyView `json:"passkeys"`
	Email         *emailView    `json:"email,omitempty"`
	ThisBrowserID string        `json:"this_browser,omitempty"`
	// Session is the caller's own session: its assurance level and until when a
	// proven factor lets it change the account.
	Session *usecase.SessionLevel `json:"session,omitempty"`
	// Features says what this server offers, so the page can say why something is
	// missing instead of failing when it is used.
	Features featuresView `json:"features"`
}

type emailView struct {
	Address   string `json:"address"`
	Confirmed bool   `json:"confirmed"`
}

type featuresView struct {
	Passkeys passkeyStatus `json:"passkeys"`
	Email    bool          `json:"email"`
}

type totpView struct {
	Enrolled   bool       `json:"enrolled"`
	Pending    bool       `json:"pending"`
	EnrolledAt *time.Time `json:"enrolled_at,omitempty"`
}

type browserView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
	ExpiresAt time.Time `json:"expires_at"`
	IP        string    `json:"ip,omitempty"`
	Current   bool      `json:"current"`
}

type sessionView struct {
	ID         string    `json:"id"` // the token hash: names the session without revealing it
	Reason     string    `json:"reason"`
	VerifiedAt time.Time `json:"verified_at"`
	IP         string    `json:"ip,omitempty"`
	Client     string    `json:"client,omitempty"`
	Device     string    `json:"device,omitempty"`
	Current    bool      `json:"current"`
}

type pairingView struct {
	ID          string    `json:"id"`
	DeviceName  string    `json:"device_name"`
	Client      string    `json:"client"`
	Version     string    `json:"version"`
	IP          string    `json:"ip,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	Status      string    `json:"status"`
	LastUsed    time.Time `json:"last_used,omitzero"`
}

type appPwView struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	LastIP    string    `json:"last_ip,omitempty"`
}

type passkeyView struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Synced    bool      `json:"synced"` // backed up by its provider (a synced passkey)
}

// buildMe renders the overview of user uid.
func (s *Server) buildMe(uid, currentToken, currentBrowser string) (meView, bool) {
	var v meView
	var found bool
	now := s.now()
	s.read(func(st *projections.State) {
		u := st.Users[uid]
		if u == nil {
			return
		}
		found = true
		v.User.ID, v.User.Name, v.User.Admin = u.ID, u.Name, u.Admin
		v.TwoFactor = u.HasSecondFactor()
		v.Methods = u.Methods()
		if u.TOTP != nil {
			at := u.TOTP.EnrolledAt
			v.TOTP = totpView{Enrolled: true, EnrolledAt: &at}
		}
		v.TOTP.Pending = u.PendingTOTP != ""
		v.RecoveryLeft = u.RecoveryLeft()
		if u.Locked(now) {
			t := u.LockedUntil
			v.LockedUntil = &t
		}
		for _, b := range u.Browsers {
			if now.Before(b.ExpiresAt) {
				v.Browsers = append(v.Browsers, browserView{b.ID, b.Name, b.CreatedAt, b.LastUsed, b.ExpiresAt, b.IP, b.ID == currentBrowser})
			}
		}
		cur := ""
		if currentToken != "" {
			cur = tokenHash(currentToken)
		}
		for _, ss := range u.Sessions {
			v.Sessions = append(v.Sessions, sessionView{ss.TokenHash, ss.Reason, ss.VerifiedAt, ss.IP, ss.Device.Client, ss.Device.Name, ss.TokenHash == cur})
		}
		for _, p := range u.SortedPairings() {
			pv := pairingView{p.ID, p.DeviceName, p.Client, p.Version, p.IP, p.RequestedAt, p.ExpiresAt, p.Status, p.LastUsed}
			switch {
			case p.Status == domain.PairingPaired:
				pv.ExpiresAt = time.Time{}
				v.Devices = append(v.Devices, pv)
			case p.Status == domain.PairingPending && now.Before(p.ExpiresAt):
				v.Pairings = append(v.Pairings, pv)
			case p.Status == domain.PairingApproved && now.Before(p.ApprovedUntil):
				v.Pairings = append(v.Pairings, pv)
			}
		}
		for _, a := range u.AppPasswords {
			v.AppPasswords = append(v.AppPasswords, appPwView{a.ID, a.Label, a.CreatedAt, a.LastUsed, a.LastIP})
		}
		for _, k := range u.Passkeys {
			v.Passkeys = append(v.Passkeys, passkeyView{k.CredentialID, k.Label, k.CreatedAt, k.LastUsed, k.BackupState})
		}
	})
	sort.Slice(v.Browsers, func(i, j int) bool { return v.Browsers[i].LastUsed.After(v.Browsers[j].LastUsed) })
	sort.Slice(v.Sessions, func(i, j int) bool { return v.Sessions[i].VerifiedAt.After(v.Sessions[j].VerifiedAt) })
	sort.Slice(v.AppPasswords, func(i, j int) bool { return v.AppPasswords[i].CreatedAt.After(v.AppPasswords[j].CreatedAt) })
	sort.Slice(v.Passkeys, func(i, j int) bool { return v.Passkeys[i].CreatedAt.After(v.Passkeys[j].CreatedAt) })
	if v.Methods == nil {
		v.Methods = []string{}
	}
	v.Browsers = nonNil(v.Browsers)
	v.Sessions = nonNil(v.Sessions)
	v.Pairings = nonNil(v.Pairings)
	v.Devices = nonNil(v.Devices)
	v.AppPasswords = nonNil(v.AppPasswords)
	v.Passkeys = nonNil(v.Passkeys)
	return v, found
}

func (s *Server) handleMe(c *gin.Context) {
	// "This browser" is the one whose current secret the cookie holds.
	browser := ""
	if ref, hash, ok := s.presentedTrustCookie(c); ok && ref.UserID == userOf(c) {
		s.read(func(st *projections.State) {
			if u := st.Users[ref.UserID]; u != nil && u.Browsers[ref.BrowserID] != nil && u.Browsers[ref.BrowserID].SecretHash == hash {
				browser = ref.BrowserID
			}
		})
	}
	v, ok := s.buildMe(userOf(c), credsOf(c).Token, browser)
	if !ok {
		s.fail(c, errAnsNoAccount)
		return
	}
	v.Features = featuresView{Passkeys: s.passkeyStatus(), Email: s.opts.Mailer != nil}
	if lvl, ok := s.app.LevelOf(v.User.ID, tokenHash(credsOf(c).Token)); ok {
		v.Session = &lvl
	}
	// The address is sealed in the log; only its owner sees it, here.
	s.read(func(st *projections.State) {
		if u := st.Users[v.User.ID]; u != nil && u.Email != nil {
			v.Email = &emailView{Confirmed: u.Email.Confirmed}
		}
	})
	if v.Email != nil {
		addr, err := s.app.EmailAddress(c.Request.Context(), v.User.ID)
		if err != nil {
			s.log.Warn("cannot unseal the email address for the setup page", "err", err)
		}
		v.Email.Address = addr
	}
	c.JSON(http.StatusOK, v)
}

// selfServiceError answers a refused self-service request. A change made without
// a declared action is a bug in the routes: it is logged as one.
func (s *Server) selfServiceError(c *gin.Context, err error) {
	if errors.Is(err, usecase.ErrUndeclaredAction) {
		s.log.Error("refused a self-service change", "path", c.FullPath(), "err", err)
	}
	s.fail(c, err)
}

// handleTOTPBegin starts adding an authenticator app.
func (s *Server) handleTOTPBegin(c *gin.Context) {
	key, err := s.app.BeginTOTP(c.Request.Context(), s.accountOf(c))
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": key.Secret, "uri": key.URI, "qr": "/jfguard/api/me/totp/qr"})
}

// handleTOTPQR serves the pending secret's QR code.
func (s *Server) handleTOTPQR(c *gin.Context) {
	png, err := s.app.PendingTOTPQRCode(c.Request.Context(), s.accountOf(c))
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.Data(http.StatusOK, "image/png", png)
}

// handleTOTPConfirm confirms the authenticator with a code and hands out recovery
// codes the first time.
func (s *Server) handleTOTPConfirm(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Code string `json:"code"`
	}](c, 1024)
	if !ok {
		return
	}
	codes, err := s.app.ConfirmTOTP(c.Request.Context(), s.accountOf(c), in.Code)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"recovery_codes": codes})
}

// proofRequest carries a current factor for a sensitive change.
type proofRequest struct {
	Method string `json:"method"`
	Code   string `json:"code"`
	// Ceremony and Credential carry a passkey's answer (method "passkey").
	Ceremony   string          `json:"ceremony,omitempty"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

// proof reads the factor of a proof request: the method (guessed from a bare code)
// and the code, or a passkey's assertion, which the relying party verifies here.
// The use case completes it (a TOTP code needs the user's secret).
func (s *Server) proof(c *gin.Context, in proofRequest) (domain.FactorProof, bool) {
	method := in.Method
	if method == "" {
		method = guessMethod(in.Code)
	}
	p := domain.FactorProof{Method: method, Code: in.Code}
	if method == domain.MethodPasskey {
		a, ok := s.passkeyProof(c, in)
		if !ok {
			return p, false
		}
		p.Passkey = a
	}
	return p, true
}

// proofOf reads the body of a request whose form carries a current factor.
func (s *Server) proofOf(c *gin.Context) (domain.FactorProof, bool) {
	in, ok := decodeJSON[proofRequest](c, maxCredentialBody)
	if !ok {
		return domain.FactorProof{}, false
	}
	return s.proof(c, in)
}

// handleRecoveryRegenerate replaces the recovery codes (needs a current factor).
func (s *Server) handleRecoveryRegenerate(c *gin.Context) {
	p, ok := s.proofOf(c)
	if !ok {
		return
	}
	codes, err := s.app.RegenerateRecoveryCodes(c.Request.Context(), s.accountOf(c), p)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"recovery_codes": codes})
}

// handleDisable turns two-factor sign-in off (needs a current factor).
func (s *Server) handleDisable(c *gin.Context) {
	p, ok := s.proofOf(c)
	if !ok {
		return
	}
	if err := s.app.DisableTwoFactor(c.Request.Context(), s.accountOf(c), p); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleRevokeBrowser stops trusting a browser.
func (s *Server) handleRevokeBrowser(c *gin.Context) {
	if err := s.app.RevokeBrowser(c.Request.Context(), s.accountOf(c), c.Param("id")); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleRevokeSession signs a session out, at jfguard and at Jellyfin.
func (s *Server) handleRevokeSession(c *gin.Context) {
	if err := s.app.RevokeSession(c.Request.Context(), s.accountOf(c), c.Param("hash")); err != nil {
		s.selfServiceError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handlePairingAnswer approves or denies a device waiting for approval.
func (s *Server) handlePairingAnswer(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.app.AnswerPairing(c.Request.Context(), s.accountOf(c), c.Param("id"), approve); err != nil {
			s.selfServiceError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"ok": true})
	}
}

// proxyLogout passes a sign-out to Jellyfin and records that the session ended.
// The record outlives the request: the client may hang up once Jellyfin answered.
func (s *Server) proxyLogout(c *gin.Context, creds upstream.Credentials, addr clientaddr.ClientAddr) {
	h := tokenHash(creds.Token)
	s.proxy.ServeHTTP(c.Writer, c.Request)
	if err := s.app.RecordSignOut(context.WithoutCancel(c.Request.Context()), callerOf(addr, creds), h); err != nil {
		s.log.Error("record sign-out", "err", err)
	}
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
