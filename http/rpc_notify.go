package gateway

import (
	"context"
	"encoding/json"

	"github.com/jfguard/jfguard/projections/usecase"
)

type notifyTestParams struct {
	Sink string `json:"sink"`
}

// rpcNotifyTest sends a test alert through one sink right away.
func (s *Server) rpcNotifyTest(ctx context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[notifyTestParams](raw)
	if err != nil {
		return nil, err
	}
	if s.opts.Alerts == nil {
		return nil, invalidParams("no alert sinks are configured (notify.* settings)")
	}
	if p.Sink == "" {
		return nil, invalidParams("sink is required; one of %v", s.opts.Alerts.SinkNames())
	}
	if err := s.opts.Alerts.SendTest(ctx, p.Sink); err != nil {
		return nil, err
	}
	return map[string]any{"sent": true, "sink": p.Sink}, nil
}

type testEmailParams struct {
	To string `json:"to"`
}

// rpcNotifyTestEmail sends a test email (to the given address, or the admins).
func (s *Server) rpcNotifyTestEmail(ctx context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[testEmailParams](raw)
	if err != nil {
		return nil, err
	}
	if s.opts.Mailer == nil {
		return nil, invalidParams("email is not configured (smtp settings)")
	}
	var to []string
	if p.To != "" {
		to = []string{p.To}
	}
	if t, ok := s.opts.Mailer.(interface {
		SendTest(ctx context.Context, to []string) error
	}); ok {
		if err := t.SendTest(ctx, to); err != nil {
			return nil, err
		}
		return map[string]any{"sent": true}, nil
	}
	if len(to) == 0 {
		return nil, invalidParams("to is required")
	}
	if err := s.opts.Mailer.SendMail(ctx, to, "jfguard test email", "This is a test email from jfguard.", "<p>This is a test email from jfguard.</p>"); err != nil {
		return nil, err
	}
	return map[string]any{"sent": true}, nil
}

// rpcNotifyStatus lists the sinks and the alerts given up after their retries.
func (s *Server) rpcNotifyStatus(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	if s.opts.Alerts == nil {
		return map[string]any{"sinks": []string{}, "failures": []any{}}, nil
	}
	return map[string]any{"sinks": s.opts.Alerts.SinkNames(), "failures": s.opts.Alerts.FailureList()}, nil
}
