package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections/usecase"
	"golang.org/x/oauth2"
)

// Sign-in with an OIDC provider (the authorization code flow with PKCE):
//
//  1. GET /jfguard/oidc/<id>/start makes a state, a nonce and a PKCE verifier, keeps
//     them in the shared Flows bucket (every node sees them: the three steps may
//     reach three nodes) bound to a random value in an HttpOnly cookie, and sends
//     the browser to the provider. The cookie is SameSite=Lax: the provider sends
//     the browser back with a top-level GET from its own site, which Strict would
//     strip.
//  2. GET /jfguard/oidc/<id>/callback takes the state (once: a replay finds nothing),
//     checks it belongs to this browser's cookie, exchanges the code with the
//     verifier, and verifies the ID token (signature, issuer, audience = client id,
//     expiry, nonce). domain.DecideOIDCIdentity reads the claims. The page it shows
//     carries a one-time handoff id, bound to the same cookie.
//  3. POST /jfguard/oidc/finish, from that page's script with the web app's own device
//     headers, takes the handoff and signs the user in (usecase.Service.OIDCSignIn):
//     the session is minted for the web app's device, as a passkey sign-in's is.
//
// Nothing the provider returns is logged or stored: the access and ID tokens are
// dropped once the claims are read; only the user name reaches the events.

// OIDCProvider is one configured provider (oidc.providers).
type OIDCProvider struct {
	ID           string // in the URLs: /jfguard/oidc/<ID>/…
	Name         string // on the buttons: "Sign in with <Name>"
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	Rule         domain.OIDCRule
}

const (
	oidcCookie     = "jfguard_oidc"
	oidcCookiePath = "/jfguard/oidc/"
	// oidcFlowTTL is how long a browser has at the provider; oidcHandoffTTL how long
	// the page has to finish.
	oidcFlowTTL    = 10 * time.Minute
	oidcHandoffTTL = 2 * time.Minute
	// oidcTimeout bounds each call to the provider (discovery, code exchange, keys).
	oidcTimeout = 10 * time.Second
)

// Refusals of the OIDC routes.
var (
	errOIDCUnknown  = errors.New("no such OIDC provider")
	errOIDCExpired  = errors.New("the OIDC sign-in expired, was already used, or belongs to another browser")
	errOIDCProvider = errors.New("the OIDC provider did not answer or refused")
	errOIDCToken    = errors.New("the OIDC provider's ID token did not verify")
	errOIDCFull     = errors.New("too many OIDC sign-ins in progress")
	// errOIDCUnavailable: the shared store of sign-ins in progress did not answer;
	// the step is refused (fail closed), never let through unchecked.
	errOIDCUnavailable = errors.New("the OIDC sign-ins in progress cannot be reached")
)

// Messages of the finish route's answers (the page's script shows them; a page not
// in English has its own words for their codes, js.common.error.<code>).
const (
	msgOIDCExpired  = "This sign-in has expired or was already used. Start again."
	msgOIDCUnmapped = "Your account at the sign-in provider is not linked to a Jellyfin user here. Ask the server's owner."
	msgOIDC2FA      = "This account needs a second factor, and the sign-in provider did not check one. Sign in with your password and code, or sign in to the provider with its second factor."
	msgOIDCOff      = "Signing in with a provider is not available on this server: Quick Connect is off in Jellyfin, or jfguard has no admin API key."
)

// oidcProvider is a configured provider and its discovery, done on first use (the
// issuer need not be reachable when jfguard starts) and kept once it worked.
type oidcProvider struct {
	OIDCProvider
	client *http.Client
	mu     sync.Mutex
	found  *oidc.Provider
}

func (p *oidcProvider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.found != nil {
		return p.found, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), oidcTimeout)
	defer cancel()
	found, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", p.Issuer, err)
	}
	p.found = found
	return found, nil
}

// oidcFlow is one sign-in between start and callback; oidcHandoff one between the
// callback and the page's finish. Both are kept as JSON in the shared Flows bucket,
// with their expiry in the gateway's clock, which the bucket's own TTL does not know.
type oidcFlow struct {
	Provider string    `json:"provider"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Binding  string    `json:"binding"`
	Expires  time.Time `json:"expires"`
}

type oidcHandoff struct {
	UserName     string    `json:"user_name"`
	SecondFactor bool      `json:"second_factor"`
	Binding      string    `json:"binding"`
	Expires      time.Time `json:"expires"`
}

// oidcState is the configured providers and the sign-ins in progress, which live in
// the shared store: a sign-in may start on one node, come back from the provider to
// another and finish on a third, and each step is spent once whichever node it
// reaches.
type oidcState struct {
	providers map[string]*oidcProvider
	order     []*oidcProvider
	store     onceStore
	now       func() time.Time
}

func newOIDCState(list []OIDCProvider, store onceStore, now func() time.Time) *oidcState {
	st := &oidcState{providers: map[string]*oidcProvider{}, store: store, now: now}
	for _, p := range list {
		op := &oidcProvider{OIDCProvider: p, client: &http.Client{Timeout: oidcTimeout}}
		st.providers[p.ID] = op
		st.order = append(st.order, op)
	}
	return st
}

// Keys of the Flows bucket: flows by their state, handoffs by their id.
func flowKey(state string) string { return shared.Key("flow", state) }
func handoffKey(id string) string { return shared.Key("handoff", id) }

// put stores a new flow or handoff under key.
func (st *oidcState) put(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	switch err := st.store.Put(ctx, shared.Flows, key, b); {
	case err == nil:
		return nil
	case errors.Is(err, shared.ErrFull):
		return fmt.Errorf("%w: %w", errOIDCFull, err)
	default:
		return fmt.Errorf("%w: %w", errOIDCUnavailable, err)
	}
}

// take removes the flow or handoff under key and decodes it into v. Unknown, used,
// or unreadable is errOIDCExpired; a store that does not answer errOIDCUnavailable.
func (st *oidcState) take(key string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	b, err := st.store.Take(ctx, shared.Flows, key)
	switch {
	case errors.Is(err, shared.ErrGone):
		return errOIDCExpired
	case err != nil:
		return fmt.Errorf("%w: %w", errOIDCUnavailable, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: the stored sign-in does not decode: %w", errOIDCExpired, err)
	}
	return nil
}

func (st *oidcState) putFlow(state string, f *oidcFlow) error {
	f.Expires = st.now().Add(oidcFlowTTL)
	return st.put(flowKey(state), f)
}

// takeFlow removes and returns the flow of a state, refused unless it is this
// browser's (binding) for this provider and still current. Any answer consumes it,
// on every node.
func (st *oidcState) takeFlow(state, provider, binding string) (*oidcFlow, error) {
	if !sharedIDOK(state) {
		return nil, errOIDCExpired
	}
	var f oidcFlow
	if err := st.take(flowKey(state), &f); err != nil {
		return nil, err
	}
	if f.Provider != provider || !sameSecret(f.Binding, binding) || !st.now().Before(f.Expires) {
		return nil, errOIDCExpired
	}
	return &f, nil
}

func (st *oidcState) putHandoff(id string, who domain.OIDCIdentity, binding string) error {
	return st.put(handoffKey(id), &oidcHandoff{
		UserName: who.UserName, SecondFactor: who.SecondFactor, Binding: binding,
		Expires: st.now().Add(oidcHandoffTTL),
	})
}

// takeHandoff removes and returns the identity of a handoff, refused unless it is
// this browser's and still current. Any answer consumes it, on every node.
func (st *oidcState) takeHandoff(id, binding string) (domain.OIDCIdentity, error) {
	if !sharedIDOK(id) {
		return domain.OIDCIdentity{}, errOIDCExpired
	}
	var h oidcHandoff
	if err := st.take(handoffKey(id), &h); err != nil {
		return domain.OIDCIdentity{}, err
	}
	if !sameSecret(h.Binding, binding) || !st.now().Before(h.Expires) {
		return domain.OIDCIdentity{}, errOIDCExpired
	}
	return domain.OIDCIdentity{UserName: h.UserName, SecondFactor: h.SecondFactor}, nil
}

func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// oidcBinding is what a flow is bound to: the hash of the browser's cookie.
func oidcBinding(c *gin.Context) string {
	v, err := c.Cookie(oidcCookie)
	if err != nil || v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return b64.EncodeToString(sum[:])
}

func (s *Server) randomValue() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.opts.Rand, b); err != nil {
		return "", err
	}
	return b64.EncodeToString(b), nil
}

func (s *Server) setOIDCCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: oidcCookie, Value: value, Path: oidcCookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.opts.PublicURL != nil && s.opts.PublicURL.Scheme == "https",
	})
}

// oauthConfig is the provider's OAuth 2 client, with the redirect URI users register
// at the provider: <public_url>/jfguard/oidc/<id>/callback.
func (s *Server) oauthConfig(p *oidcProvider, found *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: found.Endpoint(), Scopes: p.Scopes,
		RedirectURL: OIDCRedirectURL(s.opts.PublicURL.String(), p.ID),
	}
}

// OIDCRedirectURL is the redirect URI of a provider, to register at the provider.
func OIDCRedirectURL(publicURL, id string) string {
	for len(publicURL) > 0 && publicURL[len(publicURL)-1] == '/' {
		publicURL = publicURL[:len(publicURL)-1]
	}
	return publicURL + "/jfguard/oidc/" + id + "/callback"
}

// oidcProviderView is a provider as the pages list it: names only.
type oidcProviderView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) oidcProviders() []oidcProviderView {
	out := []oidcProviderView{}
	for _, p := range s.oidc.order {
		out = append(out, oidcProviderView{ID: p.ID, Name: p.Name})
	}
	return out
}

// handleOIDCProviders lists the providers for the web app's sign-in form.
func (s *Server) handleOIDCProviders(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"providers": s.oidcProviders()})
}

// oidcPage shows the sign-in page with a refusal (the id of its message, login.oidc_*,
// in the page's language), or with the handoff its script finishes.
func (s *Server) oidcPage(c *gin.Context, status int, messageID, handoff string) {
	s.renderPage(c, status, pageData{Page: "login", Title: "login.title", Passkeys: s.rp != nil, OIDC: s.oidcProviders(), OIDCError: messageID, OIDCHandoff: handoff})
}

// oidcRefused shows why a sign-in with a provider did not happen.
func (s *Server) oidcRefused(c *gin.Context, err error) {
	switch {
	case errors.Is(err, errOIDCUnknown):
		s.oidcPage(c, http.StatusNotFound, "login.oidc_unknown", "")
	case errors.Is(err, errOIDCExpired):
		s.oidcPage(c, http.StatusBadRequest, "login.oidc_expired", "")
	case errors.Is(err, errOIDCFull), errors.Is(err, errOIDCUnavailable):
		s.oidcPage(c, http.StatusServiceUnavailable, "login.oidc_busy", "")
	case errors.Is(err, errOIDCToken):
		s.oidcPage(c, http.StatusUnauthorized, "login.oidc_token", "")
	case errors.Is(err, domain.ErrOIDCUnmapped):
		s.oidcPage(c, http.StatusForbidden, "login.oidc_unmapped", "")
	case errors.Is(err, domain.ErrOIDCGroup):
		s.oidcPage(c, http.StatusForbidden, "login.oidc_group", "")
	default:
		s.oidcPage(c, http.StatusBadGateway, "login.oidc_provider", "")
	}
}

// oidcCheck refuses a banned address and charges the address's sign-in limit; it
// reports whether the request may go on.
func (s *Server) oidcCheck(c *gin.Context, limits *limiters) bool {
	addr := clientAddr(c)
	if s.banned(addr) {
		s.oidcPage(c, http.StatusForbidden, "login.oidc_banned", "")
		return false
	}
	if ok, wait, err := limits.allow(c.Request.Context(), s.addressKey(addr.IP), "", s.now()); !ok {
		if err != nil {
			s.log.Error("rate limits: refusing the attempt", "err", err)
			s.oidcPage(c, http.StatusServiceUnavailable, "login.oidc_busy", "")
			return false
		}
		c.Header("Retry-After", retryAfter(wait))
		s.oidcPage(c, http.StatusTooManyRequests, "login.oidc_rate_limited", "")
		return false
	}
	return true
}

// handleOIDCStart sends the browser to the provider.
func (s *Server) handleOIDCStart(c *gin.Context) {
	p := s.oidc.providers[c.Param("provider")]
	if p == nil {
		s.oidcRefused(c, errOIDCUnknown)
		return
	}
	if !s.oidcCheck(c, s.passkeyRate) {
		return
	}
	found, err := p.discover(c.Request.Context())
	if err != nil {
		s.log.Warn("OIDC provider discovery failed", "provider", p.ID, "err", err)
		s.oidcRefused(c, errOIDCProvider)
		return
	}
	var vals [3]string
	for i := range vals {
		if vals[i], err = s.randomValue(); err != nil {
			s.oidcRefused(c, err)
			return
		}
	}
	state, nonce, cookie := vals[0], vals[1], vals[2]
	sum := sha256.Sum256([]byte(cookie))
	verifier := oauth2.GenerateVerifier()
	if err := s.oidc.putFlow(state, &oidcFlow{Provider: p.ID, Nonce: nonce, Verifier: verifier, Binding: b64.EncodeToString(sum[:])}); err != nil {
		s.oidcRefused(c, err)
		return
	}
	s.setOIDCCookie(c, cookie, int(oidcFlowTTL.Seconds()))
	c.Redirect(http.StatusFound, s.oauthConfig(p, found).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
}

// handleOIDCCallback checks the provider's answer and shows the page that finishes
// the sign-in. Every refusal after the state was found is recorded against the
// address, as a wrong password is.
func (s *Server) handleOIDCCallback(c *gin.Context) {
	p := s.oidc.providers[c.Param("provider")]
	if p == nil {
		s.oidcRefused(c, errOIDCUnknown)
		return
	}
	if !s.oidcCheck(c, s.limits) {
		return
	}
	ctx := c.Request.Context()
	caller := usecase.Caller{IP: clientAddr(c).IP}
	flow, err := s.oidc.takeFlow(c.Query("state"), p.ID, oidcBinding(c))
	if err != nil {
		if errors.Is(err, errOIDCExpired) {
			s.app.RecordOIDCRefused(ctx, caller, "")
		} else {
			s.log.Error("OIDC callback: the sign-ins in progress cannot be reached", "err", err)
		}
		s.oidcRefused(c, err)
		return
	}
	if e := c.Query("error"); e != "" {
		s.log.Info("OIDC provider refused the sign-in", "provider", p.ID, "error", e)
		s.oidcRefused(c, errOIDCProvider)
		return
	}
	id, err := s.oidcIdentity(ctx, p, flow, c.Query("code"))
	if err != nil {
		s.log.Info("OIDC sign-in refused", "provider", p.ID, "ip", caller.IPString(), "err", err)
		s.app.RecordOIDCRefused(ctx, caller, id.UserName)
		s.oidcRefused(c, err)
		return
	}
	handoff, err := s.randomValue()
	if err != nil {
		s.oidcRefused(c, err)
		return
	}
	if err := s.oidc.putHandoff(handoff, id, flow.Binding); err != nil {
		s.log.Error("OIDC callback: cannot keep the handoff", "err", err)
		s.oidcRefused(c, err)
		return
	}
	s.oidcPage(c, http.StatusOK, "", handoff)
}

// oidcIdentity exchanges the code and verifies the ID token; the claims are read
// by the domain's rule. The tokens go no further than this function.
func (s *Server) oidcIdentity(ctx context.Context, p *oidcProvider, flow *oidcFlow, code string) (domain.OIDCIdentity, error) {
	found, err := p.discover(ctx)
	if err != nil {
		return domain.OIDCIdentity{}, fmt.Errorf("%w: %w", errOIDCProvider, err)
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), oidcTimeout)
	defer cancel()
	tok, err := s.oauthConfig(p, found).Exchange(ctx, code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		return domain.OIDCIdentity{}, fmt.Errorf("%w: code exchange: %w", errOIDCProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return domain.OIDCIdentity{}, fmt.Errorf("%w: no id_token in the answer", errOIDCToken)
	}
	verifier := found.Verifier(&oidc.Config{ClientID: p.ClientID, Now: s.now})
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return domain.OIDCIdentity{}, fmt.Errorf("%w: %w", errOIDCToken, err)
	}
	if !sameSecret(idt.Nonce, flow.Nonce) {
		return domain.OIDCIdentity{}, fmt.Errorf("%w: the nonce is not this sign-in's", errOIDCToken)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return domain.OIDCIdentity{}, fmt.Errorf("%w: %w", errOIDCToken, err)
	}
	return domain.DecideOIDCIdentity(p.Rule, claims)
}

// handleOIDCFinish signs in the user a handoff names, with a session minted for the
// web app's own device headers, and answers the AuthenticationResult the page hands
// to the web app.
func (s *Server) handleOIDCFinish(c *gin.Context) {
	in, ok := decodeJSON[struct {
		Handoff string `json:"handoff"`
	}](c, 1024)
	if !ok {
		return
	}
	binding := oidcBinding(c)
	s.setOIDCCookie(c, "", -1)
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
	id, err := s.oidc.takeHandoff(in.Handoff, binding)
	if errors.Is(err, errOIDCUnavailable) {
		s.log.Error("OIDC finish: the sign-ins in progress cannot be reached", "err", err)
		s.fail(c, errAnsUnavailable)
		return
	}
	if err != nil {
		s.fail(c, newAPIError(http.StatusBadRequest, "oidc_expired", msgOIDCExpired))
		return
	}
	auth, err := s.app.OIDCSignIn(c.Request.Context(), usecase.OIDCSignInRequest{Caller: callerOf(addr, creds), Identity: id})
	switch {
	case err == nil:
		s.metrics.signIns.WithLabelValues("pass_" + domain.ReasonOIDC).Inc()
		c.JSON(http.StatusOK, gin.H{"ok": true, "auth": json.RawMessage(auth)})
	case errors.Is(err, domain.ErrOutsideNetworks):
		s.fail(c, err) // 403 network_not_allowed, the allowlists' answer for every way in
	case errors.Is(err, usecase.ErrOIDCNoUser):
		s.fail(c, newAPIError(http.StatusForbidden, "oidc_unmapped", msgOIDCUnmapped))
	case errors.Is(err, domain.ErrOIDCSecondFactor):
		s.fail(c, newAPIError(http.StatusForbidden, "oidc_second_factor", msgOIDC2FA))
	case errors.Is(err, usecase.ErrMintUnavailable):
		s.fail(c, newAPIError(http.StatusServiceUnavailable, "oidc_unavailable", msgOIDCOff))
	case errors.Is(err, usecase.ErrMintFailed):
		s.fail(c, errAnsUpstreamNoSession)
	default:
		s.log.Error("OIDC sign-in", "err", err)
		s.fail(c, errAnsUnavailable)
	}
}
