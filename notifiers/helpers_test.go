package notifiers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/prometheus/client_golang/prometheus"
)

// startStore runs an embedded JetStream with file storage in dir.
func startStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	conn, err := broker.Start(broker.Options{StoreDir: dir, Sync: broker.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	st, err := store.Open(context.Background(), conn.NC, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var devTV = &events.Device{ID: "dev-1", Name: "Living room TV", Client: "Jellyfin Android TV", Version: "0.18.1"}

// appendEvent stores one event on aggregate id and returns it.
func appendEvent(t *testing.T, st *store.Store, id string, p events.Payload) events.Event {
	t.Helper()
	ev, err := events.New(id, time.Now(), events.Context{Actor: id, IP: "203.0.113.7", Device: devTV}, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), store.AnySeq, ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// request is one request a test receiver got.
type request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiver records requests and answers them with the status respond returns (200
// when respond is nil).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(n int, r request) int
}

func newReceiver(t *testing.T, respond func(n int, r request) int) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, req)
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.respond != nil {
			status = rc.respond(n, req)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// waitFor polls cond every few milliseconds until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startNotifiers builds and starts notifiers on st; they stop when the test ends.
func startNotifiers(t *testing.T, st *store.Store, opts Options) *Notifiers {
	t.Helper()
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// counter reads one sink's value of a counter from a registry.
func counter(t *testing.T, reg *prometheus.Registry, name, sink string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sink {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func names(m map[string]string) func(string) string {
	return func(id string) string { return m[id] }
}

func hasAll(s string, subs ...string) (string, bool) {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return sub, false
		}
	}
	return "", true
}
