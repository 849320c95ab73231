// Package store keeps jfguard's events in JetStream: the event stream and its
// settings, append with optimistic concurrency, reads (straight from the embedded
// server's block files when they are on this machine) and subscriptions.
package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"
	"github.com/jfguard/jfguard/events"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream holding every event.
const StreamName = "JFGUARD_EVENTS"

// AnySeq appends without an expectation on the aggregate's last sequence.
const AnySeq = ^uint64(0)

// Errors callers branch on.
var (
	// ErrConflict: another writer appended to the aggregate since the caller read it.
	// The caller re-decides on fresh state.
	ErrConflict = errors.New("aggregate changed since it was read")
	// ErrDuplicate: every event of the append was already in the stream (same ids).
	ErrDuplicate = errors.New("events already appended")
	// ErrWeakStream: the stream exists with settings that would let history be lost.
	ErrWeakStream = errors.New("event stream settings are too weak")
)

// Options configure the event stream.
type Options struct {
	// Replicas of the stream in a NATS cluster; 1 for the embedded server.
	Replicas int
	// DuplicateWindow for idempotent publish (Nats-Msg-Id); default 2 minutes.
	DuplicateWindow time.Duration
	// LocalDir is the embedded server's store directory, when the stream is on this
	// machine: scans then read the block files directly (see blocks.go).
	LocalDir string
	// Auth signs every appended event and checks every event read (Event.Auth). A
	// store without one neither signs nor checks (tests, and tools reading a copy).
	Auth *events.Authenticator
}

// Store appends events to JetStream and reads them back.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	blockDir string
	auth     *events.Authenticator
	// OnAppend, when set, is told the last sequence of every successful append
	// (projections use it for read-your-writes).
	onAppend func(seq uint64)
}

// Open creates the event stream if it does not exist and checks its settings
// when it does: a stream that allows deletes, purges, expiry or limits is refused,
// because the stream is the audit log.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.DuplicateWindow <= 0 {
		opts.DuplicateWindow = 2 * time.Minute
	}
	cfg := jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "jfguard events: the append-only audit log",
		Subjects:          []string{events.SubjectPrefix + ".>"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardNew,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            0,
		MaxMsgsPerSubject: -1,
		Replicas:          opts.Replicas,
		Duplicates:        opts.DuplicateWindow,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true,
	}
	stream, err := EnsureStream(ctx, js, cfg, CheckEventStream)
	if err != nil {
		return nil, err
	}
	st := &Store{nc: nc, js: js, stream: stream, auth: opts.Auth}
	if opts.LocalDir != "" {
		st.blockDir = filepath.Join(opts.LocalDir, "jetstream", "$G", "streams", StreamName, "msgs")
	}
	return st, nil
}

// EnsureStream creates a stream or, when it exists, runs check on its configuration.
// Each try has its own timeout and failures are retried until ctx ends (or a minute
// passes): in a cluster an answer can be lost while the meta leader changes. The
// seal and audit packages open their streams (data keys, checkpoints) with it too.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, check func(jetstream.StreamConfig) error) (jetstream.Stream, error) {
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; ; attempt++ {
		stream, err := ensureStreamOnce(ctx, js, cfg)
		if err == nil {
			if err := check(stream.CachedInfo().Config); err != nil {
				return nil, err
			}
			return stream, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) || !retryable(err) {
			return nil, fmt.Errorf("open stream %s: %w", cfg.Name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open stream %s: %w", cfg.Name, ctx.Err())
		case <-time.After(time.Duration(min(attempt+1, 10)) * 200 * time.Millisecond):
		}
	}
}

func ensureStreamOnce(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = js.Stream(ctx, cfg.Name)
		}
	}
	return stream, err
}

// retryable reports whether opening a stream may succeed on another try: timeouts,
// and a cluster that is still placing replicas or electing a leader.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10005, // no suitable peers for placement (servers still joining)
			10008: // cluster not available
			return true
		}
		return apiErr.Code >= 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrNoResponders)
}

// CheckEventStream refuses a stream configuration that could lose or rewrite history.
func CheckEventStream(c jetstream.StreamConfig) error {
	var weak []string
	if !c.DenyDelete {
		weak = append(weak, "deny_delete is off (messages can be deleted)")
	}
	if !c.DenyPurge {
		weak = append(weak, "deny_purge is off (the stream can be purged)")
	}
	if c.AllowRollup {
		weak = append(weak, "allow_rollup is on (a rollup replaces history)")
	}
	if c.AllowMsgTTL {
		weak = append(weak, "allow_msg_ttl is on (messages can expire)")
	}
	if c.Storage != jetstream.FileStorage {
		weak = append(weak, "storage is not file (memory storage loses the log on restart)")
	}
	if c.MaxAge > 0 {
		weak = append(weak, "max_age is set (old events would be removed)")
	}
	if c.MaxMsgs > 0 || c.MaxBytes > 0 || c.MaxMsgsPerSubject > 0 {
		if c.Discard == jetstream.DiscardOld {
			weak = append(weak, "limits with discard=old are set (old events would be removed)")
		}
	}
	if c.Retention != jetstream.LimitsPolicy {
		weak = append(weak, "retention is not limits (consumed events would be removed)")
	}
	if c.Sealed {
		weak = append(weak, "the stream is sealed (no new events can be written)")
	}
	if len(weak) > 0 {
		return fmt.Errorf("%w: stream %s: %s. Fix: restore these settings with `nats stream edit %s` (deny_delete, deny_purge on; no rollup, TTL, max_age or discard-old limits) or let jfguard create the stream in a new account",
			ErrWeakStream, c.Name, strings.Join(weak, "; "), c.Name)
	}
	return nil
}

// OnAppend registers a function told of every appended sequence.
func (s *Store) OnAppend(fn func(seq uint64)) { s.onAppend = fn }

// JetStream exposes the JetStream context for the other streams jfguard keeps.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Conn is the underlying NATS connection.
func (s *Store) Conn() *nats.Conn { return s.nc }

// Append publishes the events of one command, all or nothing. They must belong to
// one aggregate instance. expected is the sequence of the aggregate's last event the
// decision was based on (0 for a new aggregate), or AnySeq. It returns the stream
// sequence of the last event.
//
// A command of several events is published event by event, each expecting the one
// before it as the aggregate's last (so no other writer can come in between), and
// every event carries the command's id and its place in it (cmd: {id, i, n}). Readers
// apply a command only once its last event is in the stream; a command cut short (a
// crash, or another writer winning the race for the last event) is never applied.
// This is as atomic as JetStream's atomic batch publish, which on a single-server
// file stream stages every batch in an fsynced temporary store and costs milliseconds
// per command.
func (s *Store) Append(ctx context.Context, expected uint64, evs ...events.Event) (uint64, error) {
	if len(evs) == 0 {
		return 0, errors.New("append: no events")
	}
	agg, id := evs[0].Aggregate, evs[0].AggregateID
	cmd := ""
	if len(evs) > 1 {
		cmd = events.NewID()
	}
	var seq uint64
	duplicates := 0
	for i, ev := range evs {
		if ev.Aggregate != agg || ev.AggregateID != id {
			return 0, fmt.Errorf("append: events of %s.%s and %s.%s in one append", agg, id, ev.Aggregate, ev.AggregateID)
		}
		if cmd != "" && ev.Cmd == nil {
			ev.Cmd = &events.CommandRef{ID: cmd, I: i + 1, N: len(evs)}
		}
		data, err := fastjson.Marshal(ev)
		if err != nil {
			return 0, fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		m := nats.NewMsg(ev.PublishSubject())
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		if s.auth != nil {
			m.Header.Set(events.MACHeader, s.auth.Sign(data))
		}
		want := expected
		if i > 0 {
			want = seq
		}
		if duplicates > 0 {
			// A republished command: its earlier events are already stored, so the
			// aggregate's last event may be a later one of this command. Publish
			// without the expectation and let the message ids deduplicate; readers
			// still apply the command only if its events stand together.
			want = AnySeq
		}
		if want != AnySeq {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(want, 10))
			m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, events.AggregateSubject(agg, id))
		}
		seq, err = s.publishOne(ctx, m)
		if errors.Is(err, ErrDuplicate) {
			duplicates++
			continue
		}
		if err != nil {
			return 0, err
		}
	}
	if duplicates == len(evs) {
		return seq, ErrDuplicate
	}
	if s.onAppend != nil {
		s.onAppend(seq)
	}
	return seq, nil
}

func (s *Store) publishOne(ctx context.Context, m *nats.Msg) (uint64, error) {
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, classifyPublishError(err)
	}
	if ack.Duplicate {
		return ack.Sequence, ErrDuplicate
	}
	return ack.Sequence, nil
}

func classifyPublishError(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return ErrConflict
	}
	return fmt.Errorf("publish event: %w", err)
}

// LastSeq is the sequence of the newest event in the stream.
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// RawMsg is a stream message as stored, for integrity checks.
type RawMsg struct {
	Seq     uint64
	Subject string
	Data    []byte
	MsgID   string
	MAC     string // the Jfguard-Mac header
	Time    time.Time
	Header  nats.Header
}

// AuthOf checks a stored message as the store does when it reads one: its MAC,
// and that it sits on the subject its envelope names. a must not be nil (a store
// without an authenticator checks nothing: see Store.Authenticator).
func AuthOf(a *events.Authenticator, m RawMsg) events.Auth {
	auth := a.Verify(m.Data, m.MAC)
	if auth == events.AuthValid {
		if ev, err := events.DecodeMsg(m.Subject, m.Seq, m.Data); err != nil || !ev.OnSubject(m.Subject) {
			return events.AuthInvalid
		}
	}
	return auth
}

// SetAuthenticator makes the store sign and check events from now on: for a program
// that opens the store before its keys. Call it before anything is read or written.
func (s *Store) SetAuthenticator(a *events.Authenticator) { s.auth = a }

// Authenticator is the store's event authenticator, or nil.
func (s *Store) Authenticator() *events.Authenticator { return s.auth }

// undecodable is the envelope delivered for a stored message that is no event.
func (s *Store) undecodable(m RawMsg) events.Event {
	return events.Event{Seq: m.Seq, Subject: m.Subject, Type: TypeUndecodable, Auth: checkMAC(s.auth, m.Data, m.MAC), Stored: m.Time}
}

// decodeRaw turns a stored message into an event and checks its MAC.
func (s *Store) decodeRaw(m RawMsg) (events.Event, error) {
	ev, err := events.DecodeMsg(m.Subject, m.Seq, m.Data)
	if err != nil {
		return ev, err
	}
	ev.Auth, ev.Stored = checkMAC(s.auth, m.Data, m.MAC), m.Time
	if ev.Auth == events.AuthValid && !ev.OnSubject(m.Subject) {
		ev.Auth = events.AuthInvalid // an authentic event moved to another subject
	}
	return ev, nil
}

// ScanRaw calls fn for every stored message from sequence from (inclusive) up to the
// stream's last sequence at the time of the call, in stream order.
func (s *Store) ScanRaw(ctx context.Context, from uint64, fn func(RawMsg) error) (uint64, error) {
	return s.scan(ctx, "", from, nil, fn)
}

// scan reads the event stream: the part on this machine's disk directly from the
// block files, the rest (or all of it, for a remote server) through the server.
func (s *Store) scan(ctx context.Context, filter string, from uint64, since *time.Time, fn func(RawMsg) error) (uint64, error) {
	if s.blockDir == "" {
		return ScanStream(ctx, s.js, StreamName, filter, from, since, fn)
	}
	upTo, err := s.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	var t time.Time
	if since != nil {
		t = *since
	}
	stopped := false
	scanned, delivered, err := scanBlocks(s.blockDir, StreamName, filter, from, upTo, t, func(m RawMsg) error {
		err := fn(m)
		if errors.Is(err, errStop) {
			stopped = true
		}
		return err
	})
	if stopped {
		return delivered, nil
	}
	if err != nil || scanned >= upTo {
		return delivered, err
	}
	var sincePtr *time.Time
	if scanned == 0 {
		sincePtr = since
	}
	rest, err := ScanStream(ctx, s.js, StreamName, filter, max(from, scanned+1), sincePtr, fn)
	return max(delivered, rest), err
}

// Scan calls fn for every event from sequence from up to the end of the stream as it
// is when Scan starts, and returns the last sequence it delivered.
func (s *Store) Scan(ctx context.Context, from uint64, fn func(events.Event) error) (uint64, error) {
	var last uint64
	_, err := s.scanDecoded(ctx, "", from, nil, func(evs []events.Event) error {
		for _, ev := range evs {
			if err := fn(ev); err != nil {
				return err
			}
			last = ev.Seq
		}
		return nil
	})
	return last, err
}

// ScanBatches is Scan delivering the events in batches, in stream order: a fold
// can prepare for a batch before applying it (State.ApplyAll).
func (s *Store) ScanBatches(ctx context.Context, from uint64, fn func([]events.Event) error) (uint64, error) {
	return s.scanDecoded(ctx, "", from, nil, fn)
}

// scanBatch is how many messages a decoder takes at a time.
const scanBatch = 512

// decodeBatch is messages on their way through the decoders.
type decodeBatch struct {
	raws []RawMsg
	evs  []events.Event
	err  error
	done chan struct{}
}

// scanDecoded scans and decodes the events (envelope and payload) on a pool of
// goroutines, delivering them to fn in stream order. Decoding JSON is most of the
// cost of a replay; spreading it over the cores keeps the fold itself the limit.
func (s *Store) scanDecoded(ctx context.Context, filter string, from uint64, since *time.Time, fn func([]events.Event) error) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *decodeBatch, workers*2)
	ordered := make(chan *decodeBatch, workers*4)
	for w := 0; w < workers; w++ {
		go func() {
			for b := range work {
				b.evs = make([]events.Event, len(b.raws))
				for i, m := range b.raws {
					ev, err := s.decodeRaw(m)
					if err != nil {
						// A message that is no event is still a position in the stream:
						// deliver an envelope that names the problem, as Subscribe does,
						// so a fold counts it (or flags it as forged) and goes on.
						ev, err = s.undecodable(m), nil
					} else {
						ev.Predecode()
					}
					// A payload that does not decode (an unknown type, a forged or
					// damaged message) is decoded again, and counted, by the fold.
					b.evs[i] = ev
				}
				close(b.done)
			}
		}()
	}
	type result struct {
		last uint64
		err  error
	}
	produced := make(chan result, 1)
	go func() {
		defer close(work)
		defer close(ordered)
		cur := &decodeBatch{done: make(chan struct{})}
		send := func() bool {
			// Work first: a batch the consumer waits for is always being decoded.
			select {
			case work <- cur:
			case <-ctx.Done():
				return false
			}
			select {
			case ordered <- cur:
			case <-ctx.Done():
				return false
			}
			cur = &decodeBatch{done: make(chan struct{})}
			return true
		}
		last, err := s.scan(ctx, filter, from, since, func(m RawMsg) error {
			cur.raws = append(cur.raws, m)
			if len(cur.raws) == scanBatch && !send() {
				return ctx.Err()
			}
			return nil
		})
		if len(cur.raws) > 0 {
			send()
		}
		produced <- result{last, err}
	}()
	var delivered uint64
	var ferr error
	for b := range ordered {
		<-b.done
		if ferr != nil {
			continue
		}
		if b.err != nil {
			ferr = b.err
			cancel()
			continue
		}
		if err := fn(b.evs); err != nil {
			ferr = err
			cancel()
			continue
		}
		if len(b.evs) > 0 {
			delivered = b.evs[len(b.evs)-1].Seq
		}
	}
	res := <-produced
	if ferr != nil {
		if errors.Is(ferr, errStop) {
			return delivered, nil
		}
		return delivered, ferr
	}
	if res.err != nil && ctx.Err() == nil {
		return delivered, res.err
	}
	return delivered, nil
}

// Load returns every event of one aggregate instance in order, and the sequence of
// its last event (0 when it has none): the expected sequence for the next append.
func (s *Store) Load(ctx context.Context, aggregate, id string) ([]events.Event, uint64, error) {
	var out []events.Event
	last, err := s.scan(ctx, events.AggregateSubject(aggregate, id), 1, nil, func(m RawMsg) error {
		ev, err := s.decodeRaw(m)
		if err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	return out, last, err
}

// ScanTime calls fn for the events stored between since (inclusive) and until
// (exclusive; zero means now), optionally restricted to a subject filter.
func (s *Store) ScanTime(ctx context.Context, filter string, since, until time.Time, fn func(events.Event) error) error {
	start := since
	_, err := s.scan(ctx, filter, 0, &start, func(m RawMsg) error {
		if !until.IsZero() && !m.Time.Before(until) {
			return errStop
		}
		ev, err := s.decodeRaw(m)
		if err != nil {
			return err
		}
		return fn(ev)
	})
	return err
}

var errStop = errors.New("stop scan")

// readRest reads messages after last up to upTo with single gets, for a consumer that
// stalled on a message it could not deliver.
func readRest(ctx context.Context, str jetstream.Stream, filter string, last, from, upTo uint64, fn func(RawMsg) error) (uint64, error) {
	next := max(last+1, from)
	for seq := next; seq <= upTo; seq++ {
		sm, err := str.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return last, &UnreadableError{Stream: str.CachedInfo().Config.Name, Seq: seq, Err: err}
		}
		if filter != "" && !subjectMatches(filter, sm.Subject) {
			continue
		}
		m := RawMsg{Seq: sm.Sequence, Subject: sm.Subject, Data: sm.Data, Time: sm.Time.UTC(), Header: sm.Header}
		if sm.Header != nil {
			m.MsgID = sm.Header.Get(jetstream.MsgIDHeader)
			m.MAC = sm.Header.Get(events.MACHeader)
		}
		if err := fn(m); err != nil {
			if errors.Is(err, errStop) {
				return last, nil
			}
			return last, err
		}
		last = seq
	}
	return last, nil
}

// subjectMatches reports whether a subject matches a filter with * and > wildcards.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// UnreadableError: the store holds a message it cannot load (its file is damaged or
// was edited).
type UnreadableError struct {
	Stream string
	Seq    uint64
	Err    error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("stream %s: message %d cannot be read from the store (damaged or edited file): %v", e.Stream, e.Seq, e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// ScanStream reads a stream with an ordered consumer until it has delivered every
// message up to the stream's last sequence when the scan started. Messages are
// handed from the client's delivery goroutine to this one through a buffer, so
// decoding and folding overlap with delivery. It reads any stream (the seal and
// audit packages read theirs with it), optionally restricted to a subject filter,
// from sequence from or the time since, and returns the last sequence delivered.
// fn may return an error to stop; a message the store cannot load is reported as
// an *UnreadableError.
func ScanStream(ctx context.Context, js jetstream.JetStream, stream, filter string, from uint64, since *time.Time, fn func(RawMsg) error) (uint64, error) {
	str, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	upTo := info.State.LastSeq
	if upTo == 0 || upTo < from {
		return 0, nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	switch {
	case since != nil && !since.IsZero():
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = since
	case from > 1:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	if ci := cons.CachedInfo(); ci == nil || ci.NumPending == 0 {
		return 0, nil
	}
	msgs := make(chan RawMsg, 8192)
	stopped := make(chan struct{})
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			return
		}
		m := RawMsg{
			Seq:     meta.Sequence.Stream,
			Subject: msg.Subject(),
			Data:    msg.Data(),
			MsgID:   msg.Headers().Get(jetstream.MsgIDHeader),
			MAC:     msg.Headers().Get(events.MACHeader),
			Time:    meta.Timestamp.UTC(),
			Header:  msg.Headers(),
		}
		last := meta.NumPending == 0 || m.Seq >= upTo
		select {
		case msgs <- m:
		case <-stopped:
			return
		}
		if last {
			select {
			case msgs <- RawMsg{}: // end marker
			case <-stopped:
			}
		}
	}, jetstream.PullMaxMessages(8192))
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	defer func() {
		close(stopped)
		cc.Stop()
	}()
	var last uint64
	idle := time.NewTimer(2 * time.Second)
	defer idle.Stop()
	waited := 0
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-idle.C:
			// Delivery stalled. A message the store cannot deliver (a damaged or
			// edited file) stalls a consumer forever: read the rest one message at
			// a time, which names the bad one.
			waited++
			if waited < 3 {
				idle.Reset(2 * time.Second)
				continue
			}
			return readRest(ctx, str, filter, last, from, upTo, fn)
		case m := <-msgs:
			if m.Seq == 0 {
				return last, nil
			}
			if m.Seq <= last {
				continue // redelivered after the ordered consumer reset
			}
			if err := fn(m); err != nil {
				if errors.Is(err, errStop) {
					return last, nil
				}
				return last, err
			}
			last = m.Seq
			if last >= upTo {
				return last, nil
			}
			waited = 0
			idle.Reset(2 * time.Second)
		}
	}
}

// checkMAC is Verify for a store that may have no authenticator.
func checkMAC(a *events.Authenticator, data []byte, header string) events.Auth {
	if a == nil {
		return events.AuthUnchecked
	}
	return a.Verify(data, header)
}
