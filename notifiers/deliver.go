package notifiers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Delivery timing.
const (
	// sendTimeout bounds one delivery attempt of any sink (HTTP sinks stop at 10s).
	sendTimeout = 30 * time.Second
	// ackWait is how long the server waits for an answer before redelivering: longer
	// than an attempt, so only a crashed node's alerts are redelivered by it.
	ackWait = 2 * sendTimeout
	// forgetAfter drops the consumer of a sink nobody has read for a week (removed from
	// the settings, or every node down), so re-adding it later does not replay a
	// backlog of stale alerts; it then starts again with the catch-up window.
	forgetAfter = 7 * 24 * time.Hour
	// maxInFlight bounds alerts awaiting a retry per sink.
	maxInFlight = 256
	// restartDelay spaces attempts to resume a consumer after the stream failed.
	restartDelay = time.Second
	// maxErrorText bounds the error kept in a notification_failed event.
	maxErrorText = 300
)

// ConsumerPrefix starts the durable consumer name of every sink:
// jfguard-notify-<sink name>.
const ConsumerPrefix = "jfguard-notify-"

// binding is one sink with its filter and its position in the stream.
type binding struct {
	sink    Sink
	types   []events.Type
	typeSet map[events.Type]bool

	mu      sync.Mutex
	iter    jetstream.MessagesContext
	closed  bool
	lastErr map[string]string // event id → last delivery error, while retrying
}

// subjects are the consumer's filters: one per event type, any aggregate and id.
func (b *binding) subjects() []string {
	out := make([]string, len(b.types))
	for i, t := range b.types {
		out[i] = events.SubjectPrefix + ".*.*." + string(t)
	}
	return out
}

// setIter records the iterator Stop must drain; it refuses (and stops it) when Stop
// came first.
func (b *binding) setIter(it jetstream.MessagesContext) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		it.Stop()
		return false
	}
	b.iter = it
	return true
}

// drain stops fetching: messages already fetched are still returned by Next (and
// handed back to the stream), then Next reports the iterator closed.
func (b *binding) drain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.iter != nil {
		b.iter.Drain()
	}
}

func (b *binding) remember(id, err string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lastErr == nil || len(b.lastErr) >= maxInFlight*4 {
		b.lastErr = map[string]string{}
	}
	b.lastErr[id] = err
}

func (b *binding) forget(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.lastErr[id]
	delete(b.lastErr, id)
	return err
}

// wants reports whether the sink alerts on ev. A sink is never told that its own
// alert failed: it would fail again and loop.
func (b *binding) wants(ev events.Event) bool {
	if !b.typeSet[ev.Type] {
		return false
	}
	if ev.Type == events.TypeNotificationFailed {
		p, err := events.Data[*events.NotificationFailed](ev)
		if err != nil || p.Sink == b.sink.Name() {
			return false
		}
	}
	return true
}

// consumerMark is the metadata key of the mark jfguard puts on the consumers it
// creates for its sinks.
const consumerMark = "jfguard_mark"

// ensureConsumer creates the sink's durable consumer, or updates its filter when it
// exists. An existing consumer keeps its start position: only its acknowledgements
// say what was delivered.
//
// Only a consumer jfguard made is kept. Subscribers may create consumers of any name
// (NATS permissions cannot refuse a name by its prefix), so one could make the
// consumer of a sink configured later, starting past every event or with its
// backlog acknowledged; one without jfguard's mark (ours) is deleted and made anew.
func (n *Notifiers) ensureConsumer(ctx context.Context, stream jetstream.Stream, b *binding) (jetstream.Consumer, error) {
	name := ConsumerPrefix + b.sink.Name()
	for attempt := 0; ; attempt++ {
		cons, err := stream.Consumer(ctx, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			start := time.Now().Add(-n.opts.CatchUp)
			cons, err = stream.CreateConsumer(ctx, n.consumerConfig(b, start))
			if errors.Is(err, jetstream.ErrConsumerExists) && attempt < 3 {
				continue // another node created it at the same moment: check theirs
			}
			if err != nil {
				return nil, fmt.Errorf("notifiers: create consumer %s: %w", name, err)
			}
			return cons, nil
		}
		if err != nil {
			return nil, fmt.Errorf("notifiers: read consumer %s: %w", name, err)
		}
		old := cons.CachedInfo().Config
		if !n.ours(name, old) {
			if attempt >= 3 {
				return nil, fmt.Errorf("notifiers: consumer %s keeps being replaced by one jfguard did not make; check who can create consumers on the event stream", name)
			}
			n.log.Warn("alerts: replacing a consumer jfguard did not make; check the subscribers' consumers", "consumer", name)
			if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, fmt.Errorf("notifiers: delete consumer %s: %w", name, err)
			}
			continue
		}
		cons, err = stream.UpdateConsumer(ctx, n.consumerConfig(b, *old.OptStartTime))
		if err != nil {
			return nil, fmt.Errorf("notifiers: update consumer %s: %w", name, err)
		}
		return cons, nil
	}
}

// consumerConfig is the configuration of a sink's consumer starting at start, with
// jfguard's mark.
func (n *Notifiers) consumerConfig(b *binding, start time.Time) jetstream.ConsumerConfig {
	name := ConsumerPrefix + b.sink.Name()
	cfg := jetstream.ConsumerConfig{
		Durable:           name,
		Description:       "jfguard alerts to " + b.sink.Name(),
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &start,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           ackWait,
		MaxDeliver:        -1,
		MaxAckPending:     maxInFlight,
		FilterSubjects:    b.subjects(),
		InactiveThreshold: forgetAfter,
	}
	if n.auth != nil {
		cfg.Metadata = map[string]string{consumerMark: n.mark(name, start)}
	}
	return cfg
}

// mark is what jfguard writes in the metadata of the consumer it creates: keyed
// from the master key (events.Authenticator.KeyedID) over the name and the start
// time, so nobody else can make a consumer that passes for jfguard's, or give one
// of jfguard's another start. It is recognised under every MAC key, so a key
// rotation keeps the consumers.
func (n *Notifiers) mark(name string, start time.Time) string {
	return n.auth.KeyedID(markName(name, start))
}

// markName is what a consumer's mark is keyed over.
func markName(name string, start time.Time) string {
	return "notify consumer " + name + " " + start.UTC().Format(time.RFC3339Nano)
}

// ours reports whether a sink's consumer is one jfguard made: it starts at a time,
// as jfguard's do, and carries jfguard's mark for it. A store without an
// authenticator (tests, tools) has no mark to check.
func (n *Notifiers) ours(name string, c jetstream.ConsumerConfig) bool {
	if c.DeliverPolicy != jetstream.DeliverByStartTimePolicy || c.OptStartTime == nil || c.OptStartSeq != 0 || c.DeliverSubject != "" {
		return false
	}
	return n.auth == nil || n.auth.IsKeyedID(markName(name, *c.OptStartTime), c.Metadata[consumerMark])
}

// run delivers one sink's alerts until Stop, resuming after stream failures.
func (n *Notifiers) run(stream jetstream.Stream, b *binding, cons jetstream.Consumer) {
	defer n.wg.Done()
	log := n.log.With("sink", b.sink.Name())
	for {
		it, err := cons.Messages(jetstream.PullMaxMessages(8))
		if err == nil {
			if !b.setIter(it) {
				return
			}
			n.consume(b, it, log)
		} else {
			log.Warn("alerts paused: cannot read the stream", "err", err)
		}
		if n.stopping() {
			return
		}
		select {
		case <-n.stop:
			return
		case <-time.After(restartDelay):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if c, err := n.ensureConsumer(ctx, stream, b); err == nil {
			cons = c
		} else {
			log.Warn("alerts paused: cannot restore the consumer", "err", err)
		}
		cancel()
	}
}

// consume handles messages one at a time until the iterator closes.
func (n *Notifiers) consume(b *binding, it jetstream.MessagesContext, log *slog.Logger) {
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				log.Warn("alerts: reading the stream failed", "err", err)
			}
			continue
		}
		if n.stopping() {
			// Fetched but not attempted: give it back now rather than after ackWait.
			_ = msg.Nak()
			continue
		}
		n.handle(b, msg)
	}
}

// handle makes one delivery attempt of one message and settles it: acknowledged when
// delivered (or not an alert for this sink), redelivered later after a failure, given
// up and recorded after the retry budget.
func (n *Notifiers) handle(b *binding, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		n.ack(msg)
		return
	}
	attempt := int(meta.NumDelivered)
	ev, err := events.DecodeMsg(msg.Subject(), meta.Sequence.Stream, msg.Data())
	if err != nil || !b.wants(ev) {
		n.ack(msg)
		return
	}
	if n.auth != nil && (n.auth.Verify(msg.Data(), msg.Headers().Get(events.MACHeader)) != events.AuthValid || !ev.OnSubject(msg.Subject())) {
		n.log.Warn("alert skipped: the event's MAC does not verify (written around jfguard)", "sink", b.sink.Name(), "seq", ev.Seq, "type", ev.Type)
		n.ack(msg)
		return
	}
	a, ok := n.describer.Describe(ev)
	if !ok {
		n.log.Warn("alert skipped: event not readable", "sink", b.sink.Name(), "event", ev.ID, "type", ev.Type)
		n.ack(msg)
		return
	}
	log := n.log.With("sink", b.sink.Name(), "event", ev.ID, "type", ev.Type, "attempt", attempt)
	if attempt > n.opts.MaxAttempts {
		// The budget was spent before (the failure record did not land): record again.
		last := b.forget(ev.ID)
		if last == "" {
			last = "retry budget exhausted"
		}
		n.giveUp(b, msg, ev, attempt, errors.New(last))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	err = b.sink.Send(ctx, a)
	cancel()
	if err == nil {
		n.metrics.sent.WithLabelValues(b.sink.Name()).Inc()
		b.forget(ev.ID)
		n.ack(msg)
		log.Debug("alert sent")
		return
	}
	if attempt >= n.opts.MaxAttempts || (n.opts.MaxAge > 0 && time.Since(ev.Time) > n.opts.MaxAge) {
		n.giveUp(b, msg, ev, attempt, err)
		return
	}
	delay := n.backoff(attempt)
	log.Warn("alert not delivered; will retry", "err", err, "retry_in", delay)
	n.metrics.retried.WithLabelValues(b.sink.Name()).Inc()
	b.remember(ev.ID, err.Error())
	_ = msg.NakWithDelay(delay)
}

// giveUp records an undeliverable alert as a notification_failed event (which the
// other sinks then alert on) and acknowledges it. When the record cannot be written
// the message stays in the stream and the record is tried again later.
func (n *Notifiers) giveUp(b *binding, msg jetstream.Msg, ev events.Event, attempts int, cause error) {
	text := clean(cause.Error())
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
	}
	f := Failure{Sink: b.sink.Name(), EventID: ev.ID, EventType: ev.Type, Attempts: attempts, Error: text, Time: time.Now().UTC()}
	n.log.Error("alert given up after the retry budget", "sink", f.Sink, "event", f.EventID, "type", f.EventType, "attempts", attempts, "err", text)
	if n.opts.Record != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.opts.Record(ctx, &events.NotificationFailed{Sink: f.Sink, EventID: f.EventID, Attempts: attempts, Error: text})
		cancel()
		if err != nil {
			n.log.Error("cannot record the failed alert; will try again", "sink", f.Sink, "event", f.EventID, "err", err)
			b.remember(ev.ID, text)
			_ = msg.NakWithDelay(n.backoff(attempts))
			return
		}
	}
	n.metrics.failed.WithLabelValues(f.Sink).Inc()
	n.addFailure(f)
	n.ack(msg)
}

// backoff is the delay after the given failed attempt: base, 2×base, 4×base, … capped.
func (n *Notifiers) backoff(attempt int) time.Duration {
	d := n.opts.BackoffBase
	for i := 1; i < attempt && d < n.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, n.opts.BackoffMax)
}

// ack acknowledges and waits for the server to confirm, so a node stopped right after
// an alert went out does not leave it to be redelivered.
func (n *Notifiers) ack(msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		n.log.Warn("alert acknowledgement not confirmed; it may be delivered again", "subject", msg.Subject(), "err", err)
	}
}
