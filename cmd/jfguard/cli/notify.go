package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/notifiers"
	"github.com/jfguard/jfguard/projections"
	"github.com/prometheus/client_golang/prometheus"
)

// newNotifiers builds the alert sinks from the settings. The notifiers only read the
// stream; names and addresses come from the projections, failures are recorded as
// events.
func (m *Main) newNotifiers(reg *prometheus.Registry) (*notifiers.Notifiers, error) {
	r := m.Settings
	opts := notifiers.Options{
		Gotify: notifiers.GotifyConfig{URL: r.Notify.Gotify.URL, Token: r.GotifyToken, Events: r.Notify.Events},
		Ntfy:   notifiers.NtfyConfig{URL: r.Notify.Ntfy.URL, Topic: r.Notify.Ntfy.Topic, Token: r.NtfyToken, Events: r.Notify.Events},
		SMTP: notifiers.SMTPConfig{
			Host: r.SMTP.Host, Port: r.SMTP.Port, TLS: r.SMTP.TLS, Username: r.SMTP.Username,
			Password: r.SMTPPassword, From: r.SMTP.From, Admins: r.SMTP.Admins, Events: r.Notify.Events,
		},
		AllowPrivateHosts: r.Notify.AllowPrivateHosts,
		NameOf: func(uid string) string {
			name := ""
			m.proj.Read(func(st *projections.State) {
				if u := st.Users[uid]; u != nil {
					name = u.Name
				}
			})
			return name
		},
		AddressOf: func(ctx context.Context, uid string) (string, bool) {
			var sealed events.Sealed
			m.proj.Read(func(st *projections.State) {
				if u := st.Users[uid]; u != nil && u.Email != nil && u.Email.Confirmed {
					sealed = u.Email.Address
				}
			})
			if sealed == "" {
				return "", false
			}
			b, err := m.sealer.Open(ctx, uid, sealed)
			return string(b), err == nil
		},
		Record: func(ctx context.Context, p events.Payload) error {
			f, ok := p.(*events.NotificationFailed)
			if !ok {
				return fmt.Errorf("the notifiers record notification_failed only, not %s", p.EventType())
			}
			return m.app.RecordNotificationFailed(ctx, f)
		},
		Logger:   m.Logger,
		Registry: reg,
	}
	if r.PublicURL != nil {
		opts.PublicURL = r.PublicURL.String()
	}
	if m.NotifyBackoff > 0 {
		opts.BackoffBase, opts.BackoffMax = m.NotifyBackoff, 8*m.NotifyBackoff
	}
	for i, w := range r.Notify.Webhooks {
		events := w.Events
		if len(events) == 0 {
			events = r.Notify.Events
		}
		opts.Webhooks = append(opts.Webhooks, notifiers.WebhookConfig{URL: w.URL, Secret: r.WebhookSecrets[i], Events: events})
	}
	return notifiers.New(opts)
}

// alerts adapts the notifiers to what the control API needs.
type alerts struct{ n *notifiers.Notifiers }

func (a alerts) SendTest(ctx context.Context, sink string) error { return a.n.SendTest(ctx, sink) }

func (a alerts) SinkNames() []string {
	out := []string{}
	for _, s := range a.n.Sinks() {
		out = append(out, s.Name)
	}
	return out
}

func (a alerts) FailureList() []map[string]any {
	out := []map[string]any{}
	for _, f := range a.n.Failures() {
		out = append(out, map[string]any{"sink": f.Sink, "event_id": f.EventID, "event_type": f.EventType,
			"attempts": f.Attempts, "error": f.Error, "time": f.Time.UTC().Format(time.RFC3339)})
	}
	return out
}

var _ gateway.Alerts = alerts{}
