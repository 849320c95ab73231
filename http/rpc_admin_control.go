package gateway

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections/usecase"
)

// The control API's one-item-at-a-time actions on a user's account: end a session,
// revoke an app password, answer a pairing, list and end held sign-ins. Each change
// is the administrator's act, under the administrator's step-up rule (rpcCall).

type sessionRevokeParams struct {
	User    string `json:"user"`
	Session string `json:"session"`
}

// rpcSessionRevoke ends one session of a user (usecase.Service.AdminRevokeSession);
// session is its id as users.get lists it (the token's hash).
func (s *Server) rpcSessionRevoke(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[sessionRevokeParams](raw)
	if err != nil {
		return nil, err
	}
	if p.User == "" || p.Session == "" {
		return nil, invalidParams("user and session are required (session: an id from users.get)")
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	if err := s.app.AdminRevokeSession(ctx, admin, uid, p.Session); err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "revoked": true}, nil
}

type appPasswordRevokeParams struct {
	User string `json:"user"`
	ID   string `json:"id"`
}

// rpcAppPasswordRevoke revokes one app password of a user
// (usecase.Service.AdminRevokeAppPassword).
func (s *Server) rpcAppPasswordRevoke(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[appPasswordRevokeParams](raw)
	if err != nil {
		return nil, err
	}
	if p.User == "" || p.ID == "" {
		return nil, invalidParams("user and id are required (id: an app password's id from users.get)")
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	if err := s.app.AdminRevokeAppPassword(ctx, admin, uid, p.ID); err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "revoked": true}, nil
}

type pairingAnswerParams struct {
	User    string `json:"user"`
	Pairing string `json:"pairing"`
	Approve *bool  `json:"approve"`
}

// rpcPairingAnswer approves or denies a waiting device on a user's behalf
// (usecase.Service.AdminAnswerPairing).
func (s *Server) rpcPairingAnswer(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[pairingAnswerParams](raw)
	if err != nil {
		return nil, err
	}
	if p.User == "" || p.Pairing == "" || p.Approve == nil {
		return nil, invalidParams("user, pairing and approve (true or false) are required")
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	err = s.app.AdminAnswerPairing(ctx, admin, uid, p.Pairing, *p.Approve)
	if errors.Is(err, domain.ErrPairingResolved) || errors.Is(err, domain.ErrPairingExpired) {
		return nil, &rpcError{rpcConflict, err.Error()}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "pairing": p.Pairing, "approved": *p.Approve}, nil
}

// rpcChallengesList lists the sign-ins waiting for a second step.
func (s *Server) rpcChallengesList(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	return s.app.HeldSignIns(), nil
}

type challengeEndParams struct {
	Challenge string `json:"challenge"`
}

// rpcChallengeEnd ends a held sign-in and logs its token out
// (usecase.Service.AdminEndChallenge).
func (s *Server) rpcChallengeEnd(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[challengeEndParams](raw)
	if err != nil {
		return nil, err
	}
	if p.Challenge == "" {
		return nil, invalidParams("challenge is required (an id from challenges.list)")
	}
	uid, err := s.app.AdminEndChallenge(ctx, admin, p.Challenge)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "challenge": p.Challenge, "ended": true}, nil
}
