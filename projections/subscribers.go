package projections

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// Subscriber is an external system allowed to read the event stream over NATS.
type Subscriber struct {
	Name      string    `json:"name"`
	PublicKey string    `json:"public_key"`
	Added     time.Time `json:"added"`
}

// foldSubscriber applies a subscriber event to the subscribers by name.
func foldSubscriber(subs map[string]Subscriber, ev events.Event, p events.Payload) {
	switch e := p.(type) {
	case *events.SubscriberAdded:
		subs[e.Name] = Subscriber{Name: e.Name, PublicKey: e.PublicKey, Added: ev.Time}
	case *events.SubscriberRemoved:
		delete(subs, e.Name)
	}
}

// SortedSubscribers lists subscribers by name.
func SortedSubscribers(subs map[string]Subscriber) []Subscriber {
	out := make([]Subscriber, 0, len(subs))
	for _, s := range subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LoadSubscribers reads the subscribers straight from the stream (their events
// only), with the sequence of the last one: what the offline commands and a change
// decide from, without a projection.
func LoadSubscribers(ctx context.Context, st *store.Store) (map[string]Subscriber, uint64, error) {
	evs, last, err := st.Load(ctx, events.AggSystem, events.SubscribersAggregate)
	if err != nil {
		return nil, 0, fmt.Errorf("read subscribers: %w", err)
	}
	subs := map[string]Subscriber{}
	for _, ev := range evs {
		p, err := events.Decode(ev)
		if err != nil {
			continue // a fold skips what it cannot read
		}
		foldSubscriber(subs, ev, p)
	}
	return subs, last, nil
}

// AddSubscriber records a new subscriber. Changes to subscribers are appended with
// the subscribers' last sequence as the expectation, so two administrators (or two
// nodes) adding the same name at once cannot both succeed.
func AddSubscriber(ctx context.Context, st *store.Store, ec events.Context, name, publicKey string, now time.Time) (uint64, error) {
	return changeSubscribers(ctx, st, ec, now, func(keys map[string]string) ([]events.Payload, error) {
		return domain.DecideSubscriberAdd(keys, name, publicKey)
	})
}

// RemoveSubscriber records that a subscriber's credential is withdrawn.
func RemoveSubscriber(ctx context.Context, st *store.Store, ec events.Context, name string, now time.Time) (uint64, error) {
	return changeSubscribers(ctx, st, ec, now, func(keys map[string]string) ([]events.Payload, error) {
		return domain.DecideSubscriberRemove(keys, name)
	})
}

// changeSubscribers decides on the subscribers' public keys by name, read straight
// from the stream, so the offline command and the running server decide alike.
func changeSubscribers(ctx context.Context, st *store.Store, ec events.Context, now time.Time, decide func(map[string]string) ([]events.Payload, error)) (uint64, error) {
	load := func(ctx context.Context) (map[string]string, uint64, error) {
		subs, last, err := LoadSubscribers(ctx, st)
		if err != nil {
			return nil, 0, err
		}
		keys := make(map[string]string, len(subs))
		for n, s := range subs {
			keys[n] = s.PublicKey
		}
		return keys, last, nil
	}
	return ExecStored(ctx, st, events.SubscribersAggregate, ec, now, load, func(keys map[string]string, _ time.Time) ([]events.Payload, error) {
		return decide(keys)
	})
}
