package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// handleEventFeed streams the event stream as server-sent events, each with its
// stream sequence as the event id: from ?from=<sequence> (inclusive) if given, else
// only new events, optionally filtered by ?type=a,b. A client that reconnects sends
// the id of the last event it got as Last-Event-ID and gets exactly the events
// after it: the header wins over ?from, which a reconnecting EventSource repeats
// from its original URL.
func (s *Server) handleEventFeed(c *gin.Context) {
	var from uint64
	if v := c.GetHeader("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			answer(c, badRequest("Last-Event-ID must be the stream sequence of the last event received"))
			return
		}
		from = n + 1
	} else if v := c.Query("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			answer(c, badRequest("from must be a stream sequence number"))
			return
		}
		from = max(n, 1)
	}
	ctx := c.Request.Context()
	if from == 0 {
		last, err := s.opts.Store.LastSeq(ctx)
		if err != nil {
			answer(c, errAnsFeedUnavailable)
			return
		}
		from = last + 1
	}
	var filters []string
	for _, t := range strings.Split(c.Query("type"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			if _, ok := events.Lookup(events.Type(t)); !ok {
				answer(c, badRequest("unknown event type "+t))
				return
			}
			filters = append(filters, events.SubjectPrefix+".*.*."+t)
		}
	}
	replays := &replayCheck{store: s.opts.Store}
	ch := make(chan events.Event, 256)
	sub, err := s.opts.Store.Subscribe(ctx, from, filters, func(ev events.Event) {
		select {
		case ch <- ev:
		case <-ctx.Done():
		}
	})
	if err != nil {
		answer(c, errAnsFeedUnavailable)
		return
	}
	defer sub.Stop()
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			w.Flush()
		case ev := <-ch:
			if err := replays.check(ctx, &ev); err != nil {
				// Without its verdict an event could pass for authentic: end the feed;
				// the client resumes from the last id it got.
				return
			}
			data, _ := json.Marshal(eventView(ev))
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data)
			w.Flush()
		}
	}
}

// eventView is an event as external readers see it: the envelope plus its position,
// and for an address block's event the address or prefix its aggregate id stands for
// (`address`), so readers need not reverse the subject-safe encoding. `authentic`
// says whether jfguard wrote it (its MAC checked and right, and no replay); an event
// the fold refused is still shown, with `refused` naming why (missing, invalid,
// replayed): an auditor must see a forgery, and must not take it for a fact.
func eventView(ev events.Event) map[string]any {
	v := map[string]any{
		"seq": ev.Seq, "id": ev.ID, "type": ev.Type, "time": ev.Time, "aggregate": ev.Aggregate,
		"aggregate_id": ev.AggregateID, "actor": ev.Actor, "ip": ev.IP, "device": ev.Device,
		"data": ev.Data, "v": ev.V, "authentic": ev.Auth == events.AuthValid,
	}
	switch ev.Auth {
	case events.AuthMissing, events.AuthInvalid, events.AuthReplayed:
		v["refused"] = ev.Auth.String()
	}
	if ev.Aggregate == events.AggIP {
		v["address"] = events.IPFromAggregateID(ev.AggregateID)
	}
	return v
}

// replayCheck gives a reader of part of the stream the fold's verdict on replays:
// the store checks each event's MAC, but a copy of an authentic event appended again
// has a right one, and only a guard over the stream (events.ReplayGuard) finds it.
// The guard depends only on the stream, so this one, fed the events read and primed
// with those stored within the replay window before the first, finds the replays
// the fold found. A copy sits on its original's subject (its MAC binds it) with the
// same data, so it passes every filter its original passes: feeding the guard only
// the events a filtered reader gets is enough.
type replayCheck struct {
	store  *store.Store
	guard  events.ReplayGuard
	primed bool
}

// errPrimed ends the priming scan at the first event read.
var errPrimed = errors.New("replay guard primed")

// check marks ev as replayed when the fold refused it as one. Events must come in
// stream order.
func (r *replayCheck) check(ctx context.Context, ev *events.Event) error {
	if ev.Auth != events.AuthValid || ev.Stored.IsZero() {
		return nil
	}
	if !r.primed {
		if err := r.prime(ctx, *ev); err != nil {
			return err
		}
		r.primed = true
	}
	if r.guard.Replayed(ev.ID, ev.Time, ev.Stored) {
		ev.Auth = events.AuthReplayed
	}
	return nil
}

// prime feeds the guard the authentic events stored within the replay window
// before first, as the fold's guard held them when it reached first. It reads
// through the server, which finds the window's start by time without reading the
// stream from its beginning.
func (r *replayCheck) prime(ctx context.Context, first events.Event) error {
	auth := r.store.Authenticator()
	since := first.Stored.Add(-events.ReplayWindow)
	_, err := store.ScanStream(ctx, r.store.JetStream(), store.StreamName, "", 0, &since, func(m store.RawMsg) error {
		if m.Seq >= first.Seq {
			return errPrimed
		}
		if store.AuthOf(auth, m) != events.AuthValid {
			return nil
		}
		if ev, err := events.DecodeMsg(m.Subject, m.Seq, m.Data); err == nil {
			r.guard.Replayed(ev.ID, ev.Time, m.Time)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPrimed) {
		return fmt.Errorf("read the events before %d for replays: %w", first.Seq, err)
	}
	return nil
}

// apiKeyUsage reports the requests made with each API key since start.
func (s *Server) apiKeyUsage() []map[string]any {
	out := []map[string]any{}
	mfs, err := s.opts.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "jfguard_api_key_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "key" {
					key = l.GetValue()
				}
			}
			out = append(out, map[string]any{"key": key, "requests": uint64(m.GetCounter().GetValue())})
		}
	}
	return out
}
