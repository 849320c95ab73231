package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/notifiers"
	"github.com/jfguard/jfguard/projections"
)

// subscriberPolicy is what subscribers of the embedded server may read: the event
// stream and its subjects, never the consumers of jfguard's alert sinks. Those of
// the built-in sinks are reserved even when the sink is off, so a subscriber cannot
// create one before an administrator turns the sink on.
func (m *Main) subscriberPolicy() broker.SubscriberPolicy {
	names := map[string]bool{"email": true, "ntfy": true, "gotify": true}
	if m.notifiers != nil {
		for _, s := range m.notifiers.Sinks() {
			names[s.Name] = true
		}
	}
	reserved := make([]string, 0, len(names))
	for n := range names {
		reserved = append(reserved, notifiers.ConsumerPrefix+n)
	}
	return broker.SubscriberPolicy{Stream: store.StreamName, Subjects: events.SubjectPrefix + ".>", Reserved: reserved}
}

// startBusAuth gives the embedded NATS server the subscribers of the projection, and
// again whenever one is added or removed (here, on another node of the stream, or
// offline before this start). Nothing to do on an external server: its users are
// configured there.
func (m *Main) startBusAuth() error {
	if m.conn.Server == nil {
		return nil
	}
	policy := m.subscriberPolicy()
	apply := func() error {
		var subs []broker.Subscriber
		m.proj.Read(func(st *projections.State) {
			for _, s := range projections.SortedSubscribers(st.Subscribers) {
				subs = append(subs, broker.Subscriber{Name: s.Name, PublicKey: s.PublicKey})
			}
		})
		return m.conn.SetSubscribers(policy, subs)
	}
	// Listen before the first apply: a change folded in between is applied again.
	// The listener applies on the fold's goroutine, before the writer of the change
	// stops waiting for it: `subscribers add` returns once the credential works, and
	// `subscribers remove` once it no longer does.
	var mu sync.Mutex
	applyLogged := func() {
		mu.Lock()
		defer mu.Unlock()
		if err := apply(); err != nil {
			m.Logger.Warn("NATS subscribers", "err", err)
		}
	}
	m.proj.OnEvent(func(ev events.Event) {
		if ev.Type == events.TypeSubscriberAdded || ev.Type == events.TypeSubscriberRemoved {
			applyLogged()
		}
	})
	applyLogged()
	return nil
}

// readOrCreateToken returns the token in path, creating it (random, hex so it never
// reads as a flag) on first use.
func readOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return readOrCreateToken(path)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return "", err
	}
	return tok, nil
}

// auditorToken returns the token that reads the event feed and the read-only
// control API: from settings, else data_dir/auditor.token (created on first start).
func (m *Main) auditorToken() (string, error) {
	if m.Settings.AuditorToken != "" {
		return m.Settings.AuditorToken, nil
	}
	return readOrCreateToken(filepath.Join(m.Settings.DataDir, "auditor.token"))
}

// AuditorToken is the auditor token in use.
func (m *Main) AuditorToken() string {
	t, _ := m.auditorToken()
	return t
}

// NATSURL is where subscribers reach the embedded NATS server (nats.listen), or "".
func (m *Main) NATSURL() string {
	if m.conn == nil {
		return ""
	}
	return m.conn.ClientURL()
}
