package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/shared"
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
// challenge the browser signs and what the answer must match. Ceremonies live in the
// shared Ceremonies bucket, so the two requests of one may reach two nodes of a
// cluster, and a ceremony is spent once whichever node its answers reach. They are
// short and single use: a lost bucket costs a person one retry.
//
// ceremonyTTL is how long a ceremony waits for its answer; browsers get the same
// timeout in the options.
const ceremonyTTL = 5 * time.Minute

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

// ceremony is a ceremony as the Ceremonies bucket keeps it (JSON).
type ceremony struct {
	Kind ceremonyKind `json:"kind"`
	// Binding is what the finish request must present besides the ceremony id: the
	// hash of the session token that began it (register, proof) or the challenge id
	// (challenge). A sign-in ceremony's id travels in an HttpOnly cookie instead.
	Binding string               `json:"binding,omitempty"`
	UserID  string               `json:"user_id,omitempty"`
	Session webauthn.SessionData `json:"session"`
	// Expires is in the gateway's clock, which the bucket's own TTL does not know.
	Expires time.Time `json:"expires"`
}

// sharedTimeout bounds each call to the shared buckets: a store that does not answer
// refuses the request within seconds instead of holding it.
const sharedTimeout = 5 * time.Second

// maxSharedID bounds the ids a request may name (ceremonies, OIDC states and
// handoffs): the ones jfguard makes are far shorter, and a longer one is unknown
// without asking the store.
const maxSharedID = 128

// sharedIDOK reports whether an id from a request can be one jfguard made.
func sharedIDOK(id string) bool { return id != "" && len(id) <= maxSharedID }

// ceremonies are the ceremonies in progress on all the nodes, in the shared store.
type ceremonies struct {
	store onceStore
	now   func() time.Time
}

func newCeremonies(store onceStore, now func() time.Time) *ceremonies {
	return &ceremonies{store: store, now: now}
}

// put stores a ceremony under a fresh id and sets its expiry.
func (cs *ceremonies) put(id string, c *ceremony) error {
	c.Expires = cs.now().Add(ceremonyTTL)
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	return ceremonyStoreErr(cs.store.Put(ctx, shared.Ceremonies, shared.Key(id), v))
}

// take removes a ceremony and returns it if it is still valid for kind and binding.
// It is removed on the first try whatever the outcome, so an answer can be checked
// once, on any node: a replayed assertion, or a second guess at a foreign ceremony,
// finds nothing.
func (cs *ceremonies) take(id string, kind ceremonyKind, binding string) (*ceremony, error) {
	if !sharedIDOK(id) {
		return nil, errCeremonyUnknown
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	v, err := cs.store.Take(ctx, shared.Ceremonies, shared.Key(id))
	if errors.Is(err, shared.ErrGone) {
		return nil, errCeremonyUnknown
	}
	if err != nil {
		return nil, ceremonyStoreErr(err)
	}
	var c ceremony
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("%w: the stored request does not decode: %w", errCeremonyUnknown, err)
	}
	switch {
	case !cs.now().Before(c.Expires):
		return nil, errCeremonyExpired
	case c.Kind != kind || !sameBinding(c.Binding, binding):
		return nil, errCeremonyMismatch
	}
	return &c, nil
}

// sameBinding compares a stored binding with the one a request presents, in
// constant time: a binding is the hash of a session token. A ceremony bound to
// nothing (sign-in) matches only a request that presents nothing.
func sameBinding(stored, presented string) bool {
	return subtle.ConstantTimeCompare([]byte(stored), []byte(presented)) == 1
}

// ceremonyStoreErr names what a failed call to the Ceremonies bucket means for the
// person: a full bucket is the busy answer; a store that cannot be reached refuses
// the ceremony (it fails closed) with the unavailable answer.
func ceremonyStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shared.ErrFull):
		return fmt.Errorf("%w: %w", errCeremoniesFull, err)
	}
	return fmt.Errorf("%w: passkey requests: %w", errAnsUnavailable, err)
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
	if err := s.ceremonies.put(id, &ceremony{Kind: ceremonyRegister, Binding: binding, UserID: u.ID, Session: *session}); err != nil {
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
	if c.UserID != u.ID {
		return nil, errCeremonyMismatch
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		return nil, err
	}
	return s.rp.CreateCredential(newPasskeyUser(u), c.Session, parsed)
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
	c := &ceremony{Kind: kind, Binding: binding}
	if u != nil {
		c.UserID = u.ID
		opts, session, err = s.rp.BeginLogin(newPasskeyUser(u), webauthn.WithUserVerification(uv))
	} else {
		opts, session, err = s.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(uv))
	}
	if err != nil {
		return "", nil, err
	}
	c.Session = *session
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
	out := checkedAssertion{userID: c.UserID}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		out.cause = err
		return out, nil
	}
	out.assertion.CredentialID = b64.EncodeToString(parsed.RawID)
	out.assertion.SignCount = parsed.Response.AuthenticatorData.Counter
	if c.UserID == "" {
		out.userID = string(parsed.Response.UserHandle)
	}
	u := lookup(out.userID)
	if u == nil {
		out.cause = errors.New("the passkey names no user jfguard knows")
		return out, nil
	}
	pu := newPasskeyUser(u)
	if c.UserID != "" {
		_, err = s.rp.ValidateLogin(pu, c.Session, parsed)
	} else {
		_, _, err = s.rp.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return pu, nil }, c.Session, parsed)
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
