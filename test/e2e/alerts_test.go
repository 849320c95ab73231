package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/notifiers"
)

// TestAlerts: the running program pushes alerts from its event stream to a webhook on
// the LAN (allowed by notify.allow_private_hosts) and to the admins by email through
// a real SMTP server in process. A television waiting for approval reaches the
// webhook signed with its secret and with the approve link on the public URL, exactly
// once although the receiver failed three times first; a lockout reaches the admins
// by email. The control API sends test alerts to the webhook and test email.
func TestAlerts(t *testing.T) {
	t.Parallel()
	const secret = "whsec-e2e-0b8f3c"
	mb := startMailbox(t)
	h := startHook(t, func(eventType string, earlier int) int {
		if eventType == "pairing_requested" && earlier < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	settings := mb.settings("admin@example.com")
	settings["public_url"] = "https://jellyfin.example.com"
	settings["notify.allow_private_hosts"] = "127.0.0.1"
	g := startGateway(t, options{
		settings: settings,
		// The webhook list needs the settings file; its secret is the plain twin.
		configFile:    writeSettings(t, fmt.Sprintf("notify:\n  webhooks:\n    - url: %q\n      secret: %q\n", h.URL+"/jfguard", secret)),
		notifyBackoff: 20 * time.Millisecond,
	})
	f := g.enrollAlice(t)

	tv := tvApp{androidID: "5e2f9c0a71b3d846", device: "SHIELD Android TV", version: "0.18.0"}
	g.tvChallenged(t, tv)
	eventually(t, "the pairing alert gets through", func() bool {
		reqs := h.requests("pairing_requested")
		return len(reqs) > 0 && reqs[len(reqs)-1].status == http.StatusOK
	})

	// Five wrong codes lock alice out; the admins hear of it by email.
	c := g.challenged(t, "alice-elsewhere", "X-Jfguard-Client", "web")
	for range 5 {
		g.verify(t, c.id, map[string]any{"method": "totp", "code": g.wrongCode(t, f.secret)})
	}
	lock := mb.waitMessage(t, "admin@example.com", "[jfguard] Locked out: alice")
	if !strings.Contains(lock.body, "locked until") {
		t.Errorf("the lockout email says %q", lock.body)
	}
	// The webhook hears of the lockout after the pairing: by then, any second
	// delivery of the pairing alert would have come.
	eventually(t, "the lockout alert reaches the webhook", func() bool { return len(h.requests("lockout_started")) > 0 })

	reqs := h.requests("pairing_requested")
	var statuses []int
	for _, r := range reqs {
		statuses = append(statuses, r.status)
		if id := r.header.Get(notifiers.HeaderEventID); id != reqs[0].header.Get(notifiers.HeaderEventID) || id == "" {
			t.Errorf("delivery with event id %q, want every retry to carry %q", id, reqs[0].header.Get(notifiers.HeaderEventID))
		}
	}
	if fmt.Sprint(statuses) != fmt.Sprint([]int{503, 503, 503, 200}) {
		t.Errorf("pairing alert deliveries answered %v, want three failures then one success", statuses)
	}
	ok := reqs[len(reqs)-1]
	if err := notifiers.VerifyWebhookSignature(secret, ok.header.Get(notifiers.HeaderTimestamp), string(ok.body), ok.header.Get(notifiers.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		t.Errorf("the pairing alert's signature: %v", err)
	}
	if err := notifiers.VerifyWebhookSignature("another secret", ok.header.Get(notifiers.HeaderTimestamp), string(ok.body), ok.header.Get(notifiers.HeaderSignature), time.Now(), 5*time.Minute); err == nil {
		t.Error("the signature also verifies with another secret")
	}
	var alert notifiers.WebhookBody
	if err := json.Unmarshal(ok.body, &alert); err != nil {
		t.Fatalf("pairing alert body %s: %v", ok.body, err)
	}
	if alert.Link != "https://jellyfin.example.com/jfguard/setup#pairings" || alert.Event.Type != "pairing_requested" ||
		!strings.Contains(alert.Message, tv.device) || !strings.Contains(alert.Title, "alice") {
		t.Errorf("pairing alert: title %q, link %q, message %q", alert.Title, alert.Link, alert.Message)
	}

	// Test alerts from the control API, outside the stream.
	raw, e := g.rpc(t, "notify.status", nil)
	if e != nil {
		t.Fatalf("notify.status: %+v", e)
	}
	var status struct {
		Sinks    []string          `json:"sinks"`
		Failures []json.RawMessage `json:"failures"`
	}
	if err := json.Unmarshal(raw, &status); err != nil {
		t.Fatalf("notify.status result %s: %v", raw, err)
	}
	if len(status.Failures) != 0 {
		t.Errorf("alerts given up: %s", raw)
	}
	var webhook string
	for _, s := range status.Sinks {
		if strings.HasPrefix(s, "webhook-") {
			webhook = s
		}
	}
	if webhook == "" {
		t.Fatalf("no webhook among the sinks %v", status.Sinks)
	}
	if _, e := g.rpc(t, "notify.test", map[string]string{"sink": webhook}); e != nil {
		t.Fatalf("notify.test: %+v", e)
	}
	test := h.requests("test_alert")
	if len(test) != 1 {
		t.Fatalf("%d test alerts at the webhook, want 1", len(test))
	}
	if err := notifiers.VerifyWebhookSignature(secret, test[0].header.Get(notifiers.HeaderTimestamp), string(test[0].body), test[0].header.Get(notifiers.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		t.Errorf("the test alert's signature: %v", err)
	}
	for _, to := range []string{"", "ops@example.com"} {
		params := map[string]string{}
		rcpt := "admin@example.com"
		if to != "" {
			params["to"], rcpt = to, to
		}
		if _, e := g.rpc(t, "notify.test_email", params); e != nil {
			t.Fatalf("notify.test_email to %q: %+v", to, e)
		}
		mb.waitMessage(t, rcpt, "[jfguard] jfguard test alert")
	}
}
