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

// ExecUser runs a decision on a copy of a user's current state and appends the events
// it yields, re-deciding on fresh state when another writer got there first. The
// decision's error is returned alongside any events it produced (a failed factor is
// both an error for the caller and a fact for the log). It returns once the
// projection includes the new events.
func (p *Projector) ExecUser(ctx context.Context, userID string, ec events.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return p.exec(ctx, userID, ec, func(s *State) (any, uint64) {
		u := s.Users[userID]
		if u == nil {
			return domain.NewUser(userID), s.AggregateVersion(events.AggUser, userID, 0)
		}
		return u.Clone(), s.AggregateVersion(events.AggUser, userID, u.Version)
	}, func(v any, now time.Time) ([]events.Payload, error) {
		return decide(v.(*domain.User), now)
	})
}

// ExecAddress is ExecUser for an IP address aggregate.
func (p *Projector) ExecAddress(ctx context.Context, addrID string, ec events.Context, decide func(a *domain.Address, now time.Time) ([]events.Payload, error)) (uint64, error) {
	return p.exec(ctx, addrID, ec, func(s *State) (any, uint64) {
		a := s.Addresses[addrID]
		if a == nil {
			return &domain.Address{ID: addrID}, s.AggregateVersion(events.AggIP, addrID, 0)
		}
		return a.Clone(), s.AggregateVersion(events.AggIP, addrID, a.Version)
	}, func(v any, now time.Time) ([]events.Payload, error) {
		return decide(v.(*domain.Address), now)
	})
}

// ExecSystem appends system events (no concurrency expectation: system facts do not
// depend on each other).
func (p *Projector) ExecSystem(ctx context.Context, name string, ec events.Context, payloads ...events.Payload) (uint64, error) {
	return p.exec(ctx, name, ec, func(*State) (any, uint64) { return nil, store.AnySeq },
		func(any, time.Time) ([]events.Payload, error) { return payloads, nil })
}

func (p *Projector) exec(ctx context.Context, aggID string, ec events.Context,
	load func(*State) (any, uint64), decide func(any, time.Time) ([]events.Payload, error)) (uint64, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var state any
		var version uint64
		p.Read(func(s *State) { state, version = load(s) })
		now := p.now()
		payloads, derr := decide(state, now)
		if len(payloads) == 0 {
			return 0, derr
		}
		evs := make([]events.Event, len(payloads))
		for i, pl := range payloads {
			ev, err := events.New(aggID, now, ec, pl)
			if err != nil {
				return 0, err
			}
			evs[i] = ev
		}
		seq, err := p.store.Append(ctx, version, evs...)
		if errors.Is(err, store.ErrConflict) {
			// Our view is behind the stream: catch up, then decide again.
			last, lerr := p.store.LastSeq(ctx)
			if lerr != nil {
				return 0, lerr
			}
			if werr := p.WaitFor(ctx, last); werr != nil {
				return 0, werr
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("append %s: %w", payloads[0].EventType(), err)
		}
		if err := p.WaitFor(ctx, seq); err != nil {
			return seq, err
		}
		return seq, derr
	}
	return 0, ErrTooBusy
}

func (p *Projector) now() time.Time {
	if p.opts.Clock != nil {
		return p.opts.Clock()
	}
	return time.Now()
}
