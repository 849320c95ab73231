package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
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

// passkeyBeginLimits: every ceremony begun without a session holds room in the
// shared Ceremonies bucket until it expires; 20 a minute from one address is far
// more than a person needs.
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

// Answers of the passkey routes.
var (
	errAnsNoPasskey          = newAPIError(http.StatusConflict, "no_passkey", msgPasskeyNoneToUse)
	errAnsNoUser             = newAPIError(http.StatusNotFound, "not_found", "")
	errAnsPasskeyNotCreated  = newAPIError(http.StatusBadRequest, "passkey_not_created", msgPasskeyNotCreated)
	errAnsPasskeySignInOff   = newAPIError(http.StatusServiceUnavailable, "passkey_sign_in_unavailable", msgPasskeySignInOff)
	errAnsPasskeyNoAppHeader = newAPIError(http.StatusBadRequest, "bad_request", "Send the app's Authorization header (Client, Device, DeviceId, Version): the new session is the app's.")
	errAnsUpstreamSilent     = newAPIError(http.StatusBadGateway, "upstream_unreachable", "Jellyfin did not answer. Try again in a moment.")
	errAnsUpstreamNoSession  = newAPIError(http.StatusBadGateway, "upstream_failed", "Jellyfin did not create the session. Try again in a moment.")
)

// passkeyError answers the errors of a passkey ceremony or decision and reports
// whether err was one.
func (s *Server) passkeyError(c *gin.Context, err error) bool {
	for _, e := range []error{errPasskeysOff, errCeremonyUnknown, errCeremonyExpired, errCeremonyMismatch, errCeremoniesFull, errAnsUnavailable,
		domain.ErrPasskeyCloned, domain.ErrPasskeyInvalid, domain.ErrPasskeyLabel, domain.ErrPasskeyRegistered} {
		if errors.Is(err, e) {
			s.fail(c, err)
			return true
		}
	}
	return false
}

// userClone returns a copy of a user's state, or nil, for the relying party:
// go-webauthn reads it outside the projection's lock.
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
		s.fail(c, errPasskeysOff)
		return
	}
	u, err := s.app.PasskeyRegistrationUser(userOf(c))
	if err != nil {
		s.fail(c, err, errAnsNoUser)
		return
	}
	id, opts, err := s.beginRegistration(u, sessionBinding(c))
	if err != nil {
		s.fail(c, err)
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
		s.fail(c, errPasskeysOff)
		return
	}
	uid := userOf(c)
	u := s.userClone(uid)
	if u == nil {
		s.fail(c, errAnsNoUser)
		return
	}
	cred, err := s.finishRegistration(u, in.Ceremony, sessionBinding(c), in.Credential)
	if err != nil {
		if !s.passkeyError(c, err) {
			s.log.Info("passkey registration did not verify", "user", u.Name, "err", err)
			s.fail(c, errAnsPasskeyNotCreated)
		}
		return
	}
	label := strings.TrimSpace(in.Label)
	if label == "" {
		label = defaultPasskeyLabel(cred, c.Request.UserAgent())
	}
	k, err := s.app.RegisterPasskey(c.Request.Context(), s.accountOf(c), registeredPasskey(cred), label)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, _ := s.buildMe(uid, "", "")
	for _, p := range v.Passkeys {
		if p.ID == k.CredentialID {
			c.JSON(http.StatusOK, gin.H{"passkey": p, "recovery_codes": k.RecoveryCodes})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"passkey": passkeyView{ID: k.CredentialID, Label: k.Label}, "recovery_codes": k.RecoveryCodes})
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
	if err := s.app.RenamePasskey(c.Request.Context(), s.accountOf(c), c.Param("id"), in.Label); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handlePasskeyRemove removes a passkey with a current factor.
func (s *Server) handlePasskeyRemove(c *gin.Context) {
	in, ok := decodeJSON[proofRequest](c, maxCredentialBody)
	if !ok {
		return
	}
	p, ok := s.proof(c, in)
	if !ok {
		return
	}
	ctx, a := c.Request.Context(), s.accountOf(c)
	p, err := s.app.CompleteProof(ctx, a, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.app.RemovePasskey(ctx, a, c.Param("id"), p); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// handlePasskeyProofBegin starts an assertion that proves the factor for a sensitive
// change (the proof forms' "Use a passkey").
func (s *Server) handlePasskeyProofBegin(c *gin.Context) {
	if s.rp == nil {
		s.fail(c, errPasskeysOff)
		return
	}
	u, err := s.app.PasskeyProofUser(userOf(c))
	if err != nil {
		s.fail(c, err, errAnsNoPasskey)
		return
	}
	id, opts, err := s.beginAssertion(ceremonyProof, sessionBinding(c), u, protocol.VerificationPreferred)
	if err != nil {
		s.fail(c, err)
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
		s.fail(c, err)
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
		s.fail(c, errPasskeysOff)
		return
	}
	id := c.Param("id")
	addr := clientAddr(c)
	if ok, wait, err := s.passkeyRate.allow(c.Request.Context(), s.addressKey(addr.IP), "", s.now()); !ok {
		s.limitRefused(c, wait, err)
		return
	}
	u, err := s.app.ChallengePasskeyUser(id)
	if err != nil {
		s.fail(c, err, errAnsNoPasskey)
		return
	}
	cid, opts, err := s.beginAssertion(ceremonyChallenge, id, u, protocol.VerificationPreferred)
	if err != nil {
		if !s.passkeyError(c, err) {
			s.log.Error("begin passkey assertion", "err", err)
			s.fail(c, errAnsInternal)
		}
		return
	}
	beginAnswer(c, cid, opts.Response)
}

// handlePasskeySignInBegin starts a passwordless sign-in. Any passkey of this site
// may answer; user verification is required, because the assertion is then both
// factors at once (the device and the person's fingerprint, face or PIN).
func (s *Server) handlePasskeySignInBegin(c *gin.Context) {
	if s.rp == nil {
		s.fail(c, errPasskeysOff)
		return
	}
	addr := clientAddr(c)
	if s.banned(addr) {
		s.fail(c, errAnsForbidden)
		return
	}
	if ok, wait, err := s.passkeyRate.allow(c.Request.Context(), s.addressKey(addr.IP), "", s.now()); !ok {
		s.limitRefused(c, wait, err)
		return
	}
	// Say so before the person touches the authenticator, not after.
	if !s.jf.HasAdminKey() {
		s.fail(c, errAnsPasskeySignInOff)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	on, err := s.jf.QuickConnectEnabled(ctx)
	cancel()
	switch {
	case err != nil:
		s.log.Warn("passkey sign-in: cannot ask Jellyfin whether Quick Connect is on", "err", err)
		s.fail(c, errAnsUpstreamSilent)
		return
	case !on:
		s.fail(c, errAnsPasskeySignInOff)
		return
	}
	id, opts, err := s.beginAssertion(ceremonySignIn, "", nil, protocol.VerificationRequired)
	if err != nil {
		if !s.passkeyError(c, err) {
			s.log.Error("begin passkey sign-in", "err", err)
			s.fail(c, errAnsInternal)
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
// person in (see usecase.Service.PasskeySignIn), with a real Jellyfin session minted
// for the web app's own device headers, whose AuthenticationResult the page hands to
// the web app as the challenge page does. Banned addresses are refused and the
// address's rate limit is charged before the assertion is checked; the user's only
// once it verified.
func (s *Server) handlePasskeySignIn(c *gin.Context) {
	ceremonyID, _ := c.Cookie(passkeyCookie)
	s.setPasskeyCookie(c, "", -1)
	raw, ok := decodeJSON[json.RawMessage](c, maxCredentialBody)
	if !ok {
		return
	}
	if s.rp == nil {
		s.fail(c, errPasskeysOff)
		return
	}
	addr := clientAddr(c)
	if s.banned(addr) {
		s.fail(c, errAnsForbidden)
		return
	}
	creds, err := upstream.ExtractCredentials(c.Request)
	if err != nil || creds.Client == "" || creds.DeviceID == "" || creds.Version == "" {
		s.fail(c, errAnsPasskeyNoAppHeader)
		return
	}
	if ok, wait, err := s.limits.allow(c.Request.Context(), s.addressKey(addr.IP), "", s.now()); !ok {
		s.limitRefused(c, wait, err)
		return
	}
	a, err := s.finishAssertion(ceremonyID, ceremonySignIn, "", raw, s.userClone)
	if err != nil {
		s.fail(c, err)
		return
	}
	if a.cause != nil {
		s.log.Info("passkey assertion did not verify", "err", a.cause)
	}
	if a.assertion.Verified {
		if ok, wait, err := s.limits.allowUser(c.Request.Context(), a.userID, s.now()); !ok {
			s.limitRefused(c, wait, err)
			return
		}
	}
	auth, err := s.app.PasskeySignIn(c.Request.Context(), usecase.PasskeySignInRequest{
		Caller: callerOf(addr, creds), UserID: a.userID, Assertion: a.assertion,
	})
	if err != nil {
		s.passkeySignInRefused(c, err)
		return
	}
	s.metrics.signIns.WithLabelValues("pass_" + domain.ReasonPasskey).Inc()
	s.metrics.factors.WithLabelValues(domain.MethodPasskey, "verified").Inc()
	c.JSON(http.StatusOK, gin.H{"ok": true, "auth": json.RawMessage(auth)})
}

// passkeySignInRefused answers a passwordless sign-in that did not happen.
func (s *Server) passkeySignInRefused(c *gin.Context, err error) {
	switch {
	case errors.Is(err, domain.ErrOutsideNetworks):
		s.metrics.signIns.WithLabelValues("refused_network").Inc()
		s.fail(c, err)
		return
	case errors.Is(err, usecase.ErrPasskeyNotVerified):
		s.metrics.signIns.WithLabelValues("bad_passkey").Inc()
		s.fail(c, errAnsInvalidPasskey)
		return
	case errors.Is(err, usecase.ErrMintUnavailable):
		s.fail(c, errAnsPasskeySignInOff)
		return
	case errors.Is(err, usecase.ErrMintFailed):
		s.fail(c, errAnsUpstreamNoSession)
		return
	}
	s.metrics.factors.WithLabelValues(domain.MethodPasskey, "failed").Inc()
	var locked *domain.LockedError
	switch {
	case errors.As(err, &locked), errors.Is(err, domain.ErrPasskeyCloned):
		s.fail(c, err)
	case errors.Is(err, domain.ErrMethodNotAvailable):
		s.fail(c, errAnsInvalidPasskey)
	default:
		s.log.Error("passkey sign-in", "err", err)
		s.fail(c, errAnsUnavailable)
	}
}
