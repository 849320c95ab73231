package gateway

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
	"github.com/nats-io/nkeys"
)

type subscriberParams struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// subscriberView is a subscriber as the control API shows it, with the inbox prefix
// its client must use.
type subscriberView struct {
	projections.Subscriber
	InboxPrefix string `json:"inbox_prefix"`
}

func viewSubscriber(s projections.Subscriber) subscriberView {
	return subscriberView{Subscriber: s, InboxPrefix: domain.SubscriberInbox(s.Name)}
}

// rpcSubscribersAdd gives an external system a NATS credential. It takes the public
// key only: the CLI makes the key pair where it runs, so the seed never travels.
func (s *Server) rpcSubscribersAdd(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[subscriberParams](raw)
	if err != nil {
		return nil, err
	}
	if !nkeys.IsValidPublicUserKey(p.PublicKey) {
		return nil, invalidParams("public_key %q is not the public key of a NATS user nkey (it starts with U); `jfguard subscribers add NAME` makes one", p.PublicKey)
	}
	seq, err := projections.AddSubscriber(ctx, s.opts.Store, events.Context{Actor: "admin"}, p.Name, p.PublicKey, s.now())
	if err != nil {
		return nil, subscriberError(err)
	}
	if err := s.opts.Projector.WaitFor(ctx, seq); err != nil {
		return nil, err
	}
	var view subscriberView
	s.read(func(st *projections.State) { view = viewSubscriber(st.Subscribers[p.Name]) })
	return view, nil
}

// rpcSubscribersList lists the subscribers with their public keys.
func (s *Server) rpcSubscribersList(context.Context, json.RawMessage) (any, error) {
	var out []subscriberView
	s.read(func(st *projections.State) {
		for _, sub := range projections.SortedSubscribers(st.Subscribers) {
			out = append(out, viewSubscriber(sub))
		}
	})
	if out == nil {
		out = []subscriberView{}
	}
	return out, nil
}

// rpcSubscribersRemove withdraws a subscriber's credential; the embedded NATS server
// cuts its connections.
func (s *Server) rpcSubscribersRemove(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[subscriberParams](raw)
	if err != nil {
		return nil, err
	}
	seq, err := projections.RemoveSubscriber(ctx, s.opts.Store, events.Context{Actor: "admin"}, p.Name, s.now())
	if err != nil {
		return nil, subscriberError(err)
	}
	if err := s.opts.Projector.WaitFor(ctx, seq); err != nil {
		return nil, err
	}
	return map[string]any{"name": p.Name, "removed": true}, nil
}

func subscriberError(err error) error {
	switch {
	case errors.Is(err, domain.ErrSubscriberName):
		return invalidParams("%v", err)
	case errors.Is(err, domain.ErrSubscriberExists):
		return &rpcError{rpcConflict, err.Error()}
	}
	return err
}
