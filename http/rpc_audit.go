package gateway

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

type queryParams struct {
	User  string        `json:"user"`
	IP    string        `json:"ip"`
	Types []events.Type `json:"types"`
	Since string        `json:"since"`
	Until string        `json:"until"`
	Limit int           `json:"limit"`
	Tail  bool          `json:"tail"`
}

func parseTimeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, invalidParams("%s %q is not an RFC 3339 time like 2026-11-27T09:00:00Z", name, v)
	}
	return t, nil
}

// rpcAuditQuery returns events of the audit timeline matching a filter, each marked
// authentic or refused.
func (s *Server) rpcAuditQuery(ctx context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[queryParams](raw)
	if err != nil {
		return nil, err
	}
	f := projections.Filter{Types: p.Types, Limit: p.Limit, Tail: p.Tail}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 1000
	}
	if f.Since, err = parseTimeParam("since", p.Since); err != nil {
		return nil, err
	}
	if f.Until, err = parseTimeParam("until", p.Until); err != nil {
		return nil, err
	}
	if p.User != "" {
		if f.UserID, err = s.app.FindUser(p.User); err != nil {
			return nil, err
		}
	}
	if p.IP != "" {
		ip, err := netip.ParseAddr(strings.TrimSpace(p.IP))
		if err != nil {
			return nil, invalidParams("ip %q is not an IP address", p.IP)
		}
		ip = ip.WithZone("").Unmap()
		f.IP, f.IPAggregates = ip.String(), domain.BanKeys(ip, s.opts.IPv6Prefix)
	}
	evs, err := projections.Query(ctx, s.opts.Store, f)
	if err != nil {
		return nil, invalidParams("%v", err)
	}
	// Events the fold refused are listed too, marked (eventView): an auditor must
	// see a forgery.
	replays := &replayCheck{store: s.opts.Store}
	out := make([]map[string]any, len(evs))
	for i, ev := range evs {
		if err := replays.check(ctx, &ev); err != nil {
			return nil, err
		}
		out[i] = eventView(ev)
	}
	return out, nil
}

// rpcAuditVerify checks the whole stream against the signed checkpoints.
func (s *Server) rpcAuditVerify(ctx context.Context, _ usecase.Admin, _ json.RawMessage) (any, error) {
	if s.opts.Notary == nil {
		return nil, invalidParams("this node has no audit key")
	}
	if err := s.opts.Notary.Flush(ctx); err != nil {
		return nil, err
	}
	rep, err := audit.Verify(ctx, s.opts.Store, audit.VerifyOptions{Keys: []ed25519.PublicKey{s.opts.Notary.PublicKey()}})
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": rep.OK(), "report": rep}, nil
}

type replayParams struct {
	At   string `json:"at"`
	User string `json:"user"`
}

// rpcReplayAt folds the stream up to an instant and describes the state then.
func (s *Server) rpcReplayAt(ctx context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[replayParams](raw)
	if err != nil {
		return nil, err
	}
	at, err := parseTimeParam("at", p.At)
	if err != nil || at.IsZero() {
		return nil, invalidParams("at must be an RFC 3339 time like 2026-11-27T09:00:00Z")
	}
	st, err := projections.Replay(ctx, s.opts.Store, at, nil)
	if err != nil {
		return nil, err
	}
	uid := ""
	if p.User != "" {
		if uid, err = s.app.FindUser(p.User); err != nil {
			return nil, err
		}
	}
	return projections.Summarize(st, at, uid), nil
}
