// Package gateway is jfguard's gateway: the reverse proxy and its gate, sign-in
// interception, jfguard's pages and JSON API, the JSON-RPC control API and the event
// feed.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gregdhill/go-openrpc/types"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/prometheus/client_golang/prometheus"
)

// Options are the gateway's dependencies and settings.
type Options struct {
	Upstream  *url.URL
	PublicURL *url.URL

	Store     *store.Store
	Projector *projections.Projector
	Sealer    *seal.Sealer
	Notary    *audit.Notary
	// Shared is the short-lived state every node sees the same (WebAuthn
	// ceremonies, OIDC flows, Quick Connect exchanges, rate limits): events/shared's
	// Store. Without one, every check that needs it refuses.
	Shared SharedState
	// Turns are the password step's turns, which every node sees the same
	// (usecase.SharedTurns on the shared store). Without them, every password is
	// refused.
	Turns usecase.Turns

	// BasePolicy is the policy from the settings file; settings_changed events
	// override it key by key.
	BasePolicy domain.Policy
	ProxyTrust clientaddr.ProxyTrust
	// TrustKeySource gives the trust-cookie keys in force at an instant. Without
	// one, TrustKeys are used as they are (tests, fixed keys).
	TrustKeySource TrustKeySource
	TrustKeys      domain.TrustKeys
	// IPv6Prefix is the prefix length IPv6 clients are counted by in rate limits,
	// failed sign-ins and bans (security.ipv6_prefix); 0 means 64.
	IPv6Prefix int
	// Geo locates sign-ins for the location alerts; nil without a database.
	Geo usecase.Geolocator

	AdminAPIKey string // the Jellyfin admin API key
	AdminToken  string // jfguard's own admin token for the control API
	TOTPIssuer  string

	// AuditorToken reads the event feed and the control API's read-only methods,
	// and changes nothing.
	AuditorToken string

	Logger     *slog.Logger
	Registry   *prometheus.Registry
	Rand       io.Reader
	Clock      func() time.Time
	HashParams domain.HashParams

	// Ready reports extra readiness problems (nil when ready).
	Ready func() error
	// ReadyWarnings are warnings /jfguard/readyz always reports (settings that
	// leave something exposed) without going unready.
	ReadyWarnings []string
	// Limits override the default rate limits (tests use small windows).
	Limits Limits
	// SweepEvery is how often expired challenges are swept; default 10s.
	SweepEvery time.Duration
	// Mailer sends email codes; nil turns the email factor off.
	Mailer Mailer
	// Alerts sends test alerts and lists undeliverable ones; nil when none are set up.
	Alerts Alerts
	// WebAuthn sets up passkeys; the zero value turns them off.
	WebAuthn WebAuthnSettings
	// OIDC are the providers users may sign in with (oidc.providers); none by default.
	OIDC []OIDCProvider
	// RotateKeys rotates this node's keys for the control API's keys.rotate; nil
	// when the node cannot.
	RotateKeys func(ctx context.Context, req audit.KeyRotation) (audit.KeyRotationReport, error)
	// Doctor runs jfguard doctor's checks inside this node for the control API's
	// system.doctor; nil when the node cannot.
	Doctor func(ctx context.Context) (any, error)
	// Backup writes a backup archive for POST /jfguard/api/admin/backup; nil when
	// the node cannot.
	Backup BackupFunc

	// Version is jfguard's version, as /jfguard/healthz and system.status report it
	// and as jfguard names itself to Jellyfin; "dev" when empty.
	Version string
	// OpenRPC is the control API's document (LoadOpenRPC), served by rpc.discover;
	// nil makes rpc.discover answer that it is not loaded.
	OpenRPC *types.OpenRPCSpec1
}

// TrustKeySource gives the trust-cookie keys: the generation recorded in the stream
// and the previous ones still in their grace, so a rotation made on any node of a
// cluster applies on every node at once.
type TrustKeySource interface {
	TrustKeys(now time.Time) domain.TrustKeys
}

// Alerts is what the control API needs of the notifiers.
type Alerts interface {
	SendTest(ctx context.Context, sink string) error
	SinkNames() []string
	FailureList() []map[string]any
}

// Server is the gateway.
type Server struct {
	opts        Options
	log         *slog.Logger
	engine      *gin.Engine
	proxy       *httputil.ReverseProxy
	jf          *upstream.Client
	limits      *limiters
	emailLimits *limiters
	metrics     *metrics
	policy      atomic.Pointer[domain.Policy]
	apiKeys     *apiKeySet
	unknown     *tokenCache
	qc          *quickConnectLedger
	rp          *webauthn.WebAuthn // nil when passkeys are off
	ceremonies  *ceremonies
	passkeyRate *limiters
	oidc        *oidcState
	readiness   upstreamReadiness
	writeProbe  writeProbe
	// app runs the use cases: the handlers translate requests into its calls.
	app useCases
	// gateRefusals are the gate's step-up refusals recorded in the last minute.
	gateRefusals refusalMemo

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// New builds the gateway.
func New(opts Options) *Server { return newServer(opts, nil) }

// newServer builds the gateway on the given use cases, or on jfguard's own
// (usecase.Service on the options' projector, store and sealer) when app is nil.
// Handler tests pass fakes and no projector: the policy is then the base policy.
func newServer(opts Options, app useCases) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.HashParams == (domain.HashParams{}) {
		opts.HashParams = domain.DefaultHashParams
	}
	if opts.TOTPIssuer == "" {
		opts.TOTPIssuer = "Jellyfin"
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 10 * time.Second
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.IPv6Prefix == 0 {
		opts.IPv6Prefix = domain.DefaultIPv6PrefixBits
	}
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		jf:          upstream.NewClient(opts.Upstream, opts.AdminAPIKey, opts.Version),
		limits:      newLimiters("verify", opts.Limits.withDefaults(), opts.Shared),
		emailLimits: newLimiters("email", emailSendLimits(), opts.Shared),
		metrics:     newMetrics(opts.Registry),
		unknown:     newTokenCache(),
		qc:          newQuickConnectLedger(opts.Shared, opts.Clock),
		ceremonies:  newCeremonies(opts.Shared, opts.Clock),
		passkeyRate: newLimiters("begin", passkeyBeginLimits(), opts.Shared),
		oidc:        newOIDCState(opts.OIDC, opts.Shared, opts.Clock),
	}
	// The settings were checked at startup (cli's Resolve): a relying party that
	// still does not build is a programming error, and passkeys stay off with a log
	// line rather than taking the gateway down.
	rp, err := newRelyingParty(opts.WebAuthn, opts.TOTPIssuer)
	if err != nil {
		s.log.Error("passkeys are off: the WebAuthn settings were refused", "err", err)
	}
	s.rp = rp
	s.apiKeys = newAPIKeySet(s.jf, opts.Logger)
	s.app = app
	if s.app == nil {
		s.app = usecase.New(usecase.Deps{
			Projector: opts.Projector, Store: opts.Store, Sealer: opts.Sealer, Jellyfin: s.jf,
			Policy: s.Policy, TrustKeys: s.trustKeysAt, IPv6Prefix: opts.IPv6Prefix,
			HashParams: opts.HashParams, Rand: opts.Rand, Clock: opts.Clock, Logger: opts.Logger,
			Mailer: opts.Mailer, TOTPIssuer: opts.TOTPIssuer, Geo: opts.Geo, Turns: opts.Turns,
		})
	}
	s.proxy = s.newProxy()
	if opts.Projector == nil {
		p := opts.BasePolicy
		s.policy.Store(&p)
	} else {
		s.refreshPolicy()
		opts.Projector.OnEvent(func(ev events.Event) {
			if ev.Type == events.TypeSettingsChanged {
				s.refreshPolicy()
			}
		})
	}
	s.engine = s.routes()
	return s
}

// ServeHTTP serves every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Start runs the background work (challenge expiry, API key refresh) until Stop.
func (s *Server) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.sweepLoop(ctx) }()
	go func() { defer s.wg.Done(); s.apiKeys.loop(ctx) }()
	go func() { defer s.wg.Done(); s.app.WatchForgeries(ctx) }()
}

// Stop ends the background work.
func (s *Server) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Policy is the effective policy now.
func (s *Server) Policy() domain.Policy { return *s.policy.Load() }

func (s *Server) now() time.Time { return s.opts.Clock() }

// tokenHash is how tokens are known to the event log and the gate: never in clear.
func tokenHash(token string) string { return usecase.TokenHash(token) }

// trustKeysAt are the trust-cookie keys in force at an instant.
func (s *Server) trustKeysAt(now time.Time) domain.TrustKeys {
	if s.opts.TrustKeySource != nil {
		return s.opts.TrustKeySource.TrustKeys(now)
	}
	return s.opts.TrustKeys
}

// callerOf is who asks, for the use cases: the address resolveClient resolved and
// the device the request's credential names.
func callerOf(addr clientaddr.ClientAddr, creds upstream.Credentials) usecase.Caller {
	return usecase.Caller{IP: addr.IP, BypassSafe: addr.BypassSafe,
		Device: events.Device{ID: creds.DeviceID, Name: creds.Device, Client: creds.Client, Version: creds.Version}}
}

// newID returns a random 128-bit id.
func (s *Server) newID() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.opts.Rand, b); err != nil {
		panic("random source failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// addressKey is the block of addresses ip is counted with: its rate-limit bucket
// and its IP aggregate (failed sign-ins, bans).
func (s *Server) addressKey(ip netip.Addr) string {
	return clientaddr.RateLimitKey(ip, s.opts.IPv6Prefix)
}

// read runs fn on the projected state.
func (s *Server) read(fn func(*projections.State)) { s.opts.Projector.Read(fn) }
