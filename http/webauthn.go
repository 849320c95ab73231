package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections/usecase"
)

// WebAuthnSettings are the relying party passkeys belong to: the domain (RP ID) and
// the origins browsers may use them from. The zero value turns passkeys off.
type WebAuthnSettings struct {
	RPID    string
	Origins []string
}

// Enabled reports whether passkeys are set up.
func (w WebAuthnSettings) Enabled() bool { return w.RPID != "" && len(w.Origins) > 0 }

// newRelyingParty builds the WebAuthn relying party, or nil when passkeys are off.
// The display name is what password managers show next to the passkey.
func newRelyingParty(w WebAuthnSettings, name string) (*webauthn.WebAuthn, error) {
	if !w.Enabled() {
		return nil, nil
	}
	return webauthn.New(&webauthn.Config{
		RPID: w.RPID, RPDisplayName: name, RPOrigins: w.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
		},
	})
}

// A ceremony is one WebAuthn exchange between its begin and finish requests: the
// challenge the browser signs and what the answer must match. Ceremonies live in
// this node's memory only. They are short and single use, so losing them on a
// restart costs a person one retry, and a cluster behind a load balancer needs
// sticky sessions for the two requests of a ceremony (docs/operations.md).
const (
	// ceremonyTTL is how long a ceremony waits for its answer; browsers get the same
	// timeout in the options.
	ceremonyTTL = 5 * time.Minute
	// maxCeremonies bounds the memory ceremonies take. Beginning one needs a valid
	// challenge id or session, or passes a per-address rate limit, so this is a last
	// line rather than the limit people meet.
	maxCeremonies = 20000
)

// ceremonyKind is what a ceremony may be finished for: a ceremony begun for one
// purpose never completes another.
type ceremonyKind string

const (
	ceremonyRegister  ceremonyKind = "register"  // adding a passkey, bound to the session that asked
	ceremonyChallenge ceremonyKind = "challenge" // a second factor, bound to the challenge
	ceremonyProof     ceremonyKind = "proof"     // proving a factor for a change, bound to the session
	ceremonySignIn    ceremonyKind = "sign_in"   // passwordless, bound to the browser by a cookie
)

// Errors of finishing a ceremony. None of them is a failed factor: no assertion was
// checked, and the person starts the ceremony again.
var (
	errCeremonyUnknown  = errors.New("passkey request unknown or already used")
	errCeremonyExpired  = errors.New("passkey request expired")
	errCeremonyMismatch = errors.New("passkey request was begun for another sign-in or session")
	errCeremoniesFull   = errors.New("too many passkey requests in progress")
	errPasskeysOff      = errors.New("passkeys are not set up on this server")
)

type ceremony struct {
	kind ceremonyKind
	// binding is what the finish request must present besides the ceremony id: the
	// hash of the session token that began it (register, proof) or the challenge id
	// (challenge). A sign-in ceremony's id travels in an HttpOnly cookie instead.
	binding string
	userID  string
	session webauthn.SessionData
	expires time.Time
}

// ceremonies holds the ceremonies in progress on this node.
type ceremonies struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*ceremony
}

func newCeremonies(now func() time.Time) *ceremonies {
	return &ceremonies{now: now, m: map[string]*ceremony{}}
}

// put stores a ceremony under a fresh id and sets its expiry.
func (cs *ceremonies) put(id string, c *ceremony) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	if len(cs.m) >= maxCeremonies/2 {
		for k, old := range cs.m {
			if !now.Before(old.expires) {
				delete(cs.m, k)
			}
		}
	}
	if len(cs.m) >= maxCeremonies {
		return errCeremoniesFull
	}
	c.expires = now.Add(ceremonyTTL)
	cs.m[id] = c
	return nil
}

// take removes a ceremony and returns it if it is still valid for kind and binding.
// It is removed on the first try whatever the outcome, so an answer can be checked
// once: a replayed assertion, or a second guess at a foreign ceremony, finds nothing.
func (cs *ceremonies) take(id string, kind ceremonyKind, binding string) (*ceremony, error) {
	cs.mu.Lock()
	c, ok := cs.m[id]
	delete(cs.m, id)
	cs.mu.Unlock()
	switch {
	case !ok || id == "":
		return nil, errCeremonyUnknown
	case !cs.now().Before(c.expires):
		return nil, errCeremonyExpired
	case c.kind != kind || c.binding != binding:
		return nil, errCeremonyMismatch
	}
	return c, nil
}

// passkeyUser is a user as go-webauthn sees it. The user handle is the Jellyfin user
// id: an opaque random identifier that names no one, so a passkey that signs in
// alone leads straight to its account.
type passkeyUser struct {
	id, name string
	creds    []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte                         { return []byte(p.id) }
func (p *passkeyUser) WebAuthnName() string                       { return p.name }
func (p *passkeyUser) WebAuthnDisplayName() string                { return p.name }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// newPasskeyUser turns a user's registered passkeys into go-webauthn credentials,
// oldest first so the browser's list is stable.
func newPasskeyUser(u *domain.User) *passkeyUser {
	p := &passkeyUser{id: u.ID, name: u.Name}
	keys := make([]*domain.Passkey, 0, len(u.Passkeys))
	for _, k := range u.Passkeys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].CreatedAt.Before(keys[j].CreatedAt) })
	for _, k := range keys {
		if c, ok := storedCredential(k.PasskeyRegistered); ok {
			p.creds = append(p.creds, c)
		}
	}
	return p
}

// b64 is how credential ids and public keys are written in events and the API:
// base64url without padding, as WebAuthn's JSON forms write them.
var b64 = base64.RawURLEncoding

// storedCredential rebuilds the credential record go-webauthn checks assertions
// against from the passkey_registered event and the counter since.
func storedCredential(k events.PasskeyRegistered) (webauthn.Credential, bool) {
	id, err := b64.DecodeString(k.CredentialID)
	if err != nil {
		return webauthn.Credential{}, false
	}
	pub, err := b64.DecodeString(k.PublicKey)
	if err != nil {
		return webauthn.Credential{}, false
	}
	c := webauthn.Credential{
		ID: id, PublicKey: pub, AttestationFormat: k.Attestation,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: k.UserVerified, BackupEligible: k.BackupElig, BackupState: k.BackupState},
		Authenticator: webauthn.Authenticator{SignCount: k.SignCount},
	}
	for _, t := range k.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	if a, err := uuid.Parse(k.AAGUID); err == nil {
		c.Authenticator.AAGUID = a[:]
	}
	return c, true
}

// registeredPasskey is a credential go-webauthn verified at registration, as the
// registration use case records it.
func registeredPasskey(c *webauthn.Credential) usecase.PasskeyCredential {
	k := usecase.PasskeyCredential{
		CredentialID: b64.EncodeToString(c.ID), PublicKey: b64.EncodeToString(c.PublicKey),
		SignCount: c.Authenticator.SignCount, Attestation: c.AttestationFormat,
		BackupState: c.Flags.BackupState, BackupElig: c.Flags.BackupEligible, UserVerified: c.Flags.UserVerified,
	}
	if a, err := uuid.FromBytes(c.Authenticator.AAGUID); err == nil && a != uuid.Nil {
		k.AAGUID = a.String()
	}
	for _, t := range c.Transport {
		k.Transports = append(k.Transports, string(t))
	}
	return k
}

// beginRegistration starts adding a passkey for u, bound to the session whose token
// hash is binding. It asks for a discoverable credential (a passkey can then sign in
// without a user name), prefers user verification, and excludes the credentials the
// user has, so an authenticator holding one already says so instead of making a
// second.
func (s *Server) beginRegistration(u *domain.User, binding string) (string, *protocol.CredentialCreation, error) {
	if s.rp == nil {
		return "", nil, errPasskeysOff
	}
	pu := newPasskeyUser(u)
	exclude := make([]protocol.CredentialDescriptor, 0, len(pu.creds))
	for i := range pu.creds {
		exclude = append(exclude, pu.creds[i].Descriptor())
	}
	opts, session, err := s.rp.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return "", nil, err
	}
	id := s.newID()
	if err := s.ceremonies.put(id, &ceremony{kind: ceremonyRegister, binding: binding, userID: u.ID, session: *session}); err != nil {
		return "", nil, err
	}
	return id, opts, nil
}

// finishRegistration checks the browser's answer to a registration ceremony and
// returns the new credential.
func (s *Server) finishRegistration(u *domain.User, ceremonyID, binding string, raw json.RawMessage) (*webauthn.Credential, error) {
	if s.rp == nil {
		return nil, errPasskeysOff
	}
	c, err := s.ceremonies.take(ceremonyID, ceremonyRegister, binding)
	if err != nil {
		return nil, err
	}
	if c.userID != u.ID {
		return nil, errCeremonyMismatch
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		return nil, err
	}
	return s.rp.CreateCredential(newPasskeyUser(u), c.session, parsed)
}

// beginAssertion starts a passkey assertion. With a user, the browser may offer only
// that user's passkeys (a challenge, a proof); without one (sign-in) any passkey of
// this site may answer, and its user handle names the account.
func (s *Server) beginAssertion(kind ceremonyKind, binding string, u *domain.User, uv protocol.UserVerificationRequirement) (string, *protocol.CredentialAssertion, error) {
	if s.rp == nil {
		return "", nil, errPasskeysOff
	}
	var opts *protocol.CredentialAssertion
	var session *webauthn.SessionData
	var err error
	c := &ceremony{kind: kind, binding: binding}
	if u != nil {
		c.userID = u.ID
		opts, session, err = s.rp.BeginLogin(newPasskeyUser(u), webauthn.WithUserVerification(uv))
	} else {
		opts, session, err = s.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(uv))
	}
	if err != nil {
		return "", nil, err
	}
	c.session = *session
	id := s.newID()
	if err := s.ceremonies.put(id, c); err != nil {
		return "", nil, err
	}
	return id, opts, nil
}

// checkedAssertion is the outcome of checking an assertion: the user it names, the
// domain's view of it, and, when it did not verify, why (for the log).
type checkedAssertion struct {
	userID    string
	assertion domain.PasskeyAssertion
	cause     error
}

// finishAssertion checks a browser's answer to an assertion ceremony. A ceremony that
// is unknown, expired, used or foreign is an error: nothing was checked. An
// assertion that does not verify is not an error but an unverified outcome, which
// the domain counts as a failed factor. lookup returns the state of a user by id.
func (s *Server) finishAssertion(ceremonyID string, kind ceremonyKind, binding string, raw json.RawMessage, lookup func(uid string) *domain.User) (checkedAssertion, error) {
	if s.rp == nil {
		return checkedAssertion{}, errPasskeysOff
	}
	c, err := s.ceremonies.take(ceremonyID, kind, binding)
	if err != nil {
		return checkedAssertion{}, err
	}
	out := checkedAssertion{userID: c.userID}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		out.cause = err
		return out, nil
	}
	out.assertion.CredentialID = b64.EncodeToString(parsed.RawID)
	out.assertion.SignCount = parsed.Response.AuthenticatorData.Counter
	if c.userID == "" {
		out.userID = string(parsed.Response.UserHandle)
	}
	u := lookup(out.userID)
	if u == nil {
		out.cause = errors.New("the passkey names no user jfguard knows")
		return out, nil
	}
	pu := newPasskeyUser(u)
	if c.userID != "" {
		_, err = s.rp.ValidateLogin(pu, c.session, parsed)
	} else {
		_, _, err = s.rp.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return pu, nil }, c.session, parsed)
	}
	if err != nil {
		out.cause = err
		return out, nil
	}
	// The counter is not judged here (go-webauthn would only set CloneWarning): the
	// domain decides from the stored and presented counters, under the same
	// concurrency check that records the new one.
	out.assertion.Verified = true
	return out, nil
}
