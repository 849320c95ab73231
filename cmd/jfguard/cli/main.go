// Package cli is the jfguard program: settings, the CLI commands, and Main, which
// wires the event store, projections, audit notary, notifiers and the gateway
// together. The end-to-end tests start the real program through Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/notifiers"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/prometheus/client_golang/prometheus"
)

// Version is set at build time (-ldflags "-X .../cli.Version=…").
var Version = defaultVersion

// defaultVersion is Version when the build set none.
const defaultVersion = "0.1.0-dev"

// Main is a running jfguard: Run starts it, Close stops it gracefully.
type Main struct {
	Settings *Resolved
	Logger   *slog.Logger
	// Limits and SweepEvery let tests shorten the rate-limit windows and the
	// challenge sweep; zero values mean the defaults.
	Limits     gateway.Limits
	SweepEvery time.Duration
	// Clock overrides time for tests.
	Clock func() time.Time
	// NotifyBackoff shortens the alert retry backoff (tests).
	NotifyBackoff time.Duration

	conn      *broker.Conn
	store     *store.Store
	ring      *seal.MasterKeyring
	sealer    *seal.Sealer
	proj      *projections.Projector
	app       *usecase.Service
	notary    *audit.Notary
	gateway   *gateway.Server
	notifiers *notifiers.Notifiers
	server    *gateway.Front
	listener  net.Listener
	lock      *os.File
	cancel    context.CancelFunc
	notaryErr chan error
	extras    []func()
}

// NewMain returns a program for resolved settings.
func NewMain(r *Resolved, log *slog.Logger) *Main {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Main{Settings: r, Logger: log}
}

// Run starts everything and returns once jfguard is listening.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	r := m.Settings
	for _, w := range r.Warnings {
		m.Logger.Warn(w)
	}
	if err := os.MkdirAll(r.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", r.DataDir, err)
	}
	if r.NATS.URL == "" {
		lock, err := LockDataDir(r.DataDir)
		if err != nil {
			return err
		}
		m.lock = lock
	}
	m.conn, err = broker.Start(broker.Options{
		URL: r.NATS.URL, CredsFile: r.NATS.CredsFile, StoreDir: filepath.Join(r.DataDir, "nats"),
		Listen: r.NATS.Listen, Sync: r.NATS.Sync, SyncEvery: r.SyncInterval, Name: "jfguard",
		NkeySeed: r.NATSNkeySeed, TLS: r.NATS.TLS.files(),
	})
	if err != nil {
		return err
	}
	storeOpts := store.Options{Replicas: r.NATS.Replicas}
	if m.conn.Server != nil {
		storeOpts.LocalDir = filepath.Join(r.DataDir, "nats")
	}
	m.store, err = store.Open(ctx, m.conn.NC, storeOpts)
	if err != nil {
		return err
	}
	sharedState, err := shared.Open(ctx, m.store.JetStream(), r.NATS.Replicas)
	if err != nil {
		return err
	}
	m.ring, m.sealer, err = openSealer(ctx, r, m.store, m.Clock)
	if err != nil {
		return err
	}
	// Every event this node writes carries a MAC and every event it reads is
	// checked, before anything is read or written.
	auth, err := m.ring.EventAuthenticator()
	if err != nil {
		return err
	}
	m.store.SetAuthenticator(auth)
	m.proj = projections.New(m.store, projections.Options{
		SnapshotDir: filepath.Join(r.DataDir, "snapshots"), Logger: m.Logger, Clock: m.Clock,
	})
	if err := m.proj.Start(ctx); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	// The facts this program records on its own account (a start, the settings
	// file, undelivered alerts) go through the use cases, as the gateway's do.
	m.app = usecase.New(usecase.Deps{Projector: m.proj, Store: m.store, Sealer: m.sealer, Clock: m.Clock, Logger: m.Logger})
	signKey, err := audit.LoadSigningKey(r.DataDir)
	if err != nil {
		return err
	}
	if _, err := audit.OpenStream(ctx, m.store.JetStream(), r.NATS.Replicas); err != nil {
		return err
	}
	m.notary = audit.NewNotary(m.store, signKey, audit.NotaryOptions{
		Every: r.Audit.CheckpointEvery, Interval: r.CheckpointInterval, Logger: m.Logger,
	})
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.notaryErr = make(chan error, 1)
	go func() { m.notaryErr <- m.notary.Run(bg) }()

	if err := m.recordFileSettings(ctx); err != nil {
		return err
	}
	adminToken, err := m.adminToken()
	if err != nil {
		return err
	}
	auditorToken, err := m.auditorToken()
	if err != nil {
		return err
	}
	openrpc, err := gateway.LoadOpenRPC(OpenRPCDocument)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m.notifiers, err = m.newNotifiers(reg)
	if err != nil {
		return err
	}
	geoDB, err := m.openGeo()
	if err != nil {
		return err
	}
	var mailer gateway.Mailer
	if ml := m.notifiers.Mailer(); ml != nil {
		mailer = ml
	}
	m.gateway = gateway.New(gateway.Options{
		Mailer: mailer, Alerts: alerts{m.notifiers},
		Upstream: r.Upstream, PublicURL: r.PublicURL,
		Store: m.store, Projector: m.proj, Sealer: m.sealer, Notary: m.notary, Shared: sharedState, Turns: usecase.SharedTurns(sharedState),
		BasePolicy: r.Policy, ProxyTrust: r.Trust, IPv6Prefix: r.IPv6Prefix, TrustKeySource: trustKeySource{m.proj, m.ring}, RotateKeys: m.rotateKeys, Backup: m.backup,
		AdminAPIKey: r.JellyfinAPIKey, AdminToken: adminToken, TOTPIssuer: r.Security.TOTPIssuer, WebAuthn: r.WebAuthn, OIDC: r.OIDC,
		Logger: m.Logger, Registry: reg, Clock: m.Clock, Limits: m.Limits, SweepEvery: m.SweepEvery,
		AuditorToken: auditorToken, ReadyWarnings: r.BusWarnings, Version: Version, OpenRPC: openrpc,
		Doctor: m.doctorHook(reg), Geo: geoDB,
	})
	m.gateway.Start(bg)
	m.retireMasterKeys(bg)
	if err := m.notifiers.Start(bg, m.store); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	if err := m.startBusAuth(); err != nil {
		return err
	}
	if err := m.app.RecordNodeStarted(ctx, hostname(), Version); err != nil {
		return err
	}

	m.listener, err = net.Listen("tcp", r.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", r.Listen, err)
	}
	m.server = m.gateway.NewFront()
	// The goroutine gets its own copies: Close clears the fields.
	srv, ln := m.server, m.listener
	go func() {
		if err := srv.Serve(ln); err != nil {
			m.Logger.Error("serve", "err", err)
		}
	}()
	m.Logger.Info("jfguard is listening", "addr", m.listener.Addr().String(), "upstream", r.Upstream.String(), "version", Version)
	return nil
}

// URL is where jfguard can be reached (for tests and dev mode).
func (m *Main) URL() string {
	if m.listener == nil {
		return ""
	}
	addr := m.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Gateway exposes the gateway (tests read its methods list).
func (m *Main) Gateway() *gateway.Server { return m.gateway }

// Store exposes the event store (tests inspect the stream).
func (m *Main) Store() *store.Store { return m.store }

// Projector exposes the projections (tests inspect the state).
func (m *Main) Projector() *projections.Projector { return m.proj }

// AdminToken is the control API token in use.
func (m *Main) AdminToken() string {
	t, _ := m.adminToken()
	return t
}

// Close stops jfguard gracefully: no new connections, in-flight requests (and their
// appends) finish, background work stops, a final snapshot and checkpoint are written.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		m.server = nil
	}
	if m.gateway != nil {
		m.gateway.Stop()
		m.gateway = nil
	}
	if m.notifiers != nil {
		m.notifiers.Stop()
		m.notifiers = nil
	}
	for i := len(m.extras) - 1; i >= 0; i-- {
		m.extras[i]()
	}
	m.extras = nil
	if m.proj != nil {
		if err := m.proj.Stop(); err != nil {
			errs = append(errs, err)
		}
		m.proj = nil
	}
	if m.cancel != nil {
		m.cancel()
		if err := <-m.notaryErr; err != nil {
			errs = append(errs, fmt.Errorf("audit notary: %w", err))
		}
		m.cancel = nil
	}
	if m.conn != nil {
		m.conn.Close()
		m.conn = nil
	}
	if m.lock != nil {
		_ = syscall.Flock(int(m.lock.Fd()), syscall.LOCK_UN)
		m.lock.Close()
		m.lock = nil
	}
	return errors.Join(errs...)
}

// LockDataDir takes an exclusive lock on the data directory, so two processes never
// open the same embedded store.
func LockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "jfguard.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data_dir %s is in use by a running jfguard; stop it, or use --server to talk to it, or work on a copy of the directory", dir)
	}
	return f, nil
}

// recordFileSettings records, as settings_changed events, the policy keys whose value
// in the settings file differs from what the file said last time. Values set later by
// an administrator win until the file changes that key again.
func (m *Main) recordFileSettings(ctx context.Context) error {
	var settings []domain.FileSetting
	for _, key := range gateway.PolicyKeys() {
		v, _ := gateway.PolicyValue(m.Settings.Policy, key)
		settings = append(settings, domain.FileSetting{Key: key, Value: v, Default: mustPolicyValue(domain.DefaultPolicy(), key)})
	}
	return m.app.RecordFileSettings(ctx, settings)
}

func mustPolicyValue(p domain.Policy, key string) string {
	v, _ := gateway.PolicyValue(p, key)
	return v
}

// adminToken returns the control API token: from settings, else data_dir/admin.token
// (created on first start).
func (m *Main) adminToken() (string, error) {
	if m.Settings.AdminToken != "" {
		return m.Settings.AdminToken, nil
	}
	return readOrCreateToken(filepath.Join(m.Settings.DataDir, "admin.token"))
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "jfguard"
	}
	return h
}
