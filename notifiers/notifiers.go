// Package notifiers pushes alerts about sign-ins, lockouts, pairings and other security
// events to Gotify, ntfy, webhooks and email. Each receiver is a durable consumer of
// the event stream, never a call made from the sign-in path: an alert is sent within
// seconds of its event, once per receiver, across restarts and receiver outages, and a
// slow or broken receiver delays nothing but its own alerts.
package notifiers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultEvents are the event types a sink alerts on when its settings name none:
// what a person should hear about without being flooded by routine sign-ins.
var DefaultEvents = []events.Type{
	events.TypeChallengeIssued, events.TypeFactorFailed, events.TypeLockoutStarted,
	events.TypeChallengeBurned, events.TypePairingRequested,
	events.TypeRecoveryCodeUsed, events.TypePasskeyRegistered,
	events.TypePasskeyCloneSuspected, events.TypeTwoFactorDisabled, events.TypeIPBanned,
	events.TypeUserReset, events.TypeSettingsChanged, events.TypeSessionsAdopted,
	events.TypeAppPasswordCreated, events.TypeDeviceRevoked, events.TypeTOTPEnrolled,
	events.TypeEmailAddressConfirmed, events.TypeUserForgotten,
	events.TypeNotificationFailed, events.TypeForgedEventDetected,
	events.TypeSignedOutEverywhere, events.TypeJellyfinLogoutFailed, events.TypeTrustedBrowserReplayed,
	events.TypeTrustKeyRotated, events.TypeAuditKeyRotated, events.TypeMasterKeyRotated,
	events.TypePasswordStepHeld,
	events.TypeNewLocation, events.TypeImpossibleTravel,
	events.TypeSignInRefused, events.TypeUserNetworksSet,
}

// Defaults of the delivery policy.
const (
	DefaultMaxAttempts = 8
	DefaultMaxAge      = 24 * time.Hour
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 5 * time.Minute
	DefaultCatchUp     = 15 * time.Minute
)

// ErrUnknownSink is returned by SendTest for a name that is not a configured sink.
var ErrUnknownSink = errors.New("no such alert sink")

// Options configure the notifiers. The sink settings mirror the notify.* and smtp.*
// settings with secrets already resolved from their *_file or env forms; they are never
// logged.
type Options struct {
	Gotify   GotifyConfig
	Ntfy     NtfyConfig
	Webhooks []WebhookConfig
	SMTP     SMTPConfig

	// AllowPrivateHosts lists receiver hosts (names or IP literals, as written in the
	// URLs) that may be on a private network (notify.allow_private_hosts).
	AllowPrivateHosts []string
	// PublicURL makes links in alerts absolute (public_url); without it alerts carry
	// no links.
	PublicURL string

	// NameOf returns a Jellyfin user's name, "" when unknown.
	NameOf func(userID string) string
	// AddressOf returns the user's confirmed email address, opened by the caller; ok
	// is false when the user has none.
	AddressOf func(ctx context.Context, userID string) (string, bool)
	// Record appends a payload (notification_failed) to the system aggregate.
	Record func(ctx context.Context, p events.Payload) error

	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Location is the time zone alerts are written in; default the local zone.
	Location *time.Location

	// MaxAttempts is the retry budget per alert and sink (default 8); MaxAge gives up
	// sooner on an alert whose event is older than this after a failed attempt
	// (default 24 hours).
	MaxAttempts int
	MaxAge      time.Duration
	// BackoffBase is the first retry delay, doubled on each attempt up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// CatchUp is how far back a newly configured sink starts in the stream, so events
	// from just before it was set up (or before this node started) still alert.
	CatchUp time.Duration
}

// Failure is an alert given up after its retry budget, for the admin page.
type Failure struct {
	Sink      string      `json:"sink"`
	EventID   string      `json:"event_id"`
	EventType events.Type `json:"event_type"`
	Attempts  int         `json:"attempts"`
	Error     string      `json:"error"`
	Time      time.Time   `json:"time"`
}

// SinkInfo describes a configured sink for the admin page.
type SinkInfo struct {
	Name   string        `json:"name"`
	Events []events.Type `json:"events"`
}

// maxFailures bounds the failures kept in memory; the stream keeps all of them as
// notification_failed events.
const maxFailures = 100

// Notifiers runs one durable stream consumer per configured sink.
type Notifiers struct {
	opts      Options
	log       *slog.Logger
	describer Describer
	bindings  []*binding
	mailer    *Mailer
	metrics   *metrics
	// auth checks each event's MAC: a forged event raises no alert (the fold flags
	// it with forged_event_detected, which does).
	auth *events.Authenticator

	mu       sync.Mutex
	failures []Failure
	started  bool

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

var sinkName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ntfyTopic is what ntfy accepts as a topic name.
var ntfyTopic = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// New checks the settings and builds the sinks; it connects to nothing. Errors name the
// setting, the value (never a secret) and the fix.
func New(opts Options) (*Notifiers, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.CatchUp <= 0 {
		opts.CatchUp = DefaultCatchUp
	}
	n := &Notifiers{
		opts:    opts,
		log:     opts.Logger.With("component", "notifiers"),
		metrics: newMetrics(opts.Registry),
		stop:    make(chan struct{}),
	}
	n.describer = Describer{NameOf: opts.NameOf, Location: opts.Location}
	if opts.PublicURL != "" {
		u, err := parseEndpoint("public_url", opts.PublicURL)
		if err != nil {
			return nil, err
		}
		base := strings.TrimRight(u.String(), "/")
		n.describer.Link = func(path string) string { return base + path }
	}
	g := newGuard(opts.AllowPrivateHosts)
	client := g.client()

	if c := opts.Gotify; c.URL != "" {
		u, err := parseEndpoint("notify.gotify.url", c.URL)
		if err != nil {
			return nil, err
		}
		if c.Token == "" {
			return nil, errors.New("notify.gotify.token_file: no application token; create an application in Gotify and put its token in the file")
		}
		if err := n.bind(&gotify{endpoint: joinPath(u, "message"), token: c.Token, client: client}, "notify.gotify", c.Events); err != nil {
			return nil, err
		}
	}
	if c := opts.Ntfy; c.Topic != "" {
		if c.URL == "" {
			c.URL = DefaultNtfyURL
		}
		u, err := parseEndpoint("notify.ntfy.url", c.URL)
		if err != nil {
			return nil, err
		}
		if !ntfyTopic.MatchString(c.Topic) {
			return nil, errors.New("notify.ntfy.topic: must be 1 to 64 letters, digits, '-' or '_'")
		}
		if c.Priority < 0 || c.Priority > 5 {
			return nil, fmt.Errorf("notify.ntfy.priority: %d is not a priority; use 1 (min) to 5 (max), or 0 for each alert's own", c.Priority)
		}
		if c.Token != "" && c.Username != "" {
			return nil, errors.New("notify.ntfy: set either token or username and password, not both")
		}
		if err := n.bind(&ntfy{endpoint: joinPath(u, c.Topic), cfg: c, client: client}, "notify.ntfy", c.Events); err != nil {
			return nil, err
		}
	}
	for i, c := range opts.Webhooks {
		if c.URL == "" {
			continue
		}
		key := fmt.Sprintf("notify.webhooks[%d]", i)
		u, err := parseEndpoint(key+".url", c.URL)
		if err != nil {
			return nil, err
		}
		name := c.Name
		if name == "" {
			sum := sha256.Sum256([]byte(u.String()))
			name = "webhook-" + hex.EncodeToString(sum[:4])
		}
		if !sinkName.MatchString(name) {
			return nil, fmt.Errorf("%s.name: %q must be 1 to 64 letters, digits, '-' or '_'", key, name)
		}
		w := &webhook{name: name, endpoint: u, secret: c.Secret, client: client, now: time.Now}
		if err := n.bind(w, key, c.Events); err != nil {
			return nil, err
		}
	}
	if opts.SMTP.Host != "" {
		m, err := NewMailer(opts.SMTP)
		if err != nil {
			return nil, err
		}
		n.mailer = m
		if len(opts.SMTP.Admins) > 0 || opts.AddressOf != nil {
			if err := n.bind(&emailSink{m: m, addressOf: opts.AddressOf}, "smtp", opts.SMTP.Events); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}

// bind adds a sink with its event filter, checking the types against the catalog.
// key is the sink's settings key, for errors.
func (n *Notifiers) bind(s Sink, key string, types []string) error {
	for _, b := range n.bindings {
		if b.sink.Name() == s.Name() {
			return fmt.Errorf("%s.name: two sinks are named %q; give each webhook its own name or URL", key, s.Name())
		}
	}
	set := map[events.Type]bool{}
	for _, t := range types {
		if _, ok := events.Lookup(events.Type(t)); !ok {
			return fmt.Errorf("%s.events: %q is not an event type; the types are listed in docs/events.md", key, t)
		}
		set[events.Type(t)] = true
	}
	if len(types) == 0 {
		for _, t := range DefaultEvents {
			set[t] = true
		}
	}
	sorted := make([]events.Type, 0, len(set))
	for t := range set {
		sorted = append(sorted, t)
	}
	slices.Sort(sorted)
	n.bindings = append(n.bindings, &binding{sink: s, types: sorted, typeSet: set})
	return nil
}

// Mailer is the SMTP mailer built from the smtp settings, nil when none is configured.
// The email-code factor sends sign-in codes with it.
func (n *Notifiers) Mailer() *Mailer { return n.mailer }

// Sinks lists the configured sinks and the event types each alerts on.
func (n *Notifiers) Sinks() []SinkInfo {
	out := make([]SinkInfo, len(n.bindings))
	for i, b := range n.bindings {
		out[i] = SinkInfo{Name: b.sink.Name(), Events: slices.Clone(b.types)}
	}
	return out
}

// Failures returns the alerts given up since this node started, oldest first.
func (n *Notifiers) Failures() []Failure {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.failures)
}

func (n *Notifiers) addFailure(f Failure) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failures = append(n.failures, f)
	if len(n.failures) > maxFailures {
		n.failures = slices.Delete(n.failures, 0, len(n.failures)-maxFailures)
	}
}

// SendTest sends a test alert through one sink right away, outside the stream, so an
// admin can check a receiver's settings. The email sink sends it to the admins.
func (n *Notifiers) SendTest(ctx context.Context, sink string) error {
	for _, b := range n.bindings {
		if b.sink.Name() != sink {
			continue
		}
		if _, ok := b.sink.(*emailSink); ok {
			return n.mailer.SendTest(ctx, nil)
		}
		ctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		return b.sink.Send(ctx, testAlert(time.Now()))
	}
	return fmt.Errorf("%w: %q", ErrUnknownSink, sink)
}

// testAlert is the alert an admin sends to check a receiver.
func testAlert(now time.Time) Alert {
	id := events.NewID()
	return Alert{
		ID:       id,
		Type:     "test_alert",
		Time:     now.UTC(),
		Title:    "jfguard test alert",
		Summary:  "This is a test alert from jfguard. If you can read it, alerts reach you.",
		Facts:    []Fact{{"When", now.Format(time.RFC1123)}},
		Severity: SeverityNotice,
		Priority: 3,
		Tags:     []string{"white_check_mark"},
		Event: events.Event{
			ID: id, Type: "test_alert", Time: now.UTC(), Aggregate: events.AggSystem,
			AggregateID: "jfguard", Data: []byte("{}"), V: 1,
		},
	}
}

// Start creates or updates each sink's durable consumer and starts delivering. It
// returns once every consumer exists; delivery runs until Stop.
func (n *Notifiers) Start(ctx context.Context, st *store.Store) error {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return errors.New("notifiers already started")
	}
	n.started = true
	n.auth = st.Authenticator()
	n.mu.Unlock()
	if len(n.bindings) == 0 {
		return nil
	}
	stream, err := st.JetStream().Stream(ctx, store.StreamName)
	if err != nil {
		return fmt.Errorf("notifiers: open stream %s: %w", store.StreamName, err)
	}
	consumers := make([]jetstream.Consumer, len(n.bindings))
	for i, b := range n.bindings {
		if consumers[i], err = n.ensureConsumer(ctx, stream, b); err != nil {
			return err
		}
	}
	for i, b := range n.bindings {
		n.wg.Add(1)
		go n.run(stream, b, consumers[i])
	}
	n.log.Info("alerts started", "sinks", len(n.bindings))
	return nil
}

// Stop ends delivery and waits for it: an attempt in flight completes and is
// acknowledged, alerts fetched but not attempted go back to the stream at once, so a
// restarted node delivers each pending alert exactly once.
func (n *Notifiers) Stop() {
	n.stopOnce.Do(func() {
		close(n.stop)
		for _, b := range n.bindings {
			b.drain()
		}
	})
	n.wg.Wait()
}

func (n *Notifiers) stopping() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}
