package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// rpcReleasePasswordHold releases a user's password step: the hold after too many
// wrong passwords ends, and so does the pause of a server without the admin API key
// (password_hold_released). Without that key jfguard cannot see Jellyfin's count of
// failed sign-ins, so the administrator checks the user at Jellyfin first.
func (s *Server) rpcReleasePasswordHold(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[userParams](raw)
	if err != nil {
		return nil, err
	}
	uid, err := s.findUser(p.User)
	if err != nil {
		return nil, err
	}
	_, err = s.opts.Projector.ExecUser(ctx, uid, events.Context{Actor: "admin"}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return domain.DecidePasswordHoldReleased(u, p.Reason, now)
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "released": true}, nil
}
