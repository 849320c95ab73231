package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// Passwordless sign-in keeps its ceremony id in a cookie rather than in the page:
// HttpOnly, so a script cannot read it, SameSite=Strict, so another site cannot make
// the browser finish a ceremony it did not begin, and scoped to the two requests of
// the ceremony.
const (
	passkeyCookie     = "jfguard_passkey"
	passkeyCookiePath = "/jfguard/api/passkey"
)

// maxCredentialBody bounds a request carrying a WebAuthn credential; real ones are a
// few kilobytes.
const maxCredentialBody = 16 << 10

// passkeyBeginLimits: every ceremony begun without a session holds memory until it
// expires; 20 a minute from one address is far more than a person needs.
func passkeyBeginLimits() Limits {
	return Limits{VerifyPerIP: 20, VerifyIPWindow: time.Minute, VerifyPerUser: 1000, VerifyUserWindow: time.Minute}
}

// Answers the pages show as they are.
const (
	msgPasskeysOff       = "Passkeys are not set up on this server."
	msgPasskeySignInOff  = "Signing in with a passkey alone is not available on this server: Quick Connect is off in Jellyfin, or jfguard has no admin API key. Sign in with your password."
	msgPasskeyFailed     = "That passkey did not work. Try again, or use another way to sign in."
	msgPasskeyCloned     = "This passkey was refused: its signature counter went backwards, so it may have been copied. Use another way to sign in, then check your passkeys in your security settings."
	msgPasskeyCeremony   = "This passkey request has expired or was already used. Try again."
	msgPasskeyNoneToUse  = "You have no passkey yet. Use another way to verify."
	msgPasskeyNotCreated = "The passkey could not be added: the browser's answer did not verify. Try again."
)

// passkeyStatus tells a page whether passkeys work on this server.
type passkeyStatus struct {
	Enabled bool   `json:"enabled"`
	SignIn  bool   `json:"sign_in"`
	Message string `json:"message,omitempty"`
}

func (s *Server) passkeyStatus() passkeyStatus {
	switch {
	case s.rp == nil:
		return passkeyStatus{Message: msgPasskeysOff}
	case !s.jf.HasAdminKey():
		return passkeyStatus{Enabled: true, Message: msgPasskeySignInOff}
	}
	return passkeyStatus{Enabled: true, SignIn: true}
}

// handlePasskeyStatus answers whether passkeys work here; the script in the web app
// asks before it offers passkey sign-in.
func (s *Server) handlePasskeyStatus(c *gin.Context) { c.JSON(http.StatusOK, s.passkeyStatus()) }

// passkeyError answers the passkey-specific errors of a request and reports whether
// it did.
func (s *Server) passkeyError(c *gin.Context, err error) bool {
	switch {
	case errors.Is(err, errPasskeysOff):
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "passkeys_unavailable", "message": msgPasskeysOff})
	case errors.Is(err, errCeremonyUnknown), errors.Is(err, errCeremonyExpired), errors.Is(err, errCeremonyMismatch):
		c.JSON(http.StatusBadRequest, gin.H{"error": "passkey_expired", "message": msgPasskeyCeremony})
	case errors.Is(err, errCeremoniesFull):
		c.Header("Retry-After", "60")
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "busy", "message": "Too many passkey requests right now. Try again in a minute."})
	case errors.Is(err, domain.ErrPasskeyCloned):
		c.JSON(http.StatusUnauthorized, gin.H{"error": "passkey_refused", "message": msgPasskeyCloned})
	case errors.Is(err, domain.ErrPasskeyInvalid):
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_passkey", "message": msgPasskeyFailed})
	case errors.Is(err, domain.ErrPasskeyLabel):
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_label", "message": "Give the passkey a name of 1 to 64 characters, e.g. “My phone”."})
	case errors.Is(err, domain.ErrPasskeyRegistered):
		c.JSON(http.StatusConflict, gin.H{"error": "already_registered", "message": "This passkey is already added."})
	default:
		return false
	}
	return true
}

// rateLimited answers a refused rate limit.
func rateLimited(c *gin.Context, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
	c.JSON(http.StatusTooManyRequests, gin.H{"error": "rate_limited", "message": "Too many attempts. Wait a moment.", "retry_after": max(secs, 1)})
}

// userClone returns a copy of a user's state, or nil; go-webauthn reads it outside
// the projection's lock.
func (s *Server) userClone(uid string) *domain.User {
	var u *domain.User
	s.read(func(st *projections.State) {
		if x := st.Users[uid]; x != nil {
			u = x.Clone()
		}
	})
	return u
}

// sessionBinding names the caller's session for the ceremonies it begins: the hash
// of its token, so a ceremony begun in one session cannot be finished in another.
func sessionBinding(c *gin.Context) string { return tokenHash(credsOf(c).Token) }

// beginAnswer sends a ceremony's id and the options for the browser's WebAuthn call.
func beginAnswer(c *gin.Context, id string, publicKey any) {
	c.JSON(http.StatusOK, gin.H{"ceremony": id, "publicKey": publicKey})
}

// handlePasskeyRegisterBegin starts adding a passkey. Its route needs a recent
// second factor (a passkey signs in alone): a session of an app password or a paired
// TV can never mint one.
func (s *Server) handlePasskeyRegisterBegin(c *gin.Context) {
	if s.rp == nil {
		s.passkeyError(c, errPasskeysOff)
		return
	}
	u := s.userClone(userOf(c))
	if u == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	if len(u.Passkeys) >= domain.MaxPasskeys {
		s.selfServiceError(c, domain.ErrTooMany)
		return
	}
	id, opts, err := s.beginRegistration(u, sessionBinding(c))
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	beginAnswer(c, id, opts.Response)
}

// passkeyRegisterRequest is the browser's answer to a registration ceremony.
type passkeyRegisterRequest struct {
	Ceremony   string          `json:"ceremony"`
	Label      string          `json:"label"`
	Credential json.RawMessage `json:"credential"`
}

// handlePasskeyRegister checks the new credential and records it. The first factor
// of a user without recovery codes comes with a set, shown once.
func (s *Server) handlePasskeyRegister(c *gin.Context) {
	in, ok := decodeJSON[passkeyRegisterRequest](c, maxCredentialBody)
	if !ok {
		return
	}
	if s.rp == nil {
		s.passkeyError(c, errPasskeysOff)
		return
	}
	uid := userOf(c)
	u := s.userClone(uid)
	if u == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	cred, err := s.finishRegistration(u, in.Ceremony, sessionBinding(c), in.Credential)
	if err != nil {
		if s.passkeyError(c, err) {
			return
		}
		s.log.Info("passkey registration did not verify", "user", u.Name, "err", err)
		c.JSON(http.StatusBadRequest, gin.H{"error": "passkey_not_created", "message": msgPasskeyNotCreated})
		return
	}
	label := strings.TrimSpace(in.Label)
	if label == "" {
		label = defaultPasskeyLabel(cred, c.Request.UserAgent())
	}
	k := registeredPasskey(cred, label)
	var plain []string
	var stored []domain.RecoveryCode
	if u.RecoveryLeft() == 0 {
		if plain, stored, err = domain.NewRecoveryCodes(s.opts.Rand, s.opts.HashParams); err != nil {
			s.selfServiceError(c, err)
			return
		}
	}
	gave := false
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, err := domain.DecidePasskeyRegistered(u, k, stored)
		gave = err == nil && len(evs) > 1
		return evs, err
	}) {
		return
	}
	if !gave {
		plain = []string{}
	}
	v, _ := s.buildMe(uid, "", "")
	for _, p := range v.Passkeys {
		if p.ID == k.CredentialID {
			c.JSON(http.StatusOK, gin.H{"passkey": p, "recovery_codes": plain})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"passkey": passkeyView{ID: k.CredentialID, Label: k.Label}, "recovery_codes": plain})
}

// defaultPasskeyLabel names a passkey the person did not name: after the browser it
// was made in, or as a security key or phone when it lives on another device.
func defaultPasskeyLabel(cred *webauthn.Credential, userAgent string) string {
	if cred.Authenticator.Attachment == protocol.CrossPlatform {
		return "Security key or phone"
	}
	return "Passkey in " + browserName(userAgent)
}

// handlePasskeyRename changes a passkey's label.
func (s *Server) handlePasskeyRename(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Label string `json:"label"`
	}](c, 1024)
	if !ok {
		return
	}
	id := c.Param("id")
	if !s.selfService(c, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecideRenamePasskey(u, id, in.Label)
	}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handlePasskeyRemove removes a passkey with a current factor.
func (s *Server) handlePasskeyRemove(c *gin.Context) {
	id := c.Param("id")
	if s.withProof(c, func(u *domain.User, pol domain.Policy, p domain.FactorProof) ([]events.Payload, error) {
		return domain.DecideRemovePasskey(u, pol, id, p)
	}) {
		c.JSON(http.StatusOK, gin.H{"ok": true})
	}
}

// handlePasskeyProofBegin starts an assertion that proves the factor for a sensitive
// change (the proof forms' "Use a passkey").
func (s *Server) handlePasskeyProofBegin(c *gin.Context) {
	if s.rp == nil {
		s.passkeyError(c, errPasskeysOff)
		return
	}
	u := s.userClone(userOf(c))
	if u == nil || len(u.Passkeys) == 0 {
		c.JSON(http.StatusConflict, gin.H{"error": "no_passkey", "message": msgPasskeyNoneToUse})
		return
	}
	if now := s.now(); u.Locked(now) {
		s.verifyFailure(c, &domain.LockedError{Until: u.LockedUntil})
		return
	}
	id, opts, err := s.beginAssertion(ceremonyProof, sessionBinding(c), u, protocol.VerificationPreferred)
	if err != nil {
		s.selfServiceError(c, err)
		return
	}
	beginAnswer(c, id, opts.Response)
}

// passkeyProof checks the passkey assertion of a proof request, bound to the
// caller's session. An assertion that did not verify is returned unverified, for the
// domain to count.
func (s *Server) passkeyProof(c *gin.Context, in proofRequest) (domain.PasskeyAssertion, bool) {
	a, err := s.finishAssertion(in.Ceremony, ceremonyProof, sessionBinding(c), in.Credential, s.userClone)
	if err == nil && a.userID != userOf(c) {
		err = errCeremonyMismatch
	}
	if err != nil {
		s.selfServiceError(c, err)
		return domain.PasskeyAssertion{}, false
	}
	if a.cause != nil {
		s.log.Info("passkey assertion did not verify", "user", userOf(c), "err", a.cause)
	}
	return a.assertion, true
}

// handleChallengePasskey starts a passkey assertion for a challenge: the browser may
// answer with one of the user's passkeys only. The ceremony is bound to the challenge
// and its id goes back to this page, which sends it with the answer.
func (s *Server) handleChallengePasskey(c *gin.Context) {
	if s.rp == nil {
		s.passkeyError(c, errPasskeysOff)
		return
	}
	id := c.Param("id")
	addr := clientAddr(c)
	now := s.now()
	if ok, wait := s.passkeyRate.allow(s.addressKey(addr.IP), "", now); !ok {
		rateLimited(c, wait)
		return
	}
	var u *domain.User
	s.read(func(st *projections.State) {
		user := st.Users[st.ChallengeUsers[id]]
		if user == nil {
			return
		}
		if ch := user.Challenges[id]; ch != nil && !ch.Done && now.Before(ch.ExpiresAt) {
			u = user.Clone()
		}
	})
	switch {
	case u == nil:
		s.verifyFailure(c, domain.ErrChallengeNotFound)
		return
	case u.Locked(now):
		s.verifyFailure(c, &domain.LockedError{Until: u.LockedUntil})
		return
	case len(u.Passkeys) == 0:
		c.JSON(http.StatusConflict, gin.H{"error": "no_passkey", "message": msgPasskeyNoneToUse})
		return
	}
	cid, opts, err := s.beginAssertion(ceremonyChallenge, id, u, protocol.VerificationPreferred)
	if err != nil {
		if !s.passkeyError(c, err) {
			s.log.Error("begin passkey assertion", "err", err)
			c.JSON(http.StatusInternalServerError, gin.H{"error": "internal", "message": "Something went wrong. Try again."})
		}
		return
	}
	beginAnswer(c, cid, opts.Response)
}

// passkeySignInUnavailable answers when jfguard cannot mint Jellyfin sessions.
func passkeySignInUnavailable(c *gin.Context) {
	c.JSON(http.StatusServiceUnavailable, gin.H{"error": "passkey_sign_in_unavailable", "message": msgPasskeySignInOff})
}

// handlePasskeySignInBegin starts a passwordless sign-in. Any passkey of this site
// may answer; user verification is required, because the assertion is then both
// factors at once (the device and the person's fingerprint, face or PIN).
func (s *Server) handlePasskeySignInBegin(c *gin.Context) {
	if s.rp == nil {
		s.passkeyError(c, errPasskeysOff)
		return
	}
	addr := clientAddr(c)
	if s.banned(addr) {
		c.JSON(http.StatusForbidden, gin.H{"error": "forbidden"})
		return
	}
	if ok, wait := s.passkeyRate.allow(s.addressKey(addr.IP), "", s.now()); !ok {
		rateLimited(c, wait)
		return
	}
	// Say so before the person touches the authenticator, not after.
	if !s.jf.HasAdminKey() {
		passkeySignInUnavailable(c)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	on, err := s.jf.QuickConnectEnabled(ctx)
	cancel()
	switch {
	case err != nil:
		s.log.Warn("passkey sign-in: cannot ask Jellyfin whether Quick Connect is on", "err", err)
		c.JSON(http.StatusBadGateway, gin.H{"error": "upstream_unreachable", "message": "Jellyfin did not answer. Try again in a moment."})
		return
	case !on:
		passkeySignInUnavailable(c)
		return
	}
	id, opts, err := s.beginAssertion(ceremonySignIn, "", nil, protocol.VerificationRequired)
	if err != nil {
		if !s.passkeyError(c, err) {
			s.log.Error("begin passkey sign-in", "err", err)
			c.JSON(http.StatusInternalServerError, gin.H{"error": "internal", "message": "Something went wrong. Try again."})
		}
		return
	}
	s.setPasskeyCookie(c, id, int(ceremonyTTL.Seconds()))
	c.JSON(http.StatusOK, gin.H{"publicKey": opts.Response})
}

func (s *Server) setPasskeyCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: passkeyCookie, Value: value, Path: passkeyCookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.opts.PublicURL != nil && s.opts.PublicURL.Scheme == "https",
	})
}

// handlePasskeySignIn finishes a passwordless sign-in: the assertion alone signs the
// person in. It obeys what every sign-in obeys (address bans, rate limits, the
// user's lockout), then mints a real Jellyfin session through Quick Connect with the
// web app's own device headers and answers its AuthenticationResult, which the page
// hands to the web app as the challenge page does.
//
// An assertion that does not verify counts against the address, like a wrong
// password: it proved nothing about the user it names, and anyone can name a user
// handle (user ids are public at /Users/Public), so charging it to the user would
// let a stranger hold the user's second-factor step at 429. The address is charged
// before the assertion is checked; the user's rate limit only once it verified. A
// verified assertion with a cloned counter is the user's credential misbehaving and
// counts against the user.
func (s *Server) handlePasskeySignIn(c *gin.Context) {
	ceremonyID, _ := c.Cookie(passkeyCookie)
	s.setPasskeyCookie(c, "", -1)
	raw, ok := decodeJSON[json.RawMessage](c, maxCredentialBody)
	if !ok {
		return
	}
	if s.rp == nil {
		s.passkeyError(c, errPasskeysOff)
		return
	}
	ctx := c.Request.Context()
	addr := clientAddr(c)
	if s.banned(addr) {
		c.JSON(http.StatusForbidden, gin.H{"error": "forbidden"})
		return
	}
	creds, err := upstream.ExtractCredentials(c.Request)
	if err != nil || creds.Client == "" || creds.DeviceID == "" || creds.Version == "" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_request", "message": "Send the app's Authorization header (Client, Device, DeviceId, Version): the new session is the app's."})
		return
	}
	if ok, wait := s.limits.allow(s.addressKey(addr.IP), "", s.now()); !ok {
		rateLimited(c, wait)
		return
	}
	a, err := s.finishAssertion(ceremonyID, ceremonySignIn, "", raw, s.userClone)
	if err != nil {
		s.passkeyError(c, err)
		return
	}
	uid, name := "", ""
	if events.ValidAggregateID(a.userID) {
		s.read(func(st *projections.State) {
			if u := st.Users[a.userID]; u != nil {
				uid, name = u.ID, u.Name
			}
		})
	}
	if !a.assertion.Verified || uid == "" {
		s.log.Info("passkey sign-in did not verify", "user", name, "ip", addrString(addr), "err", a.cause)
		s.metrics.signIns.WithLabelValues("bad_passkey").Inc()
		s.recordSignInFailed(ctx, addr, name, "bad_passkey")
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_passkey", "message": msgPasskeyFailed})
		return
	}
	if ok, wait := s.limits.allowUser(uid, s.now()); !ok {
		rateLimited(c, wait)
		return
	}
	ec := s.eventContext(uid, addr, creds)
	pol := s.Policy()
	decide := func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecidePasskeyAssertion(u, pol, a.assertion.CredentialID, a.assertion.SignCount, domain.PurposePasswordless, "", now)
	}
	// A refusal the state already shows (a lockout, a counter that went backwards, a
	// passkey removed meanwhile) is recorded and answered before Jellyfin is asked
	// for a session.
	refused := domain.ErrMethodNotAvailable
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil {
			_, refused = decide(u, s.now())
		}
	})
	if refused != nil {
		_, err := s.opts.Projector.ExecUser(ctx, uid, ec, decide)
		s.passkeySignInRefused(c, err)
		return
	}
	body, res, err := s.jf.MintSession(ctx, uid, creds.Client, creds.Device, creds.DeviceID, creds.Version)
	if err != nil {
		s.log.Error("passkey sign-in: cannot mint a Jellyfin session", "err", err)
		var se *upstream.StatusError
		if errors.Is(err, upstream.ErrNoAdminKey) || (errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden)) {
			passkeySignInUnavailable(c)
			return
		}
		c.JSON(http.StatusBadGateway, gin.H{"error": "upstream_failed", "message": "Jellyfin did not create the session. Try again in a moment."})
		return
	}
	h := tokenHash(res.AccessToken)
	sealed, err := s.opts.Sealer.Seal(ctx, uid, []byte(res.AccessToken))
	if err == nil {
		_, err = s.opts.Projector.ExecUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			evs, err := decide(u, now)
			if err != nil {
				return evs, err
			}
			if u.Name != res.User.Name || u.Admin != res.User.Policy.IsAdministrator {
				evs = append(evs, &events.UserProfileChanged{Name: res.User.Name, Admin: res.User.Policy.IsAdministrator})
			}
			return append(evs, domain.NewSessionVerified(h, domain.ReasonPasskey, sealed)), nil
		})
	}
	if err != nil {
		// Another request changed the user between the check and the record (the
		// same assertion twice, a lockout): the minted session must not outlive it.
		s.logoutAsync(res.AccessToken)
		s.passkeySignInRefused(c, err)
		return
	}
	s.metrics.signIns.WithLabelValues("pass_" + domain.ReasonPasskey).Inc()
	s.metrics.factors.WithLabelValues(domain.MethodPasskey, "verified").Inc()
	c.JSON(http.StatusOK, gin.H{"ok": true, "auth": json.RawMessage(body)})
}

// passkeySignInRefused answers a passwordless sign-in the domain refused.
func (s *Server) passkeySignInRefused(c *gin.Context, err error) {
	s.metrics.factors.WithLabelValues(domain.MethodPasskey, "failed").Inc()
	var locked *domain.LockedError
	switch {
	case errors.As(err, &locked), errors.Is(err, domain.ErrPasskeyCloned):
		s.verifyFailure(c, err)
	case errors.Is(err, domain.ErrMethodNotAvailable):
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_passkey", "message": msgPasskeyFailed})
	default:
		s.log.Error("passkey sign-in", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "unavailable", "message": "Sign-in is unavailable right now. Try again in a moment."})
	}
}
