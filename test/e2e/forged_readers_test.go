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
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go"
)

// TestReadersSeeWhatTheFoldRefused: events appended around jfguard — one without a
// MAC, one with a wrong MAC (another event's), and a copy of an authentic event —
// change nothing and are each named by a forged_event_detected; the server-sent
// events feed and audit.query still show them, marked "authentic": false with the
// reason, and every event jfguard wrote "authentic": true. The feed finds the
// replay even when it starts at the copy, after the original.
func TestReadersSeeWhatTheFoldRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.signedIn(t, "bob", bobPassword, "bob-phone")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := g.main.Store().JetStream()
	var authentic store.RawMsg
	if _, err := g.main.Store().ScanRaw(ctx, 1, func(m store.RawMsg) error {
		if m.MAC != "" {
			authentic = m
		}
		return nil
	}); err != nil || authentic.MAC == "" {
		t.Fatalf("no authentic event: %v", err)
	}
	publish := func(subject string, data []byte, mac string) uint64 {
		m := nats.NewMsg(subject)
		m.Data = data
		if mac != "" {
			m.Header.Set(events.MACHeader, mac)
		}
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	forgery := func() events.Event {
		return events.Must("settings", g.clock.Now(), events.Context{Actor: "admin"},
			&events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	}
	ev := forgery()
	data, _ := json.Marshal(ev)
	missing := publish(ev.PublishSubject(), data, "")
	ev = forgery()
	data, _ = json.Marshal(ev)
	wrong := publish(ev.PublishSubject(), data, authentic.MAC)
	replayed := publish(authentic.Subject, authentic.Data, authentic.MAC)
	refused := map[uint64]string{missing: "missing", wrong: "invalid", replayed: "replayed"}
	eventually(t, "the three are recorded", func() bool { return len(g.eventsOf(t, "forged_event_detected")) == 3 })

	// Nothing changed, and each is reported with its reason.
	if res, _ := g.rpc(t, "settings.get", nil); !strings.Contains(string(res), `"security.enabled":"true"`) {
		t.Errorf("settings after the forgeries: %s", res)
	}
	for _, d := range payloads[*events.ForgedEventDetected](t, g, "forged_event_detected") {
		if refused[d.Seq] != d.Reason {
			t.Errorf("detection %+v, want reason %q", d, refused[d.Seq])
		}
	}
	last, err := g.main.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}

	type view struct {
		Seq       uint64 `json:"seq"`
		Authentic *bool  `json:"authentic"`
		Refused   string `json:"refused"`
	}
	checkViews := func(who string, views []view) {
		t.Helper()
		for _, v := range views {
			want := refused[v.Seq]
			if v.Authentic == nil || *v.Authentic != (want == "") || v.Refused != want {
				t.Errorf("%s: event %d authentic %v refused %q, want refused %q", who, v.Seq, v.Authentic, v.Refused, want)
			}
		}
	}
	feed := func(from uint64) []view {
		fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
		defer fcancel()
		req := g.newRequest(t, http.MethodGet, fmt.Sprintf("/jfguard/api/events?from=%d", from), nil).WithContext(fctx)
		req.Header.Set("Authorization", "Bearer "+g.main.AuditorToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []view
		for _, e := range readSSE(t, resp.Body, int(last-from+1)) {
			var v view
			if err := json.Unmarshal([]byte(e.data), &v); err != nil {
				t.Fatalf("feed data %s: %v", e.data, err)
			}
			out = append(out, v)
		}
		return out
	}
	checkViews("the feed from 1", feed(1))
	if views := feed(replayed); len(views) == 0 || views[0].Seq != replayed || views[0].Refused != "replayed" {
		t.Errorf("the feed from the copy: %+v", views)
	}

	raw, rerr := g.rpc(t, "audit.query", map[string]any{"limit": 10000})
	var views []view
	if rerr != nil || json.Unmarshal(raw, &views) != nil || uint64(len(views)) != last {
		t.Fatalf("audit.query: %d events, %+v", len(views), rerr)
	}
	checkViews("audit.query", views)
}
