package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/projections/usecase"
)

// DefaultKeyGrace is how long the previous trust-cookie and master keys stay valid
// after a rotation unless told otherwise: a week, long enough for browsers in
// regular use to sign in and move to the new trust key, and for every node of a
// cluster to be given the new master key.
const DefaultKeyGrace = 7 * 24 * time.Hour

type keysRotateParams struct {
	Trust  bool   `json:"trust"`
	Audit  bool   `json:"audit"`
	Master bool   `json:"master"`
	Grace  string `json:"grace"`
}

// rpcKeysRotate rotates this node's keys: those named, or all three when none is.
func (s *Server) rpcKeysRotate(ctx context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[keysRotateParams](raw)
	if err != nil {
		return nil, err
	}
	req := audit.KeyRotation{Trust: p.Trust, Audit: p.Audit, Master: p.Master, Grace: DefaultKeyGrace}
	if !req.Trust && !req.Audit && !req.Master {
		req.Trust, req.Audit, req.Master = true, true, true
	}
	if p.Grace != "" {
		if req.Grace, err = time.ParseDuration(p.Grace); err != nil || req.Grace < 0 {
			return nil, invalidParams("grace %q is not a duration like 168h or 30m (0 refuses the previous keys at once)", p.Grace)
		}
	}
	if s.opts.RotateKeys == nil {
		return nil, errors.New("this node cannot rotate keys")
	}
	return s.opts.RotateKeys(ctx, req)
}
