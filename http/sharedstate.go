package gateway

import (
	"context"
	"time"

	"github.com/jfguard/jfguard/events/shared"
)

// SharedState is the short-lived state every node of a cluster sees the same, as
// the gateway's own code reads and writes it: rate-limit buckets, WebAuthn
// ceremonies, OIDC flows, Quick Connect exchanges and readiness's write probe.
// jfguard runs on events/shared's Store (JetStream key-value buckets); handler
// tests run on an in-memory one and need no NATS. Whatever implements it keeps
// shared.Store's contract: errors are shared.ErrGone, ErrExists, ErrFull or a
// failure to reach the state, which the gateway answers by refusing.
type SharedState interface {
	limitStore
	onceStore
	exchangeStore
	writeProber
}

var _ SharedState = (*shared.Store)(nil)

// limitStore spends and gives back tokens of rate-limit buckets (limiters).
type limitStore interface {
	// Allow spends one of n tokens per window from the bucket under key, and says
	// how long to wait when none is left.
	Allow(ctx context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error)
	// Refund gives back a token Allow spent.
	Refund(ctx context.Context, key string, n int, window time.Duration, now time.Time) error
}

// onceStore keeps values that are read once, by whichever node is asked first:
// WebAuthn ceremonies and OIDC flows between their two requests.
type onceStore interface {
	// Put stores a value under a key that has none (shared.ErrExists otherwise).
	Put(ctx context.Context, k shared.Kind, key string, value []byte) error
	// Take returns the value under key and removes it; every later Take, on any
	// node, gets shared.ErrGone.
	Take(ctx context.Context, k shared.Kind, key string) ([]byte, error)
}

// exchangeStore keeps the Quick Connect ledger: entries written again as an
// exchange goes on, read while it is under way, and taken once when it ends.
type exchangeStore interface {
	// Set stores a value under key, replacing any value there.
	Set(ctx context.Context, k shared.Kind, key string, value []byte) error
	// Get reads the value under key without taking it (shared.ErrGone: none).
	Get(ctx context.Context, k shared.Kind, key string) ([]byte, error)
	// Take returns the value under key and removes it, once.
	Take(ctx context.Context, k shared.Kind, key string) ([]byte, error)
}

// writeProber tells whether the shared state can take writes now: a node that
// cannot record anything is not ready.
type writeProber interface {
	Probe(ctx context.Context) error
}
