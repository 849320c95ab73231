package gateway

import (
	"context"
	"encoding/json"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
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
func (s *Server) rpcSubscribersAdd(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[subscriberParams](raw)
	if err != nil {
		return nil, err
	}
	if !nkeys.IsValidPublicUserKey(p.PublicKey) {
		return nil, invalidParams("public_key %q is not the public key of a NATS user nkey (it starts with U); `jfguard subscribers add NAME` makes one", p.PublicKey)
	}
	sub, err := s.app.AddSubscriber(ctx, admin, p.Name, p.PublicKey)
	if err != nil {
		return nil, err
	}
	return viewSubscriber(sub), nil
}

// rpcSubscribersList lists the subscribers with their public keys.
func (s *Server) rpcSubscribersList(context.Context, usecase.Admin, json.RawMessage) (any, error) {
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
func (s *Server) rpcSubscribersRemove(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[subscriberParams](raw)
	if err != nil {
		return nil, err
	}
	if err := s.app.RemoveSubscriber(ctx, admin, p.Name); err != nil {
		return nil, err
	}
	return map[string]any{"name": p.Name, "removed": true}, nil
}
