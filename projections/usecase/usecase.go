// Package usecase is jfguard's application layer: one method per use case (sign in,
// verify a challenge, sign in with a passkey or an app password, answer a pairing,
// enrol a factor, step up, each administrator's command). Each one loads what it
// needs from the projection, lets the domain decide, does the I/O the decision
// needs (sealing, calls to Jellyfin), appends the events and waits until the
// projection includes them, so its caller reads its own writes.
//
// The HTTP gateway and the JSON-RPC control API translate requests into calls here
// and results or errors back into answers; no event payload is built outside this
// package and the domain. It sits above projections (it runs on the projector's
// state and executor) and below http and cmd, which both import it.
package usecase

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
)

// Sealer encrypts values at rest under each user's data key.
type Sealer interface {
	Seal(ctx context.Context, userID string, plaintext []byte) (events.Sealed, error)
	Open(ctx context.Context, userID string, v events.Sealed) ([]byte, error)
	Destroy(ctx context.Context, userID string) error
}

// Deps are what the use cases need from the outside.
type Deps struct {
	Projector *projections.Projector
	Sealer    Sealer
	Jellyfin  Jellyfin
	// Store is the event stream, for the aggregates kept outside the projection's
	// executor (the subscribers, which the offline CLI changes too).
	Store *store.Store
	// Policy is the effective policy now (settings file plus settings_changed).
	Policy func() domain.Policy
	// TrustKeys are the trust-cookie keys in force at an instant.
	TrustKeys func(now time.Time) domain.TrustKeys
	// IPv6Prefix is the prefix length IPv6 clients are counted by; 0 means 64.
	IPv6Prefix int
	HashParams domain.HashParams
	// Mailer sends the email factor's codes; nil when no mail server is set up.
	Mailer Mailer
	// TOTPIssuer labels new authenticator-app secrets ("Issuer:user"); "" means "Jellyfin".
	TOTPIssuer string
	Rand       io.Reader
	Clock      func() time.Time
	Logger     *slog.Logger
	// Geo says where sign-ins come from (location.go); nil without a database.
	Geo Geolocator
	// Turns are the password step's leases, shared by every node (SharedTurns);
	// without them every password is refused.
	Turns Turns
}

// Service runs the use cases.
type Service struct {
	d         Deps
	log       *slog.Logger
	directory *userDirectory
}

// New builds the use cases on their dependencies.
func New(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.IPv6Prefix == 0 {
		d.IPv6Prefix = domain.DefaultIPv6PrefixBits
	}
	if d.HashParams == (domain.HashParams{}) {
		d.HashParams = domain.DefaultHashParams
	}
	if d.Policy == nil {
		p := domain.DefaultPolicy()
		d.Policy = func() domain.Policy { return p }
	}
	if d.Turns == nil {
		d.Turns = noTurns{}
	}
	s := &Service{d: d, log: d.Logger}
	s.directory = &userDirectory{jf: d.Jellyfin, now: d.Clock}
	return s
}

// Caller is who asks for a use case: the client's address as the gate resolved it
// (once, for the whole request) and the device its credential names.
type Caller struct {
	IP netip.Addr
	// BypassSafe: the address may be trusted for the LAN bypass.
	BypassSafe bool
	// Device is what the request's credential says about the client; zero when it
	// names none.
	Device events.Device
}

// IPString is the caller's address for an event's context, "" when unknown.
func (c Caller) IPString() string {
	if c.IP.IsValid() {
		return c.IP.String()
	}
	return ""
}

// Context is the envelope context of an event the caller causes, acted by actor.
func (c Caller) Context(actor string) events.Context {
	ec := events.Context{Actor: actor, IP: c.IPString()}
	if c.Device.ID != "" || c.Device.Client != "" {
		d := c.Device
		ec.Device = &d
	}
	return ec
}

// Policy is the effective policy now.
func (s *Service) Policy() domain.Policy { return s.d.Policy() }

func (s *Service) now() time.Time { return s.d.Clock() }

// read runs fn on the projected state.
func (s *Service) read(fn func(*projections.State)) { s.d.Projector.Read(fn) }

// user returns a copy of a user's state, nil when jfguard does not know the user.
func (s *Service) user(uid string) *domain.User {
	var u *domain.User
	s.read(func(st *projections.State) {
		if v := st.Users[uid]; v != nil {
			u = v.Clone()
		}
	})
	return u
}

// execUser runs a decision on a user account (see projections.Exec).
func (s *Service) execUser(ctx context.Context, uid string, ec events.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return projections.Exec(ctx, s.d.Projector, projections.UserAggregate(uid), ec, s.locateSignIns(ec, decide))
}

// execAddress runs a decision on an address block.
func (s *Service) execAddress(ctx context.Context, id string, ec events.Context, decide func(a *domain.Address, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return projections.Exec(ctx, s.d.Projector, projections.AddressAggregate(id), ec, decide)
}

// AddressKey is the block of addresses ip is counted with: its rate-limit bucket and
// its IP aggregate (failed sign-ins, bans).
func (s *Service) AddressKey(ip netip.Addr) string {
	return domain.AddressKey(domain.AddressBlock(ip, s.d.IPv6Prefix))
}

// NewID returns a random 128-bit id.
func (s *Service) NewID() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.d.Rand, b); err != nil {
		panic("random source failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// TokenHash is how tokens are known to the event log and the gate: never in clear.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
