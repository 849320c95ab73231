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
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

const ctxUser = "jfguard.user"

// sessionUser returns the user of a request's verified Jellyfin token.
func (s *Server) sessionUser(r *http.Request) (uid string, creds upstream.Credentials, ok bool) {
	creds, err := upstream.ExtractCredentials(r)
	if err != nil || creds.Token == "" {
		return "", creds, false
	}
	h := tokenHash(creds.Token)
	s.read(func(st *projections.State) {
		if ref, found := st.Tokens[h]; found && ref.Status == projections.TokenVerified {
			uid = ref.UserID
		}
	})
	return uid, creds, uid != ""
}

// requireSession lets only verified sessions use self-service.
func (s *Server) requireSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		uid, creds, ok := s.sessionUser(c.Request)
		if !ok {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized", "message": "Sign in to Jellyfin first."})
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
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "forbidden", "message": "Administrators only."})
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
	Session *sessionLevel `json:"session,omitempty"`
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
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	v.Features = featuresView{Passkeys: s.passkeyStatus(), Email: s.opts.Mailer != nil}
	if lvl, ok := s.levelOf(v.User.ID, tokenHash(credsOf(c).Token)); ok {
		v.Session = &lvl
	}
	// The address is sealed in the log; only its owner sees it, here.
	s.read(func(st *projections.State) {
		if u := st.Users[v.User.ID]; u != nil && u.Email != nil {
			v.Email = &emailView{Confirmed: u.Email.Confirmed}
		}
	})
	if v.Email != nil {
		addr, err := s.userAddress(c.Request.Context(), v.User.ID)
		if err != nil {
			s.log.Warn("cannot unseal the email address for the setup page", "err", err)
		}
		v.Email.Address = addr
	}
	c.JSON(http.StatusOK, v)
}

// selfService runs a decision for the caller, guarded by the step-up rule of the
// route's action, and answers with the standard errors.
func (s *Server) selfService(c *gin.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) bool {
	if err := s.execAccount(c, decide); err != nil {
		s.selfServiceError(c, err)
		return false
	}
	return true
}

// execAccount runs a guarded self-service decision for the caller.
func (s *Server) execAccount(c *gin.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) error {
	_, err := s.opts.Projector.ExecUser(c.Request.Context(), userOf(c), s.requestContext(c), s.guarded(c, decide))
	return err
}

func (s *Server) selfServiceError(c *gin.Context, err error) {
	if s.passkeyError(c, err) || stepUpAnswer(c, err) {
		return
	}
	if errors.Is(err, errUndeclaredAction) {
		s.log.Error("refused a self-service change", "path", c.FullPath(), "err", err)
	}
	var locked *domain.LockedError
	switch {
	case errors.As(err, &locked):
		s.verifyFailure(c, err)
	case errors.Is(err, domain.ErrNotFound):
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found", "message": "Nothing to change: it is already gone."})
	case errors.Is(err, domain.ErrTOTPEnrolled):
		c.JSON(http.StatusConflict, gin.H{"error": "already_enrolled", "message": "An authenticator app is already set up. Disable it first."})
	case errors.Is(err, domain.ErrNoPendingTOTP):
		c.JSON(http.StatusConflict, gin.H{"error": "no_enrollment", "message": "Start adding an authenticator app first."})
	case errors.Is(err, domain.ErrNoFactor):
		c.JSON(http.StatusConflict, gin.H{"error": "no_factor", "message": "Two-factor sign-in is not set up."})
	case errors.Is(err, domain.ErrPairingExpired):
		c.JSON(http.StatusGone, gin.H{"error": "expired", "message": "This request has expired. Sign in on the device again."})
	case errors.Is(err, domain.ErrPairingResolved):
		c.JSON(http.StatusConflict, gin.H{"error": "already_answered", "message": "This request was already answered."})
	case errors.Is(err, domain.ErrTooMany):
		c.JSON(http.StatusConflict, gin.H{"error": "limit_reached", "message": "You have reached the limit. Remove one first."})
	case errors.Is(err, domain.ErrCodeFormat), errors.Is(err, domain.ErrCodeInvalid), errors.Is(err, domain.ErrCodeReused),
		errors.Is(err, domain.ErrMethodNotAvailable), errors.Is(err, domain.ErrCodeExpired):
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_code", "message": "That code did not work."})
	default:
		c.JSON(http.StatusInternalServerError, gin.H{"error": "internal", "message": "Something went wrong. Try again."})
	}
}

// handleTOTPBegin starts adding an authenticator app.
func (s *Server) handleTOTPBegin(c *gin.Context) {
	key, sealed, err := s.newSealedTOTP(c.Request.Context(), userOf(c))
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideBeginTOTP(u, sealed)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": key.Secret, "uri": key.URI, "qr": "/jfguard/api/me/totp/qr"})
}

// newSealedTOTP makes a TOTP secret labelled with the user's name, and seals it for
// the user.
func (s *Server) newSealedTOTP(ctx context.Context, uid string) (domain.TOTPKey, events.Sealed, error) {
	var name string
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil {
			name = u.Name
		}
	})
	key, err := domain.NewTOTPSecret(s.opts.TOTPIssuer, name, s.opts.Rand)
	if err != nil {
		return key, "", err
	}
	sealed, err := s.opts.Sealer.Seal(ctx, uid, []byte(key.Secret))
	return key, sealed, err
}

// pendingTOTP unseals the secret of an enrollment in progress.
func (s *Server) pendingTOTP(ctx context.Context, uid string) (string, string, error) {
	var sealed events.Sealed
	var name string
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil {
			sealed, name = u.PendingTOTP, u.Name
		}
	})
	if sealed == "" {
		return "", "", domain.ErrNoPendingTOTP
	}
	b, err := s.opts.Sealer.Open(ctx, uid, sealed)
	return string(b), name, err
}

// handleTOTPQR serves the pending secret's QR code.
func (s *Server) handleTOTPQR(c *gin.Context) {
	secret, name, err := s.pendingTOTP(c.Request.Context(), userOf(c))
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	png, err := domain.TOTPQRCode(domain.TOTPURI(s.opts.TOTPIssuer, name, secret), 256)
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
	uid := userOf(c)
	secret, _, err := s.pendingTOTP(c.Request.Context(), uid)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	plain, stored, err := domain.NewRecoveryCodes(s.opts.Rand, s.opts.HashParams)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	gave := false
	pol := s.Policy()
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, err := domain.DecideConfirmTOTP(u, pol, secret, in.Code, now, stored)
		gave = err == nil && len(evs) > 1
		return evs, err
	}) {
		return
	}
	if !gave {
		plain = []string{}
	}
	c.JSON(http.StatusOK, gin.H{"recovery_codes": plain})
}

// proofRequest carries a current factor for a sensitive change.
type proofRequest struct {
	Method string `json:"method"`
	Code   string `json:"code"`
	// Ceremony and Credential carry a passkey's answer (method "passkey").
	Ceremony   string          `json:"ceremony,omitempty"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

func (s *Server) proof(c *gin.Context, in proofRequest) (domain.FactorProof, bool) {
	method := in.Method
	if method == "" {
		method = guessMethod(in.Code)
	}
	p := domain.FactorProof{Method: method, Code: in.Code}
	if method == domain.MethodTOTP {
		secret, err := s.totpSecret(c.Request.Context(), userOf(c))
		if err != nil {
			s.selfServiceError(c, err)
			return p, false
		}
		p.TOTPSecret = secret
	}
	if method == domain.MethodPasskey {
		a, ok := s.passkeyProof(c, in)
		if !ok {
			return p, false
		}
		p.Passkey = a
	}
	return p, true
}

// handleRecoveryRegenerate replaces the recovery codes (needs a current factor).
func (s *Server) handleRecoveryRegenerate(c *gin.Context) {
	plain, stored, err := domain.NewRecoveryCodes(s.opts.Rand, s.opts.HashParams)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	if s.withProof(c, func(u *domain.User, pol domain.Policy, p domain.FactorProof) ([]events.Payload, error) {
		return domain.DecideRegenerateRecovery(u, pol, p, stored)
	}) {
		c.JSON(http.StatusOK, gin.H{"recovery_codes": plain})
	}
}

// withProof runs a self-service change that needs a current factor: it reads the
// proof from the body and hands it, stamped with the decision's time, to decide.
// It reports whether the change was made (the answer for a failure is written).
func (s *Server) withProof(c *gin.Context, decide func(u *domain.User, pol domain.Policy, p domain.FactorProof) ([]events.Payload, error)) bool {
	in, ok := decodeJSON[proofRequest](c, maxCredentialBody)
	if !ok {
		return false
	}
	p, ok := s.proof(c, in)
	if !ok {
		return false
	}
	pol := s.Policy()
	return s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		p.Now = now
		return decide(u, pol, p)
	})
}

// handleDisable turns two-factor sign-in off (needs a current factor).
func (s *Server) handleDisable(c *gin.Context) {
	if s.withProof(c, domain.DecideDisable) {
		c.JSON(http.StatusOK, gin.H{"ok": true})
	}
}

// handleRevokeBrowser stops trusting a browser.
func (s *Server) handleRevokeBrowser(c *gin.Context) {
	id := c.Param("id")
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideRevokeBrowser(u, id)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handleRevokeSession signs a session out, at jfguard and at Jellyfin.
func (s *Server) handleRevokeSession(c *gin.Context) {
	h := c.Param("hash")
	var token events.Sealed
	own := h == tokenHash(credsOf(c).Token)
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if ss := u.Sessions[h]; ss != nil {
			token = ss.Token
		}
		if own {
			return domain.DecideSignOut(u, h)
		}
		return domain.DecideRevokeSession(u, h, "signed_out_by_user")
	}) {
		return
	}
	s.logoutSealed(userOf(c), token)
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handlePairingAnswer approves or denies a device waiting for approval.
func (s *Server) handlePairingAnswer(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("id")
		pol := s.Policy()
		if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			return domain.DecidePairingAnswer(u, pol, id, approve, now)
		}) {
			return
		}
		c.JSON(http.StatusOK, gin.H{"ok": true})
	}
}

// proxyLogout passes a sign-out to Jellyfin and records that the session ended.
func (s *Server) proxyLogout(c *gin.Context, creds upstream.Credentials, addr clientaddr.ClientAddr) {
	h := tokenHash(creds.Token)
	s.proxy.ServeHTTP(c.Writer, c.Request)
	var uid string
	s.read(func(st *projections.State) {
		if ref, ok := st.Tokens[h]; ok && ref.Status == projections.TokenVerified {
			uid = ref.UserID
		}
	})
	if uid == "" {
		return
	}
	_, err := s.opts.Projector.ExecUser(context.WithoutCancel(c.Request.Context()), uid, s.eventContext(uid, addr, creds), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		if u.Sessions[h] == nil {
			return nil, nil
		}
		return []events.Payload{&events.SessionRevoked{TokenHash: h, Reason: "signed_out"}}, nil
	})
	if err != nil {
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
