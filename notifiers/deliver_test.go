package notifiers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// waitSettled waits until the sink's consumer has nothing left to deliver and nothing
// awaiting an acknowledgement: after that no further request can arrive.
func waitSettled(t *testing.T, st *store.Store, sink string) {
	t.Helper()
	ctx := context.Background()
	stream, err := st.JetStream().Stream(ctx, store.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "consumer of "+sink+" to settle", 10*time.Second, func() bool {
		c, err := stream.Consumer(ctx, ConsumerPrefix+sink)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// idOf is the event id a request carried, whatever the sink's format.
func idOf(r request) string { return r.Header.Get(HeaderEventID) }

// TestSinksReceiveTheirFilter: Gotify, ntfy and a webhook, each in its own format,
// receive the alerts of their event filter and none of the others.
func TestSinksReceiveTheirFilter(t *testing.T) {
	t.Parallel()
	st := startStore(t, t.TempDir())
	gotifyRc := newReceiver(t, func(_ int, r request) int {
		if r.Header.Get("X-Gotify-Key") != "app-token" {
			return http.StatusUnauthorized
		}
		return http.StatusOK
	})
	ntfyRc := newReceiver(t, func(_ int, r request) int {
		if r.Header.Get("Authorization") != "Bearer tk_ntfy" {
			return http.StatusForbidden
		}
		return http.StatusOK
	})
	hookRc := newReceiver(t, nil)
	reg := prometheus.NewRegistry()
	n := startNotifiers(t, st, Options{
		Gotify:            GotifyConfig{URL: gotifyRc.URL + "/gotify/", Token: "app-token", Events: []string{"factor_failed", "lockout_started"}},
		Ntfy:              NtfyConfig{URL: ntfyRc.URL, Topic: "jfguard-alerts", Token: "tk_ntfy"},
		Webhooks:          []WebhookConfig{{Name: "siem", URL: hookRc.URL + "/in", Secret: "whsec", Events: []string{"lockout_started", "pairing_requested"}}},
		AllowPrivateHosts: []string{"127.0.0.1"},
		PublicURL:         "https://jf.example.com/",
		NameOf:            names(map[string]string{"u1": "alice"}),
		Registry:          reg,
	})
	if got := n.Sinks(); len(got) != 3 || got[0].Name != "gotify" || got[1].Name != "ntfy" || got[2].Name != "siem" || !slices.Equal(got[1].Events, sorted(DefaultEvents)) {
		t.Fatalf("sinks = %+v", got)
	}

	appendEvent(t, st, "u1", &events.UserDiscovered{Name: "alice"})
	appendEvent(t, st, "u1", &events.FactorFailed{Method: "totp", Reason: "wrong code"})
	lock := appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now().Add(time.Hour), Failures: 5})
	appendEvent(t, st, "u1", &events.FactorVerified{Method: "totp"})
	pair := appendEvent(t, st, "u1", &events.PairingRequested{PairingID: "p1", DeviceName: "Living room TV", Client: "Swiftfin", Version: "1.2"})

	for _, s := range []string{"gotify", "ntfy", "siem"} {
		waitSettled(t, st, s)
	}

	// Gotify: factor_failed and lockout_started, as Markdown JSON.
	g := gotifyRc.requests()
	if len(g) != 2 {
		t.Fatalf("gotify got %d requests, want 2", len(g))
	}
	for _, r := range g {
		var m struct {
			Title    string `json:"title"`
			Message  string `json:"message"`
			Priority int    `json:"priority"`
			Extras   map[string]map[string]any
		}
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		if r.Path != "/gotify/message" || m.Extras["client::display"]["contentType"] != "text/markdown" || !strings.Contains(m.Title, "alice") || !strings.Contains(m.Message, "203.0.113.7") {
			t.Errorf("gotify request %s: %s", r.Path, r.Body)
		}
		if strings.Contains(m.Title, "Locked out") && m.Priority != 9 {
			t.Errorf("gotify lockout priority = %d, want 9", m.Priority)
		}
	}

	// ntfy: the default set (factor_failed, lockout_started, pairing_requested) with headers.
	nt := ntfyRc.requests()
	if len(nt) != 3 {
		t.Fatalf("ntfy got %d requests, want 3", len(nt))
	}
	for _, r := range nt {
		if r.Path != "/jfguard-alerts" || r.Header.Get("Title") == "" || r.Header.Get("Priority") == "" {
			t.Errorf("ntfy request %s %v", r.Path, r.Header)
		}
	}
	if h := nt[1].Header; h.Get("Priority") != "5" || h.Get("Tags") != "warning,lock" || !strings.HasPrefix(h.Get("Title"), "Locked out: alice") {
		t.Errorf("ntfy lockout headers: %v", h)
	}
	if h := nt[2].Header; h.Get("Click") != "https://jf.example.com/jfguard/setup#pairings" || h.Get("Priority") != "4" {
		t.Errorf("ntfy pairing headers: %v", h)
	}
	if !strings.Contains(string(nt[0].Body), "wrong code") {
		t.Errorf("ntfy body: %s", nt[0].Body)
	}

	// Webhook: lockout_started and pairing_requested, signed, with the envelope.
	w := hookRc.requests()
	if len(w) != 2 || idOf(w[0]) != lock.ID || idOf(w[1]) != pair.ID {
		t.Fatalf("webhook got %d requests %v, want lockout then pairing", len(w), w)
	}
	for _, r := range w {
		if err := VerifyWebhookSignature("whsec", r.Header.Get(HeaderTimestamp), string(r.Body), r.Header.Get(HeaderSignature), time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		var body WebhookBody
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Event.ID != idOf(r) || string(body.Event.Type) != r.Header.Get(HeaderEventType) || body.Title == "" || body.Message == "" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook body: %s", r.Body)
		}
	}
	if counter(t, reg, "jfguard_notify_sent_total", "ntfy") != 3 {
		t.Errorf("sent counter of ntfy = %v, want 3", counter(t, reg, "jfguard_notify_sent_total", "ntfy"))
	}
}

func sorted[T ~string](s []T) []T {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestFlakyReceiverGetsAlertOnce: a receiver that fails three times and then accepts
// gets the alert exactly once, after backed-off retries, with the same event id.
func TestFlakyReceiverGetsAlertOnce(t *testing.T) {
	t.Parallel()
	st := startStore(t, t.TempDir())
	rc := newReceiver(t, func(n int, _ request) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	reg := prometheus.NewRegistry()
	startNotifiers(t, st, Options{
		Webhooks:          []WebhookConfig{{Name: "flaky", URL: rc.URL}},
		AllowPrivateHosts: []string{"127.0.0.1"},
		Registry:          reg,
		BackoffBase:       20 * time.Millisecond,
	})
	ev := appendEvent(t, st, "u1", &events.RecoveryCodeUsed{Index: 2})
	waitFor(t, "the fourth attempt", 10*time.Second, func() bool { return len(rc.requests()) >= 4 })
	waitSettled(t, st, "flaky")
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 3 refused and 1 accepted", len(reqs))
	}
	for _, r := range reqs {
		if idOf(r) != ev.ID {
			t.Fatalf("attempt with id %q, want %q", idOf(r), ev.ID)
		}
	}
	if s, r := counter(t, reg, "jfguard_notify_sent_total", "flaky"), counter(t, reg, "jfguard_notify_retried_total", "flaky"); s != 1 || r != 3 {
		t.Fatalf("sent %v retried %v, want 1 and 3", s, r)
	}
}

// TestRestartMidBacklogDeliversEachOnce: notifiers stopped in the middle of a backlog
// of 50 alerts and started again (a new instance, as after a restart) deliver every
// alert exactly once: nothing lost, nothing repeated, without the receiver deduplicating.
func TestRestartMidBacklogDeliversEachOnce(t *testing.T) {
	t.Parallel()
	st := startStore(t, t.TempDir())
	rc := newReceiver(t, func(int, request) int {
		time.Sleep(10 * time.Millisecond)
		return http.StatusOK
	})
	opts := Options{
		Webhooks:          []WebhookConfig{{Name: "backlog", URL: rc.URL}},
		AllowPrivateHosts: []string{"127.0.0.1"},
	}
	want := map[string]bool{}
	for i := 0; i < 50; i++ {
		want[appendEvent(t, st, "u1", &events.FactorFailed{Method: "totp", Reason: "wrong code"}).ID] = true
	}

	first, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deliveries", 10*time.Second, func() bool { return len(rc.requests()) >= 10 })
	first.Stop()
	before := len(rc.requests())
	if before >= 50 {
		t.Fatalf("all %d alerts went out before the stop: the test did not stop mid-backlog", before)
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(rc.requests()); got != before {
		t.Fatalf("%d requests after Stop returned", got-before)
	}

	startNotifiers(t, st, opts)
	waitFor(t, "the rest of the backlog", 15*time.Second, func() bool { return len(rc.requests()) >= 50 })
	waitSettled(t, st, "backlog")
	seen := map[string]int{}
	for _, r := range rc.requests() {
		seen[idOf(r)]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct ids delivered, want %d", len(seen), len(want))
	}
	t.Logf("%d delivered before the stop, %d after the restart", before, 50-before)
}

// TestRetryBudgetRecordsFailure: an alert that fails every attempt is given up after
// the budget, recorded as notification_failed (which other sinks alert on, but not
// the sink that failed) and listed for the admin page.
func TestRetryBudgetRecordsFailure(t *testing.T) {
	t.Parallel()
	st := startStore(t, t.TempDir())
	broken := newReceiver(t, func(int, request) int { return http.StatusInternalServerError })
	ok := newReceiver(t, nil)
	var mu sync.Mutex
	var recorded []*events.NotificationFailed
	record := func(ctx context.Context, p events.Payload) error {
		nf, isNF := p.(*events.NotificationFailed)
		if !isNF {
			return errors.New("unexpected payload")
		}
		mu.Lock()
		recorded = append(recorded, nf)
		mu.Unlock()
		ev, err := events.New("notifiers", time.Now(), events.Context{Actor: "jfguard"}, p)
		if err != nil {
			return err
		}
		_, err = st.Append(ctx, store.AnySeq, ev)
		return err
	}
	reg := prometheus.NewRegistry()
	n := startNotifiers(t, st, Options{
		Webhooks: []WebhookConfig{
			{Name: "broken", URL: broken.URL},
			{Name: "ok", URL: ok.URL},
		},
		AllowPrivateHosts: []string{"127.0.0.1"},
		Record:            record,
		Registry:          reg,
		MaxAttempts:       3,
		BackoffBase:       10 * time.Millisecond,
	})
	ev := appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now().Add(time.Hour), Failures: 5})

	waitFor(t, "the failure record", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(recorded) > 0
	})
	waitFor(t, "the failure alert on the other sink", 10*time.Second, func() bool { return len(ok.requests()) >= 2 })
	waitSettled(t, st, "broken")
	waitSettled(t, st, "ok")

	mu.Lock()
	got := recorded
	mu.Unlock()
	if len(got) != 1 || got[0].Sink != "broken" || got[0].EventID != ev.ID || got[0].Attempts != 3 || !strings.Contains(got[0].Error, "500") || strings.Contains(got[0].Error, broken.URL) {
		t.Fatalf("recorded %+v", got)
	}
	if reqs := broken.requests(); len(reqs) != 3 {
		t.Fatalf("the broken sink got %d requests, want 3 (no alert about its own failure)", len(reqs))
	}
	okReqs := ok.requests()
	if len(okReqs) != 2 || okReqs[1].Header.Get(HeaderEventType) != "notification_failed" || !strings.Contains(string(okReqs[1].Body), "Alert not delivered: broken") {
		t.Fatalf("the healthy sink got %d requests: %v", len(okReqs), okReqs)
	}
	f := n.Failures()
	if len(f) != 1 || f[0].Sink != "broken" || f[0].EventID != ev.ID || f[0].EventType != "lockout_started" {
		t.Fatalf("Failures() = %+v", f)
	}
	if c := counter(t, reg, "jfguard_notify_failed_total", "broken"); c != 1 {
		t.Fatalf("failed counter = %v", c)
	}
}

// TestMaxAgeGivesUpOnOldAlerts: an alert whose event is older than MaxAge is given up
// at its first failure instead of using the whole retry budget.
func TestMaxAgeGivesUpOnOldAlerts(t *testing.T) {
	t.Parallel()
	st := startStore(t, t.TempDir())
	broken := newReceiver(t, func(int, request) int { return http.StatusBadGateway })
	n := startNotifiers(t, st, Options{
		Webhooks:          []WebhookConfig{{Name: "old", URL: broken.URL}},
		AllowPrivateHosts: []string{"127.0.0.1"},
		MaxAge:            time.Nanosecond,
		BackoffBase:       10 * time.Millisecond,
	})
	ev := appendEvent(t, st, "u1", &events.UserReset{Reason: "lost phone"})
	waitFor(t, "the alert to be given up", 10*time.Second, func() bool { return len(n.Failures()) == 1 })
	waitSettled(t, st, "old")
	if f := n.Failures()[0]; f.EventID != ev.ID || f.Attempts != 1 || len(broken.requests()) != 1 {
		t.Fatalf("failure %+v after %d requests, want one attempt", f, len(broken.requests()))
	}
}

// TestConsumerFollowsSettings: a sink's durable consumer starts at the catch-up
// window (older events do not alert a newly added sink), filters on its event types,
// and follows a changed filter after a restart without replaying what it delivered.
func TestConsumerFollowsSettings(t *testing.T) {
	t.Parallel()
	st := startStore(t, t.TempDir())
	rc := newReceiver(t, nil)
	old := appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now(), Failures: 5})
	time.Sleep(30 * time.Millisecond)
	opts := Options{
		Webhooks:          []WebhookConfig{{Name: "ops", URL: rc.URL, Events: []string{"lockout_started"}}},
		AllowPrivateHosts: []string{"127.0.0.1"},
		CatchUp:           20 * time.Millisecond,
	}
	first := startNotifiers(t, st, opts)
	lock := appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now(), Failures: 6})
	waitFor(t, "the new lockout", 10*time.Second, func() bool { return len(rc.requests()) >= 1 })
	waitSettled(t, st, "ops")
	first.Stop()
	if r := rc.requests(); len(r) != 1 || idOf(r[0]) != lock.ID {
		t.Fatalf("requests %v: want only the lockout after the catch-up window, not %s", r, old.ID)
	}

	opts.Webhooks[0].Events = []string{"pairing_requested"}
	startNotifiers(t, st, opts)
	ctx := context.Background()
	stream, _ := st.JetStream().Stream(ctx, store.StreamName)
	c, err := stream.Consumer(ctx, "jfguard-notify-ops")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	if !slices.Equal(cfg.FilterSubjects, []string{"jfguard.events.*.*.pairing_requested"}) || cfg.AckPolicy != jetstream.AckExplicitPolicy {
		t.Fatalf("consumer config: filters %v ack %v", cfg.FilterSubjects, cfg.AckPolicy)
	}
	appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now(), Failures: 7})
	pair := appendEvent(t, st, "u1", &events.PairingRequested{PairingID: "p"})
	waitFor(t, "the pairing", 10*time.Second, func() bool { return len(rc.requests()) >= 2 })
	waitSettled(t, st, "ops")
	if r := rc.requests(); len(r) != 2 || idOf(r[1]) != pair.ID {
		t.Fatalf("after the filter change: %d requests", len(r))
	}
}

// TestSendTestReachesEachSink: the admin's "send test alert" goes through one sink at
// once, in that sink's format and authentication.
func TestSendTestReachesEachSink(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	n, err := New(Options{
		Gotify:            GotifyConfig{URL: rc.URL, Token: "gt"},
		Ntfy:              NtfyConfig{URL: rc.URL, Topic: "t1", Username: "u", Password: "p", Priority: 2},
		Webhooks:          []WebhookConfig{{URL: rc.URL + "/hook", Secret: "s"}},
		AllowPrivateHosts: []string{"127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sinks := n.Sinks()
	for _, s := range sinks {
		if err := n.SendTest(ctx, s.Name); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if reqs[0].Path != "/message" || reqs[0].Header.Get("X-Gotify-Key") != "gt" || !strings.Contains(string(reqs[0].Body), "jfguard test alert") {
		t.Errorf("gotify test: %s %v %s", reqs[0].Path, reqs[0].Header, reqs[0].Body)
	}
	if u, p, ok := (&http.Request{Header: reqs[1].Header}).BasicAuth(); reqs[1].Path != "/t1" || !ok || u != "u" || p != "p" || reqs[1].Header.Get("Priority") != "2" {
		t.Errorf("ntfy test: %s %v", reqs[1].Path, reqs[1].Header)
	}
	if !strings.HasPrefix(sinks[2].Name, "webhook-") || reqs[2].Header.Get(HeaderEventType) != "test_alert" ||
		VerifyWebhookSignature("s", reqs[2].Header.Get(HeaderTimestamp), string(reqs[2].Body), reqs[2].Header.Get(HeaderSignature), time.Now(), time.Minute) != nil {
		t.Errorf("webhook test: %s %v", sinks[2].Name, reqs[2].Header)
	}
	if err := n.SendTest(ctx, "pager"); !errors.Is(err, ErrUnknownSink) {
		t.Errorf("unknown sink: %v", err)
	}
}

// TestNewRejectsBadSettings: invalid settings stop startup with the key named, and
// never echo a secret.
func TestNewRejectsBadSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts Options
		key  string
	}{
		{"gotify scheme", Options{Gotify: GotifyConfig{URL: "file:///etc/passwd", Token: "x"}}, "notify.gotify.url"},
		{"gotify token", Options{Gotify: GotifyConfig{URL: "https://gotify.example.com"}}, "notify.gotify.token_file"},
		{"ntfy topic", Options{Ntfy: NtfyConfig{Topic: "a/b"}}, "notify.ntfy.topic"},
		{"ntfy priority", Options{Ntfy: NtfyConfig{Topic: "a", Priority: 9}}, "notify.ntfy.priority"},
		{"webhook scheme", Options{Webhooks: []WebhookConfig{{URL: "gopher://h/SECRETPATH"}}}, "notify.webhooks[0].url"},
		{"webhook credentials", Options{Webhooks: []WebhookConfig{{URL: "https://user:SECRETPASS@h/"}}}, "notify.webhooks[0].url"},
		{"webhook events", Options{Webhooks: []WebhookConfig{{URL: "https://h/", Events: []string{"user_updated"}}}}, "notify.webhooks[0].events"},
		{"webhook names", Options{Webhooks: []WebhookConfig{{Name: "a", URL: "https://h/1"}, {Name: "a", URL: "https://h/2"}}}, "notify.webhooks[1].name"},
		{"smtp tls", Options{SMTP: SMTPConfig{Host: "mail.example.com", TLS: "ssl", From: "a@example.com"}}, "smtp.tls"},
		{"smtp clear text", Options{SMTP: SMTPConfig{Host: "mail.example.com", TLS: "none", From: "a@example.com"}}, "smtp.tls"},
		{"smtp from", Options{SMTP: SMTPConfig{Host: "mail.example.com", From: "not an address"}}, "smtp.from"},
		{"public url", Options{PublicURL: "javascript:alert(1)"}, "public_url"},
	}
	for _, c := range cases {
		_, err := New(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: err = %v, want it to name %s", c.name, err, c.key)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error echoes a secret: %v", c.name, err)
		}
	}
	n, err := New(Options{Webhooks: []WebhookConfig{{URL: ""}}, Ntfy: NtfyConfig{URL: "https://ntfy.sh"}})
	if err != nil || len(n.Sinks()) != 0 || n.Mailer() != nil {
		t.Fatalf("empty settings: %v, %d sinks", err, len(n.Sinks()))
	}
}
