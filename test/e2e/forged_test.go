package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go"
)

// TestForgedEventsChangeNoDecision: someone with write access to the NATS server
// (here, a plain connection publishing straight into the stream) appends the events
// that would let a stolen password in: security.enabled=false, and a verified session
// for a token of their own. Neither carries jfguard's MAC, so the fold applies
// neither: alice is still asked for her second factor. Each forged event is named
// once by a forged_event_detected, raises an alert, shows on the admin status, and
// audit verify names its sequence and fails.
func TestForgedEventsChangeNoDecision(t *testing.T) {
	t.Parallel()
	h := startHook(t, nil)
	g := startGateway(t, options{
		settings:      map[string]string{"notify.allow_private_hosts": "127.0.0.1"},
		configFile:    writeSettings(t, fmt.Sprintf("notify:\n  webhooks:\n    - url: %q\n      secret: %q\n", h.URL+"/jfguard", "whsec-forged")),
		notifyBackoff: 20 * time.Millisecond,
	})
	f := g.enrollAlice(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The attacker's token: a real Jellyfin session made around jfguard.
	req, _ := http.NewRequest(http.MethodPost, g.jfURL+"/Users/AuthenticateByName", jsonBody(t, map[string]string{"Username": "alice", "Pw": alicePassword}))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", clientHeader("attacker", ""))
	var stolen authResult
	send(t, req).json(t, &stolen)

	js := g.main.Store().JetStream()
	var forgedSeqs []uint64
	forge := func(aggID string, p events.Payload) {
		ev := events.Must(aggID, g.clock.Now(), events.Context{Actor: "admin"}, p)
		data, _ := json.Marshal(ev)
		m := nats.NewMsg(ev.PublishSubject())
		m.Data = data
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatalf("forge %s: %v", ev.Type, err)
		}
		forgedSeqs = append(forgedSeqs, ack.Sequence)
	}
	forge("settings", &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	forge(g.alice.ID, &events.SessionVerified{TokenHash: tokenHash(stolen.AccessToken), Reason: "challenge", Assurance: "aal2"})

	// A replay: an administrator turned jfguard off for a moment and on again; the
	// attacker appends a copy of the authentic "off" (its data and its MAC).
	if _, rerr := g.rpc(t, "settings.set", map[string]string{"key": "security.enabled", "value": "false"}); rerr != nil {
		t.Fatal(rerr)
	}
	if _, rerr := g.rpc(t, "settings.set", map[string]string{"key": "security.enabled", "value": "true"}); rerr != nil {
		t.Fatal(rerr)
	}
	var off store.RawMsg
	if _, err := g.main.Store().ScanRaw(ctx, 1, func(m store.RawMsg) error {
		if strings.HasSuffix(m.Subject, ".settings_changed") && strings.Contains(string(m.Data), `"new":"false"`) && m.MAC != "" {
			off = m
		}
		return nil
	}); err != nil || off.MAC == "" {
		t.Fatalf("no authentic settings_changed to replay: %v", err)
	}
	copyMsg := nats.NewMsg(off.Subject)
	copyMsg.Data = off.Data
	copyMsg.Header.Set(events.MACHeader, off.MAC)
	ack, err := js.PublishMsg(ctx, copyMsg)
	if err != nil {
		t.Fatal(err)
	}
	forgedSeqs = append(forgedSeqs, ack.Sequence)
	eventually(t, "the forgeries and the replay are recorded", func() bool { return len(g.eventsOf(t, "forged_event_detected")) == 3 })

	// No decision changed.
	g.challenged(t, "alice-after-forgery", "X-Jfguard-Client", "web")
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tokenHeader(stolen.AccessToken)); res.status != http.StatusUnauthorized || !res.fromGate() {
		t.Errorf("the token the forged event named: status %d, from the gate %v", res.status, res.fromGate())
	}
	if res, _ := g.rpc(t, "settings.get", nil); !strings.Contains(string(res), `"security.enabled":"true"`) {
		t.Errorf("settings after the forgery: %s", res)
	}

	detected := payloads[*events.ForgedEventDetected](t, g, "forged_event_detected")
	for i, d := range detected {
		want := "missing"
		if i == 2 {
			want = "replayed"
		}
		if d.Seq != forgedSeqs[i] || d.Reason != want {
			t.Errorf("detection %d: %+v, want sequence %d", i, d, forgedSeqs[i])
		}
	}
	raw, rerr := g.rpc(t, "system.status", nil)
	var status struct {
		Forged int `json:"forged_events"`
	}
	if rerr != nil || json.Unmarshal(raw, &status) != nil || status.Forged != 3 {
		t.Errorf("system.status: %s %+v", raw, rerr)
	}
	raw, rerr = g.rpc(t, "audit.verify", nil)
	var verified struct {
		OK     bool               `json:"ok"`
		Report audit.VerifyReport `json:"report"`
	}
	if rerr != nil || json.Unmarshal(raw, &verified) != nil || verified.OK {
		t.Fatalf("audit.verify: %s %+v", raw, rerr)
	}
	rep := verified.Report
	if rep.OK() || rep.FirstBad != forgedSeqs[0] || len(rep.Forged) != 3 || !strings.Contains(strings.Join(rep.Problems, "\n"), fmt.Sprintf("event %d", forgedSeqs[0])) {
		t.Errorf("audit.verify after the forgery: %+v", rep)
	}
	eventually(t, "the forgery alerts reach the webhook", func() bool { return len(h.requests("forged_event_detected")) == 3 })

	// A restart neither re-applies nor records them again.
	g.restartAfter(t, time.Minute)
	g.challenged(t, "alice-after-restart", "X-Jfguard-Client", "web")
	if n := len(g.eventsOf(t, "forged_event_detected")); n != 3 {
		t.Errorf("%d forged_event_detected after the restart, want 3", n)
	}
	_ = f
}
