package store

import (
	"context"
	"fmt"

	"github.com/jfguard/jfguard/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscription delivers events as they are appended until stopped.
type Subscription struct {
	cc jetstream.ConsumeContext
}

// Stop ends the subscription.
func (s *Subscription) Stop() { s.cc.Stop() }

// Subscribe delivers every event from sequence from (inclusive; 0 or 1 for the
// beginning) in stream order, then keeps delivering new ones, optionally restricted
// to subject filters. fn runs on one goroutine at a time.
func (s *Store) Subscribe(ctx context.Context, from uint64, filters []string, fn func(events.Event)) (*Subscription, error) {
	return s.SubscribeRaw(ctx, from, filters, func(m RawMsg) {
		ev, err := s.decodeRaw(m)
		if err != nil {
			// An undecodable message is still a position in the stream: deliver an
			// envelope that names the problem so folds can count and skip it.
			ev = s.undecodable(m)
		}
		fn(ev)
	})
}

// TypeUndecodable marks a delivered stream position whose message did not decode.
const TypeUndecodable events.Type = "undecodable"

// SubscribeRaw is Subscribe for the stored bytes, for integrity checks.
func (s *Store) SubscribeRaw(ctx context.Context, from uint64, filters []string, fn func(RawMsg)) (*Subscription, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName, cfg)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", StreamName, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			return
		}
		fn(RawMsg{
			Seq:     meta.Sequence.Stream,
			Subject: msg.Subject(),
			Data:    msg.Data(),
			MsgID:   msg.Headers().Get(jetstream.MsgIDHeader),
			MAC:     msg.Headers().Get(events.MACHeader),
			Time:    meta.Timestamp.UTC(),
		})
	}, jetstream.PullMaxMessages(4096))
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", StreamName, err)
	}
	return &Subscription{cc: cc}, nil
}
