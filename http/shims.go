package gateway

import (
	"context"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
)

// TRANSITIONAL: delegations to the use cases for handlers not moved yet. This file
// goes once no handler calls them.

func (s *Server) recordSignInFailed(ctx context.Context, addr clientaddr.ClientAddr, username, reason string) {
	s.app.RecordSignInFailed(ctx, callerOf(addr, upstream.Credentials{}), username, reason)
}

func (s *Server) logoutAsync(token string) { s.app.LogoutAsync(token) }

func (s *Server) userByChallenge(id string) (string, bool) { return s.app.ChallengeUser(id) }

func (s *Server) totpSecret(ctx context.Context, uid string) (string, error) {
	return s.app.TOTPSecret(ctx, uid)
}

func (s *Server) logoutSealed(uid string, sealed events.Sealed) { s.app.LogoutSealed(uid, sealed) }

func (s *Server) revokeAll(ctx context.Context, uid, reason, note string, ec events.Context, first ...events.Payload) (domain.Revocation, error) {
	return s.app.RevokeAll(ctx, uid, reason, note, ec, first...)
}
