package gateway

import (
	"context"
	"encoding/json"

	"github.com/jfguard/jfguard/projections/usecase"
)

// rpcReleasePasswordHold releases a user's password step: the hold after too many
// wrong passwords ends, and so does the pause of a server without the admin API key
// (password_hold_released). Without that key jfguard cannot see Jellyfin's count of
// failed sign-ins, so the administrator checks the user at Jellyfin first.
func (s *Server) rpcReleasePasswordHold(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[userParams](raw)
	if err != nil {
		return nil, err
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	if err := s.app.ReleasePasswordHold(ctx, admin, uid, p.Reason); err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "released": true}, nil
}
