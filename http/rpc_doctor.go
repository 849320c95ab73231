package gateway

import (
	"context"
	"encoding/json"

	"github.com/jfguard/jfguard/projections/usecase"
)

// rpcDoctor runs jfguard doctor's checks inside this node, with the settings it
// runs on and the connections it holds, and returns them: the settings, Jellyfin,
// the event bus, the streams, the audit chain and the disk, as this node sees them.
// It changes nothing, so the auditor token may call it too.
func (s *Server) rpcDoctor(ctx context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	if _, err := params[struct{}](raw); err != nil {
		return nil, err
	}
	if s.opts.Doctor == nil {
		return nil, &rpcError{rpcInternalError, "this node cannot run the doctor's checks"}
	}
	return s.opts.Doctor(ctx)
}
