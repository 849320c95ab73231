package projections

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// snapshotVersion changes whenever State's shape or the fold changes, so an old
// snapshot is rebuilt from the stream instead of being misread.
const snapshotVersion = 9

// Options configure a Projector.
type Options struct {
	// SnapshotDir holds the snapshot file; empty disables snapshots.
	SnapshotDir string
	// SnapshotEvery writes a snapshot after this many new events (default 100,000)...
	SnapshotEvery uint64
	// ...or after this long with new events (default 5 minutes).
	SnapshotInterval time.Duration
	Logger           *slog.Logger
	// Clock stamps the events of commands; default time.Now.
	Clock Clock
}

// Projector keeps State current by following the stream. Decisions read the state
// under RLock; WaitFor gives read-your-writes.
type Projector struct {
	store *store.Store
	opts  Options
	log   *slog.Logger

	mu    sync.RWMutex
	state *State
	cond  *sync.Cond // signalled when LastSeq advances (uses condMu)

	condMu     sync.Mutex
	applied    uint64
	sub        *store.Subscription
	snapSeq    atomic.Uint64
	snapTime   atomic.Int64 // unix nanoseconds
	snapBusy   atomic.Bool
	snapMu     sync.Mutex
	listeners  []func(events.Event)
	listenerMu sync.RWMutex
}

// New prepares a projector over a store.
func New(es *store.Store, opts Options) *Projector {
	if opts.SnapshotEvery == 0 {
		opts.SnapshotEvery = 100_000
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = 5 * time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Projector{store: es, opts: opts, log: log, state: NewState()}
	p.cond = sync.NewCond(&p.condMu)
	return p
}

// Start loads the snapshot, catches up with the stream and keeps following it. It
// returns once the state includes every event that existed when it was called.
func (p *Projector) Start(ctx context.Context) error {
	if st, err := p.loadSnapshot(); err != nil {
		p.log.Warn("projection snapshot unusable; rebuilding from the stream", "err", err)
	} else if st != nil {
		p.state = st
		p.applied = st.LastSeq
		p.snapSeq.Store(st.LastSeq)
	}
	p.snapTime.Store(time.Now().UnixNano())
	target, err := p.store.LastSeq(ctx)
	if err != nil {
		return err
	}
	if target < p.applied {
		// The stream is shorter than the snapshot: it is not the stream the snapshot
		// was taken from. Trust the stream.
		p.log.Warn("projection snapshot is ahead of the stream; rebuilding", "snapshot", p.applied, "stream", target)
		p.state, p.applied = NewState(), 0
		p.snapSeq.Store(0)
	}
	// Catch up with a scan (the fast path: block files for an embedded store, decoding
	// on every core), then follow new events from where the scan stopped.
	if target > p.applied {
		if _, err := p.store.ScanBatches(ctx, p.applied+1, func(evs []events.Event) error {
			p.applyAll(evs)
			return nil
		}); err != nil {
			return fmt.Errorf("catch up with the event stream: %w", err)
		}
	}
	sub, err := p.store.Subscribe(ctx, p.Applied()+1, nil, p.apply)
	if err != nil {
		return err
	}
	p.sub = sub
	return p.WaitFor(ctx, target)
}

// applyAll folds a batch of the catch-up scan as apply folds each event, the
// replay guard warmed for a group of events first (see State.ApplyAll).
func (p *Projector) applyAll(evs []events.Event) {
	for group := range slices.Chunk(evs, applyGroup) {
		p.mu.Lock()
		p.state.Replays.Warm(group)
		p.mu.Unlock()
		for _, ev := range group {
			p.apply(ev)
		}
	}
}

func (p *Projector) apply(ev events.Event) {
	p.mu.Lock()
	if ev.Seq <= p.state.LastSeq && p.state.LastSeq != 0 {
		p.mu.Unlock()
		return
	}
	refused := p.state.ForgedTotal
	p.state.Apply(ev)
	if p.state.ForgedTotal > refused && ev.Auth == events.AuthValid {
		ev.Auth = events.AuthReplayed // listeners hear that the fold refused it
	}
	seq := p.state.LastSeq
	p.mu.Unlock()

	// Listeners hear the event before those waiting for its sequence wake, so a
	// command that waits for its own write also sees what listeners made of it (the
	// policy refreshed, a subscriber's credential in force).
	p.listenerMu.RLock()
	for _, l := range p.listeners {
		l(ev)
	}
	p.listenerMu.RUnlock()

	p.condMu.Lock()
	p.applied = seq
	p.condMu.Unlock()
	p.cond.Broadcast()

	snap := p.snapSeq.Load()
	due := seq-snap >= p.opts.SnapshotEvery ||
		(seq > snap && time.Since(time.Unix(0, p.snapTime.Load())) >= p.opts.SnapshotInterval)
	if due && p.snapBusy.CompareAndSwap(false, true) {
		go func() {
			defer p.snapBusy.Store(false)
			p.snapshotLogged()
		}()
	}
}

// OnEvent registers a function called after each event is folded, on the fold's
// goroutine and before WaitFor returns for that event's sequence: keep it quick, and
// never wait for the projection in it.
func (p *Projector) OnEvent(fn func(events.Event)) {
	p.listenerMu.Lock()
	p.listeners = append(p.listeners, fn)
	p.listenerMu.Unlock()
}

// Applied is the sequence of the last folded event.
func (p *Projector) Applied() uint64 {
	p.condMu.Lock()
	defer p.condMu.Unlock()
	return p.applied
}

// WaitFor blocks until the state includes sequence seq: after an append, a decision
// never sees state older than its own write.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	p.condMu.Lock()
	if p.applied >= seq {
		p.condMu.Unlock()
		return nil
	}
	p.condMu.Unlock()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			p.cond.Broadcast()
		case <-done:
		}
	}()
	p.condMu.Lock()
	defer p.condMu.Unlock()
	for p.applied < seq {
		if ctx.Err() != nil {
			return fmt.Errorf("projection at %d, waiting for %d: %w", p.applied, seq, ctx.Err())
		}
		p.cond.Wait()
	}
	return nil
}

// Read runs fn with the current state. fn must not keep references past its return
// or modify the state.
func (p *Projector) Read(fn func(*State)) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	fn(p.state)
}

// Stop ends the subscription and writes a final snapshot.
func (p *Projector) Stop() error {
	if p.sub != nil {
		p.sub.Stop()
	}
	return p.Snapshot()
}

func (p *Projector) snapshotLogged() {
	if err := p.Snapshot(); err != nil {
		p.log.Error("projection snapshot failed", "err", err)
	}
}

type snapshotFile struct {
	Version int
	Catalog int
	State   *State
}

func (p *Projector) snapshotPath() string {
	return filepath.Join(p.opts.SnapshotDir, "projections.snapshot")
}

// Snapshot writes the state to disk (atomically: a crash leaves the old snapshot).
func (p *Projector) Snapshot() error {
	if p.opts.SnapshotDir == "" {
		return nil
	}
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	if err := os.MkdirAll(p.opts.SnapshotDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(p.opts.SnapshotDir, "projections-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	p.mu.RLock()
	seq := p.state.LastSeq
	err = gob.NewEncoder(w).Encode(snapshotFile{Version: snapshotVersion, Catalog: len(events.Catalog()), State: p.state})
	p.mu.RUnlock()
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.snapshotPath()); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	p.snapSeq.Store(seq)
	p.snapTime.Store(time.Now().UnixNano())
	return nil
}

func (p *Projector) loadSnapshot() (*State, error) {
	if p.opts.SnapshotDir == "" {
		return nil, nil
	}
	f, err := os.Open(p.snapshotPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var snap snapshotFile
	if err := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&snap); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if snap.Version != snapshotVersion || snap.Catalog != len(events.Catalog()) || snap.State == nil {
		return nil, errors.New("snapshot from another version of jfguard")
	}
	return fillNil(snap.State), nil
}

// fillNil restores empty maps that gob leaves nil.
func fillNil(s *State) *State {
	e := NewState()
	if s.Users == nil {
		s.Users = e.Users
	}
	if s.Addresses == nil {
		s.Addresses = e.Addresses
	}
	if s.Settings == nil {
		s.Settings = e.Settings
	}
	if s.FileSettings == nil {
		s.FileSettings = e.FileSettings
	}
	if s.Subscribers == nil {
		s.Subscribers = e.Subscribers
	}
	if s.Counts == nil {
		s.Counts = e.Counts
	}
	if s.Tokens == nil {
		s.Tokens = e.Tokens
	}
	if s.Names == nil {
		s.Names = e.Names
	}
	if s.AppPasswords == nil {
		s.AppPasswords = e.AppPasswords
	}
	if s.ChallengeUsers == nil {
		s.ChallengeUsers = e.ChallengeUsers
	}
	if s.TrustCookies == nil {
		s.TrustCookies = e.TrustCookies
	}
	if s.Pending == nil {
		s.Pending = e.Pending
	}
	if s.Tails == nil {
		s.Tails = e.Tails
	}
	for _, u := range s.Users {
		fillUser(u)
	}
	return s
}

// Replay folds the stream from the beginning up to and including instant at, and
// returns the state as it was then. progress, when set, is told how far it got.
func Replay(ctx context.Context, es *store.Store, at time.Time, progress func(seq uint64)) (*State, error) {
	st := NewState()
	n := 0
	_, err := es.ScanBatches(ctx, 1, func(evs []events.Event) error {
		cut := slices.IndexFunc(evs, func(ev events.Event) bool { return ev.Time.After(at) })
		if cut >= 0 {
			evs = evs[:cut]
		}
		st.ApplyAll(evs)
		if progress != nil && len(evs) > 0 && (n+len(evs))/50000 > n/50000 {
			progress(evs[len(evs)-1].Seq)
		}
		n += len(evs)
		if cut >= 0 {
			return errStopReplay
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopReplay) {
		return nil, err
	}
	return st, nil
}

var errStopReplay = errors.New("replay reached its instant")

func fillUser(u *domain.User) {
	e := domain.NewUser(u.ID)
	if u.Passkeys == nil {
		u.Passkeys = e.Passkeys
	}
	if u.Challenges == nil {
		u.Challenges = e.Challenges
	}
	if u.Sessions == nil {
		u.Sessions = e.Sessions
	}
	if u.Browsers == nil {
		u.Browsers = e.Browsers
	}
	if u.Pairings == nil {
		u.Pairings = e.Pairings
	}
	if u.AppPasswords == nil {
		u.AppPasswords = e.AppPasswords
	}
}
