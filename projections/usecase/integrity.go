package usecase

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
)

// integrityAggregate is the system aggregate forged_event_detected is recorded on.
const integrityAggregate = "integrity"

// WatchForgeries records a forged_event_detected for every event the fold refused
// for a missing or wrong MAC (or as a replay), at start (what the catch-up found)
// and whenever the fold refuses one, until ctx ends.
func (s *Service) WatchForgeries(ctx context.Context) {
	kick := make(chan struct{}, 1)
	s.d.Projector.OnEvent(func(ev events.Event) {
		if ev.Auth == events.AuthMissing || ev.Auth == events.AuthInvalid || ev.Auth == events.AuthReplayed {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	})
	for {
		s.RecordForgeries(ctx)
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
	}
}

// RecordForgeries records the detections the projection holds, in the order of the
// forged events. Each is recorded once: the event id is derived from the forged
// event's sequence under a key only jfguard holds (detectionID), so nodes that
// detect the same one at the same moment write it once (idempotent publish), and
// the fold forgets a detection once it is recorded.
func (s *Service) RecordForgeries(ctx context.Context) {
	var pending []projections.ForgedEvent
	s.read(func(st *projections.State) {
		for _, f := range st.Forged {
			pending = append(pending, f)
		}
	})
	sort.Slice(pending, func(i, j int) bool { return pending[i].Seq < pending[j].Seq })
	for _, f := range pending {
		s.log.Error("refused an event written around jfguard: its MAC is "+f.Reason+"; check who can write to the NATS server",
			"seq", f.Seq, "subject", f.Subject, "type", f.Type)
		ev, err := events.New(integrityAggregate, s.now(), events.Context{Actor: "jfguard"},
			&events.ForgedEventDetected{Seq: f.Seq, Subject: f.Subject, Type: f.Type, Reason: f.Reason})
		if err != nil {
			s.log.Error("record a forged event", "err", err)
			continue
		}
		ev.ID = s.detectionID(f.Seq)
		seq, err := s.d.Store.Append(ctx, store.AnySeq, ev)
		if err != nil && !errors.Is(err, store.ErrDuplicate) {
			s.log.Error("record a forged event", "seq", f.Seq, "err", err)
			continue
		}
		if seq > 0 {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = s.d.Projector.WaitFor(wctx, seq)
			cancel()
		}
	}
}

// detectionID is the id of the detection of the forged event at seq. It is keyed
// (events.Authenticator.KeyedID): with an id anyone could compute, the forger would
// publish their event with the id of its own detection as Nats-Msg-Id, and
// JetStream would drop the detection as a duplicate, silencing the alert. A store
// without an authenticator finds no forgeries; a random id keeps this safe anyway.
func (s *Service) detectionID(seq uint64) string {
	name := "forged_event_detected " + strconv.FormatUint(seq, 10)
	if a := s.d.Store.Authenticator(); a != nil {
		return a.KeyedID(name)
	}
	return events.NewID()
}
