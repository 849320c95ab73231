// Package shared keeps the short-lived state every jfguard node must see the same,
// in JetStream key-value buckets next to the event stream: WebAuthn ceremonies and
// OIDC flows between their two requests, rate-limit buckets, and the password step's
// turns and attempts under way. None of it is history (the stream is): it expires on
// its own, and a lost bucket costs people a retry, never a decision.
//
// With several gateways behind a load balancer without sticky sessions, a ceremony
// begun on one node finishes on another, and a limit counts every node's attempts:
// N nodes give an attacker the single-node budget, not N times it. Every write is
// conditional on the revision read, so two nodes can never both consume one value
// or both spend the last token of a bucket.
//
// A security check that cannot reach its bucket fails closed: the caller refuses.
package shared

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Kind is a bucket: what its values are and how long they may live.
type Kind struct {
	// Bucket is the JetStream key-value bucket's name.
	Bucket string
	// TTL bounds how long a value is kept after its last write: the bucket forgets
	// it then, whatever the value says about its own expiry.
	TTL time.Duration
	// MaxBytes bounds the bucket: once full, new values are refused (ErrFull) until
	// old ones expire.
	MaxBytes int64
}

// The buckets. Their TTLs are the longest life of what they hold, with margin.
var (
	// Ceremonies are WebAuthn exchanges between begin and finish (5 minutes).
	Ceremonies = Kind{Bucket: "JFGUARD_CEREMONIES", TTL: 10 * time.Minute, MaxBytes: 64 << 20}
	// Flows are OIDC sign-ins between start and callback, and their handoffs to the
	// page (10 minutes).
	Flows = Kind{Bucket: "JFGUARD_FLOWS", TTL: 15 * time.Minute, MaxBytes: 64 << 20}
	// Exchanges are Quick Connect requests between a TV's Initiate and its sign-in
	// (Jellyfin keeps them 10 minutes). Apart from Flows: anyone may start one, and
	// filling this bucket must not stop OIDC sign-ins.
	Exchanges = Kind{Bucket: "JFGUARD_EXCHANGES", TTL: 15 * time.Minute, MaxBytes: 64 << 20}
	// Limits are rate-limit buckets (windows up to an hour).
	Limits = Kind{Bucket: "JFGUARD_LIMITS", TTL: 2 * time.Hour, MaxBytes: 64 << 20}
	// Turns are leases: one password at a time per user at Jellyfin, and the
	// password attempts under way per address block.
	Turns = Kind{Bucket: "JFGUARD_TURNS", TTL: time.Minute, MaxBytes: 16 << 20}
)

// Kinds are every bucket the package keeps.
var Kinds = []Kind{Ceremonies, Flows, Exchanges, Limits, Turns}

// Errors.
var (
	// ErrGone: the value does not exist, expired, or another request (on any node)
	// took it first.
	ErrGone = errors.New("gone or already used")
	// ErrExists: a value is already stored under the key.
	ErrExists = errors.New("already exists")
	// ErrFull: the bucket holds as much as it may.
	ErrFull = errors.New("too many values in flight")
	// ErrBusy: a conditional write lost to other writers too many times in a row.
	ErrBusy = errors.New("too much contention on one key")
)

// Store is the shared buckets.
type Store struct {
	jsm jetstream.JetStream
	kv  map[string]jetstream.KeyValue
}

// Open creates or updates the buckets, replicated like the event stream.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	if replicas <= 0 {
		replicas = 1
	}
	s := &Store{jsm: js, kv: map[string]jetstream.KeyValue{}}
	for _, k := range Kinds {
		if err := s.openPatiently(ctx, js, replicas, k); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openPatiently retries a bucket the cluster cannot place or answer for yet (a
// server that just joined, one that is restarting, a leader election under way: "no
// suitable peers", or no answer within attemptTimeout), for up to a minute or as
// long as ctx allows, as a service manager would restart a node that failed for it.
func (s *Store) openPatiently(ctx context.Context, js jetstream.JetStream, replicas int, k Kind) error {
	const attemptTimeout = 10 * time.Second
	deadline := time.Now().Add(time.Minute)
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := s.open(actx, js, replicas, k)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// transient: an error a moment later may not repeat.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == noSuitablePeers {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// noSuitablePeers is JetStream's error code for a stream it cannot place on enough
// servers right now.
const noSuitablePeers jetstream.ErrorCode = 10005

// open uses the bucket as it is when it exists with these settings, and creates or
// updates it otherwise. Only a missing or changed bucket needs every replica's
// server: a node restarting while one NATS server of three is down still starts.
func (s *Store) open(ctx context.Context, js jetstream.JetStream, replicas int, k Kind) error {
	cfg := jetstream.KeyValueConfig{
		Bucket:      k.Bucket,
		Description: "jfguard: state shared by the nodes, not history; expires on its own",
		History:     1,
		TTL:         k.TTL,
		MaxBytes:    k.MaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}
	kv, err := js.KeyValue(ctx, k.Bucket)
	if err == nil {
		st, serr := kv.Status(ctx)
		if serr == nil && st.TTL() == k.TTL && st.History() == 1 && sameLimits(st, k, replicas) {
			s.kv[k.Bucket] = kv
			return nil
		}
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("open bucket %s: %w", k.Bucket, err)
	}
	kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", k.Bucket, err)
	}
	s.kv[k.Bucket] = kv
	return nil
}

// sameLimits: the bucket's size bound and replicas are the ones wanted.
func sameLimits(st jetstream.KeyValueStatus, k Kind, replicas int) bool {
	js, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return false
	}
	cfg := js.StreamInfo().Config
	return cfg.MaxBytes == k.MaxBytes && cfg.Replicas == replicas
}

func (s *Store) bucket(k Kind) jetstream.KeyValue { return s.kv[k.Bucket] }

func (s *Store) js() jetstream.JetStream { return s.jsm }

// Put stores a new value under a key no value has; the key is a random id the
// caller made. It fails with ErrExists when the key is taken and ErrFull when the
// bucket is full.
func (s *Store) Put(ctx context.Context, k Kind, key string, value []byte) error {
	_, err := s.bucket(k).Create(ctx, key, value)
	return writeErr(err)
}

// Set stores a value under key, replacing any value there.
func (s *Store) Set(ctx context.Context, k Kind, key string, value []byte) error {
	_, err := s.bucket(k).Put(ctx, key, value)
	return writeErr(err)
}

// Take returns a value and removes it, once: of any number of concurrent takers on
// any node, one gets the value and the others ErrGone.
func (s *Store) Take(ctx context.Context, k Kind, key string) ([]byte, error) {
	kv := s.bucket(k)
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		if isConflict(err) {
			return nil, ErrGone
		}
		return nil, err
	}
	return e.Value(), nil
}

// Get reads a value without taking it.
func (s *Store) Get(ctx context.Context, k Kind, key string) ([]byte, error) {
	e, err := s.bucket(k).Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

// maxCASTries bounds the read-modify-write loops: past it, the request is refused
// (ErrBusy) rather than spinning while an attacker hammers one key.
const maxCASTries = 16

// Allow spends one attempt from the bucket under key, which lets n attempts through
// per window and refills evenly (one every window/n): a token bucket of n tokens,
// kept as its theoretical arrival time (GCRA). It reports whether the attempt may
// go on and, if not, how long until one may. now is the caller's clock.
func (s *Store) Allow(ctx context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	if n <= 0 || window <= 0 {
		return false, 0, fmt.Errorf("limit %q: %d per %s is not a limit", key, n, window)
	}
	interval := window / time.Duration(n)
	var wait time.Duration
	err := s.update(ctx, Limits, key, func(tat time.Time, found bool) (time.Time, bool) {
		if !found || tat.Before(now) {
			tat = now
		}
		next := tat.Add(interval)
		if d := next.Sub(now) - window; d > 0 {
			wait = d
			return time.Time{}, false
		}
		return next, true
	})
	if err != nil {
		return false, 0, err
	}
	return wait == 0, wait, nil
}

// Refund gives back one attempt spent with Allow, for an attempt that was refused
// by another limit after this one let it through.
func (s *Store) Refund(ctx context.Context, key string, n int, window time.Duration, now time.Time) error {
	if n <= 0 || window <= 0 {
		return nil
	}
	interval := window / time.Duration(n)
	return s.update(ctx, Limits, key, func(tat time.Time, found bool) (time.Time, bool) {
		if !found || !tat.After(now) {
			return time.Time{}, false
		}
		back := tat.Add(-interval)
		if back.Before(now) {
			back = now
		}
		return back, true
	})
}

// update is a read-modify-write of an instant under key: f gets the stored instant
// (found false when there is none) and returns the new one, or false to write
// nothing.
func (s *Store) update(ctx context.Context, k Kind, key string, f func(time.Time, bool) (time.Time, bool)) error {
	return s.rewrite(ctx, k, key, func(old []byte) ([]byte, bool) {
		var cur time.Time
		found := len(old) == 8
		if found {
			cur = time.Unix(0, int64(binary.BigEndian.Uint64(old)))
		}
		next, write := f(cur, found)
		if !write {
			return nil, false
		}
		return binary.BigEndian.AppendUint64(nil, uint64(next.UnixNano())), true
	})
}

// rewrite is a read-modify-write of key's value, conditional on the revision read,
// retried when another writer got there first. f gets the stored bytes (nil when
// there are none) and returns the new ones (nil: delete the key) and whether to
// write at all.
func (s *Store) rewrite(ctx context.Context, k Kind, key string, f func(old []byte) ([]byte, bool)) error {
	kv := s.bucket(k)
	for range maxCASTries {
		var old []byte
		rev := uint64(0)
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			rev, old = e.Revision(), e.Value()
		}
		next, write := f(old)
		switch {
		case !write, next == nil && rev == 0:
			return nil
		case next == nil:
			err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		case rev == 0:
			_, err = kv.Create(ctx, key, next)
		default:
			_, err = kv.Update(ctx, key, next, rev)
		}
		if err == nil {
			return nil
		}
		if !isConflict(err) {
			return writeErr(err)
		}
	}
	return ErrBusy
}

// Probe writes the probe key of the Turns bucket: it succeeds only when the
// cluster can take writes (a replicated bucket needs a quorum of its servers), which
// is what a node needs to decide anything.
func (s *Store) Probe(ctx context.Context) error {
	_, err := s.bucket(Turns).Put(ctx, "probe", binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())))
	return err
}

// Lease holds a key of the Turns bucket until released, or until the bucket's TTL
// passes after a holder that died without releasing it.
type Lease struct {
	kv  jetstream.KeyValue
	key string
	rev uint64
}

// Release gives the key back; a lease released twice, or expired and taken by
// another holder since, releases nothing of the new holder's.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
}

// TryAcquire takes the lease on key if nobody holds it, else returns ErrExists.
func (s *Store) TryAcquire(ctx context.Context, key string) (*Lease, error) {
	kv := s.bucket(Turns)
	rev, err := kv.Create(ctx, key, []byte{1})
	if err != nil {
		return nil, writeErr(err)
	}
	return &Lease{kv: kv, key: key, rev: rev}, nil
}

// Acquire waits until it holds the lease on key, as long as ctx allows.
func (s *Store) Acquire(ctx context.Context, key string) (*Lease, error) {
	const poll = 20 * time.Millisecond
	for {
		l, err := s.TryAcquire(ctx, key)
		if !errors.Is(err, ErrExists) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// Enter records one attempt under way under key, in the Turns bucket, and returns
// how many others are under way there: one read and one conditional write of one
// key, so attempts entering at once on any nodes each see the ones before them. An
// entry lives at most ttl (wall time), so the attempts of a node that died stop
// counting then. leave takes the attempt out; it is safe to call more than once.
func (s *Store) Enter(ctx context.Context, key string, ttl time.Duration) (others int, leave func(), err error) {
	id := fmt.Sprintf("%x", time.Now().UnixNano()) + "-" + fmt.Sprint(enterSeq.Add(1))
	err = s.updateCrowd(ctx, key, func(c crowd, now int64) (crowd, bool) {
		others = len(c)
		c[id] = now + int64(ttl)
		return c, true
	})
	if err != nil {
		return 0, nil, err
	}
	var once sync.Once
	leave = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.updateCrowd(ctx, key, func(c crowd, _ int64) (crowd, bool) {
				_, ok := c[id]
				delete(c, id)
				return c, ok
			})
		})
	}
	return others, leave, nil
}

var enterSeq atomic.Uint64

// crowd is the attempts under way under one key: id → expiry (Unix ns, wall time).
type crowd map[string]int64

// updateCrowd is a read-modify-write of a crowd, with expired entries dropped
// before f sees it. An empty crowd is deleted.
func (s *Store) updateCrowd(ctx context.Context, key string, f func(crowd, int64) (crowd, bool)) error {
	return s.rewrite(ctx, Turns, key, func(old []byte) ([]byte, bool) {
		c := crowd{}
		if old != nil {
			if err := json.Unmarshal(old, &c); err != nil || c == nil {
				c = crowd{}
			}
		}
		now := time.Now().UnixNano()
		for id, exp := range c {
			if exp <= now {
				delete(c, id)
			}
		}
		c, write := f(c, now)
		if !write || len(c) == 0 {
			return nil, write
		}
		buf, _ := json.Marshal(c)
		return buf, true
	})
}

// Key joins parts into a key. Keys of a JetStream bucket are subjects limited to
// letters, digits, "-", "_", "/", "=" and "." between tokens; a part with anything
// else (an IPv6 address's colons, a name) is written in hex behind "h-", so two
// different parts never make one key.
func Key(parts ...string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if p == "" || strings.IndexFunc(p, notKeyRune) >= 0 {
			p = "h-" + hex.EncodeToString([]byte(p))
		}
		out[i] = p
	}
	return strings.Join(out, ".")
}

func notKeyRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '=')
}

// isConflict is a conditional write that lost: the key changed or appeared since
// it was read.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists)
}

// writeErr names the errors callers act on.
func writeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyExists), isConflict(err):
		return ErrExists
	case strings.Contains(err.Error(), "maximum bytes"), strings.Contains(err.Error(), "resource limits"):
		return fmt.Errorf("%w: %v", ErrFull, err)
	}
	return err
}
