package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events/shared"
)

// memShared is a SharedState in memory, for handler tests that must run without
// NATS. It keeps what the handlers rely on from shared.Store: a value is taken
// once, Put refuses a taken key, a limit counts the same token buckets, and a
// failure set with fail is what every call answers (a store out of reach, a full
// bucket), so the gateway's fail-closed answers can be tested. Values never expire:
// a test that needs expiry runs on the real store.
type memShared struct {
	mu     sync.Mutex
	values map[string][]byte
	tats   map[string]time.Time
	// errs are the failures set with fail, by bucket ("": every bucket).
	errs map[string]error
}

var _ SharedState = (*memShared)(nil)

// newMemShared is an empty in-memory shared state that answers every call.
func newMemShared() *memShared {
	return &memShared{values: map[string][]byte{}, tats: map[string]time.Time{}, errs: map[string]error{}}
}

// fail makes every later call on the given buckets (none: on every bucket) answer
// err; nil makes them work again. Allow and Refund are the Limits bucket's calls,
// Probe the Turns bucket's, as in shared.Store.
func (m *memShared) fail(err error, kinds ...shared.Kind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(kinds) == 0 {
		m.errs[""] = err
	}
	for _, k := range kinds {
		m.errs[k.Bucket] = err
	}
}

// failure is the failure set for bucket k, if any. The caller holds mu.
func (m *memShared) failure(k shared.Kind) error {
	if err := m.errs[""]; err != nil {
		return err
	}
	return m.errs[k.Bucket]
}

// memKey keeps each bucket's keys apart, as the buckets do.
func memKey(k shared.Kind, key string) string { return k.Bucket + "/" + key }

func (m *memShared) Put(_ context.Context, k shared.Kind, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(k); err != nil {
		return err
	}
	if _, ok := m.values[memKey(k, key)]; ok {
		return shared.ErrExists
	}
	m.values[memKey(k, key)] = append([]byte(nil), value...)
	return nil
}

func (m *memShared) Set(_ context.Context, k shared.Kind, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(k); err != nil {
		return err
	}
	m.values[memKey(k, key)] = append([]byte(nil), value...)
	return nil
}

func (m *memShared) Get(_ context.Context, k shared.Kind, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(k); err != nil {
		return nil, err
	}
	v, ok := m.values[memKey(k, key)]
	if !ok {
		return nil, shared.ErrGone
	}
	return v, nil
}

func (m *memShared) Take(_ context.Context, k shared.Kind, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(k); err != nil {
		return nil, err
	}
	v, ok := m.values[memKey(k, key)]
	if !ok {
		return nil, shared.ErrGone
	}
	delete(m.values, memKey(k, key))
	return v, nil
}

// Allow is shared.Store's token bucket (GCRA): n tokens per window, one back every
// window/n.
func (m *memShared) Allow(_ context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(shared.Limits); err != nil {
		return false, 0, err
	}
	if n <= 0 || window <= 0 {
		return false, 0, fmt.Errorf("limit %q: %d per %s is not a limit", key, n, window)
	}
	tat, ok := m.tats[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(window / time.Duration(n))
	if wait := next.Sub(now) - window; wait > 0 {
		return false, wait, nil
	}
	m.tats[key] = next
	return true, 0, nil
}

func (m *memShared) Refund(_ context.Context, key string, n int, window time.Duration, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(shared.Limits); err != nil {
		return err
	}
	tat, ok := m.tats[key]
	if n <= 0 || window <= 0 || !ok || !tat.After(now) {
		return nil
	}
	back := tat.Add(-window / time.Duration(n))
	if back.Before(now) {
		back = now
	}
	m.tats[key] = back
	return nil
}

func (m *memShared) Probe(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failure(shared.Turns)
}

// TestMemorySharedStateKeepsTheStoresContract runs one script on the in-memory
// shared state and on shared.Store: the fake the handler tests run on answers as
// the real buckets do, or those tests prove nothing.
func TestMemorySharedStateKeepsTheStoresContract(t *testing.T) {
	t.Parallel()
	_, open := sharedNodes(t)
	for name, st := range map[string]SharedState{"memory": newMemShared(), "JetStream": open()} {
		t.Run(name, func(t *testing.T) {
			for _, step := range sharedContract(context.Background(), st) {
				if step.got != step.want {
					t.Errorf("%s: got %s, want %s", step.name, step.got, step.want)
				}
			}
		})
	}
}

type contractStep struct{ name, got, want string }

// sharedContract is what the gateway relies on from a SharedState, each step with
// what it answered and what it must answer.
func sharedContract(ctx context.Context, st SharedState) []contractStep {
	now := time.Unix(1_800_000_000, 0)
	var steps []contractStep
	check := func(name, want string, got ...any) {
		steps = append(steps, contractStep{name, fmt.Sprint(got...), want})
	}
	errName := func(err error) string {
		for _, e := range []error{shared.ErrGone, shared.ErrExists} {
			if errors.Is(err, e) {
				return e.Error()
			}
		}
		return fmt.Sprint(err)
	}
	take := func(k shared.Kind, key string) string {
		v, err := st.Take(ctx, k, key)
		return string(v) + "|" + errName(err)
	}
	check("put", "<nil>", st.Put(ctx, shared.Ceremonies, "c1", []byte("a")))
	check("put again", shared.ErrExists.Error(), errName(st.Put(ctx, shared.Ceremonies, "c1", []byte("b"))))
	check("take", "a|<nil>", take(shared.Ceremonies, "c1"))
	check("take again", "|"+shared.ErrGone.Error(), take(shared.Ceremonies, "c1"))
	check("take from another bucket", "|"+shared.ErrGone.Error(), take(shared.Flows, "c1"))
	check("set", "<nil>", st.Set(ctx, shared.Exchanges, "e1", []byte("x")))
	check("set over", "<nil>", st.Set(ctx, shared.Exchanges, "e1", []byte("y")))
	v, err := st.Get(ctx, shared.Exchanges, "e1")
	check("get leaves it", "y|<nil>", string(v)+"|"+errName(err))
	check("take after get", "y|<nil>", take(shared.Exchanges, "e1"))
	_, err = st.Get(ctx, shared.Exchanges, "e1")
	check("get after take", shared.ErrGone.Error(), errName(err))
	allow := func(at time.Time) string {
		ok, wait, err := st.Allow(ctx, "l1", 2, time.Minute, at)
		return fmt.Sprint(ok, " ", wait, " ", err)
	}
	check("first token", "true 0s <nil>", allow(now))
	check("second token", "true 0s <nil>", allow(now))
	check("none left", "false 30s <nil>", allow(now))
	check("refund", "<nil>", st.Refund(ctx, "l1", 2, time.Minute, now))
	check("the refunded token", "true 0s <nil>", allow(now))
	check("one back after window/n", "true 0s <nil>", allow(now.Add(30*time.Second)))
	check("then none again", "false 30s <nil>", allow(now.Add(30*time.Second)))
	_, _, err = st.Allow(ctx, "l2", 0, time.Minute, now)
	check("zero is no limit", "true", err != nil)
	check("probe", "<nil>", st.Probe(ctx))
	return steps
}

// TestMemorySharedStateFailsEveryCall: a failure set on the in-memory state is
// what every call answers, as a store out of reach would; a failure set on one
// bucket is that bucket's alone.
func TestMemorySharedStateFailsEveryCall(t *testing.T) {
	ctx := context.Background()
	m := newMemShared()
	down := errors.New("nats: connection closed")
	m.fail(down)
	_, _, allowErr := m.Allow(ctx, "k", 1, time.Minute, time.Now())
	_, getErr := m.Get(ctx, shared.Flows, "k")
	_, takeErr := m.Take(ctx, shared.Flows, "k")
	for i, err := range []error{allowErr, getErr, takeErr, m.Put(ctx, shared.Flows, "k", nil),
		m.Set(ctx, shared.Flows, "k", nil), m.Refund(ctx, "k", 1, time.Minute, time.Now()), m.Probe(ctx)} {
		if !errors.Is(err, down) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	m.fail(nil)
	full := fmt.Errorf("%w: bucket full", shared.ErrFull)
	m.fail(full, shared.Ceremonies)
	if err := m.Put(ctx, shared.Ceremonies, "k", nil); !errors.Is(err, shared.ErrFull) {
		t.Errorf("the full bucket: %v", err)
	}
	if err := m.Put(ctx, shared.Flows, "k", nil); err != nil {
		t.Errorf("another bucket: %v", err)
	}
	if ok, _, err := m.Allow(ctx, "k", 1, time.Minute, time.Now()); !ok || err != nil {
		t.Errorf("the limits: %v %v", ok, err)
	}
}
