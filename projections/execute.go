package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// maxAttempts bounds how often a command re-decides after losing a race.
const maxAttempts = 20

// ErrTooBusy: a command lost the race for its aggregate too many times in a row.
var ErrTooBusy = errors.New("aggregate too busy: too many concurrent changes")

// Clock is the time source of commands; tests replace it.
type Clock func() time.Time

// Aggregate names one aggregate a command decides on and how to load a private copy
// of its current state, with the stream position an append must still find.
type Aggregate[T any] struct {
	// ID is the aggregate's id in the event envelope and subject.
	ID string
	// Load returns a copy of the state the decision may change freely, and the
	// expected last sequence of the aggregate's subjects.
	Load func(s *State) (T, uint64)
}

// UserAggregate is the user account with the given Jellyfin user id.
func UserAggregate(id string) Aggregate[*domain.User] {
	return Aggregate[*domain.User]{ID: id, Load: func(s *State) (*domain.User, uint64) {
		u := s.Users[id]
		if u == nil {
			return domain.NewUser(id), s.AggregateVersion(events.AggUser, id, 0)
		}
		return u.Clone(), s.AggregateVersion(events.AggUser, id, u.Version)
	}}
}

// AddressAggregate is the address block with the given IP aggregate id.
func AddressAggregate(id string) Aggregate[*domain.Address] {
	return Aggregate[*domain.Address]{ID: id, Load: func(s *State) (*domain.Address, uint64) {
		a := s.Addresses[id]
		if a == nil {
			return &domain.Address{ID: id}, s.AggregateVersion(events.AggIP, id, 0)
		}
		return a.Clone(), s.AggregateVersion(events.AggIP, id, a.Version)
	}}
}

// SystemAggregate is a named system aggregate. System facts do not depend on each
// other, so its appends expect nothing of the stream.
func SystemAggregate(name string) Aggregate[struct{}] {
	return Aggregate[struct{}]{ID: name, Load: func(*State) (struct{}, uint64) { return struct{}{}, store.AnySeq }}
}

// Exec runs a decision on a copy of an aggregate's current state and appends the
// events it yields, deciding again on fresh state when another writer got there
// first. The decision's error is returned alongside any events it produced (a failed
// factor is both an error for the caller and a fact for the log). Exec returns once
// the projection includes the new events, so the caller reads its own writes.
func Exec[T any](ctx context.Context, p *Projector, agg Aggregate[T], ec events.Context, decide func(state T, now time.Time) ([]events.Payload, error)) (uint64, error) {
	src := source[T]{
		load: func(context.Context) (T, uint64, error) {
			var state T
			var version uint64
			p.Read(func(s *State) { state, version = agg.Load(s) })
			return state, version, nil
		},
		catchUp: func(ctx context.Context) error {
			// Our view is behind the stream: catch up before deciding again.
			last, err := p.store.LastSeq(ctx)
			if err != nil {
				return err
			}
			return p.WaitFor(ctx, last)
		},
		settle: p.WaitFor,
	}
	return execute(ctx, p.store, agg.ID, ec, p.now, src, decide)
}

// ExecStored is Exec for the commands that run with no projection (the offline
// administration of a stopped data directory): load reads the state straight from
// the stream with the sequence an append must still find, and nothing waits for a
// fold after the append.
func ExecStored[T any](ctx context.Context, st *store.Store, aggID string, ec events.Context, now time.Time, load func(ctx context.Context) (T, uint64, error), decide func(state T, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return execute(ctx, st, aggID, ec, func() time.Time { return now }, source[T]{load: load}, decide)
}

// source is where a command reads the state it decides on, and what it waits for.
type source[T any] struct {
	load func(ctx context.Context) (T, uint64, error)
	// catchUp runs after a lost race, before deciding again; nil when load reads
	// the stream itself.
	catchUp func(ctx context.Context) error
	// settle runs after a successful append; nil when nothing folds the events.
	settle func(ctx context.Context, seq uint64) error
}

// execute is the loop every command shares: load, decide, append with the
// expectation, and on a lost race decide again on fresh state.
func execute[T any](ctx context.Context, st *store.Store, aggID string, ec events.Context, clock Clock, src source[T], decide func(state T, now time.Time) ([]events.Payload, error)) (uint64, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		state, version, err := src.load(ctx)
		if err != nil {
			return 0, err
		}
		now := clock()
		payloads, derr := decide(state, now)
		if len(payloads) == 0 {
			return 0, derr
		}
		evs := make([]events.Event, len(payloads))
		for i, pl := range payloads {
			if evs[i], err = events.New(aggID, now, ec, pl); err != nil {
				return 0, err
			}
		}
		seq, err := st.Append(ctx, version, evs...)
		if errors.Is(err, store.ErrConflict) {
			if src.catchUp != nil {
				if err := src.catchUp(ctx); err != nil {
					return 0, err
				}
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("append %s: %w", payloads[0].EventType(), err)
		}
		if src.settle != nil {
			if err := src.settle(ctx, seq); err != nil {
				return seq, err
			}
		}
		return seq, derr
	}
	return 0, ErrTooBusy
}

// ExecUser is Exec on a user account.
func (p *Projector) ExecUser(ctx context.Context, userID string, ec events.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return Exec(ctx, p, UserAggregate(userID), ec, decide)
}

// ExecAddress is Exec on an address block.
func (p *Projector) ExecAddress(ctx context.Context, addrID string, ec events.Context, decide func(a *domain.Address, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return Exec(ctx, p, AddressAggregate(addrID), ec, decide)
}

// ExecSystem appends system events.
func (p *Projector) ExecSystem(ctx context.Context, name string, ec events.Context, payloads ...events.Payload) (uint64, error) {
	return Exec(ctx, p, SystemAggregate(name), ec, func(struct{}, time.Time) ([]events.Payload, error) { return payloads, nil })
}

func (p *Projector) now() time.Time {
	if p.opts.Clock != nil {
		return p.opts.Clock()
	}
	return time.Now()
}
