package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// TestAuditorTokenReadsAndChangesNothing: the auditor token (generated per install
// in data_dir/auditor.token) reads the event feed and every read-only control API
// method, and every method that changes state refuses it with 403 and -32003 before
// doing anything.
func TestAuditorTokenReadsAndChangesNothing(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.signedIn(t, "bob", bobPassword, "bob-phone")
	tok := g.main.AuditorToken()
	path := filepath.Join(g.settings["data_dir"], "auditor.token")
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != tok || len(tok) != 64 || tok == g.main.AdminToken() {
		t.Fatalf("auditor token %q, file %q (%v), admin token %q", tok, b, err, g.main.AdminToken())
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v", path, st.Mode().Perm())
	}

	call := func(method string, params any, token string) (int, *rpcError, json.RawMessage) {
		res := g.do(t, http.MethodPost, "/jfguard/rpc", map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
			"Authorization", "Bearer "+token)
		var out struct {
			Result json.RawMessage `json:"result"`
			Error  *rpcError       `json:"error"`
		}
		res.json(t, &out)
		return res.status, out.Error, out.Result
	}
	lastSeq := func() uint64 {
		seq, err := g.main.Store().LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	readOnly := g.main.Gateway().ReadOnlyRPCMethods()
	for _, m := range []string{"audit.query", "audit.verify", "audit.public_key", "replay.at", "system.status", "subscribers.list"} {
		if !slices.Contains(readOnly, m) {
			t.Errorf("%s is not read-only", m)
		}
	}
	params := map[string]any{
		"replay.at": map[string]string{"at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
		"users.get": map[string]string{"user": "bob"},
	}
	before := lastSeq()
	for _, m := range g.main.Gateway().RPCMethods() {
		status, rerr, result := call(m, params[m], tok)
		if slices.Contains(readOnly, m) {
			if status != http.StatusOK || rerr != nil {
				t.Errorf("%s with the auditor token: status %d, error %+v", m, status, rerr)
			}
			continue
		}
		if status != http.StatusForbidden || rerr == nil || rerr.Code != -32003 || !strings.Contains(rerr.Message, m) || result != nil {
			t.Errorf("%s with the auditor token: status %d, error %+v, result %s; want 403 and -32003", m, status, rerr, result)
		}
	}
	if after := lastSeq(); after != before {
		t.Errorf("calls with the auditor token appended %d events", after-before)
	}
	// A batch refuses each state change on its own.
	res := g.do(t, http.MethodPost, "/jfguard/rpc", []map[string]any{
		{"jsonrpc": "2.0", "id": 1, "method": "system.status"},
		{"jsonrpc": "2.0", "id": 2, "method": "settings.set", "params": map[string]string{"key": "security.enabled", "value": "false"}},
	}, "Authorization", "Bearer "+tok)
	var batch []struct {
		Error *rpcError `json:"error"`
	}
	res.json(t, &batch)
	if len(batch) != 2 || batch[0].Error != nil || batch[1].Error == nil || batch[1].Error.Code != -32003 {
		t.Errorf("batch with the auditor token: %s", res.body)
	}
	if settings, _ := g.rpc(t, "settings.get", nil); !strings.Contains(string(settings), `"security.enabled":"true"`) {
		t.Errorf("settings after the auditor's attempts: %s", settings)
	}

	// The feed reads with the auditor token, and with nothing else but admins.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := g.newRequest(t, http.MethodGet, "/jfguard/api/events?from=1", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("feed with the auditor token: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if evs := readSSE(t, resp.Body, 1); evs[0].id != 1 {
		t.Errorf("the feed from 1 began at %d", evs[0].id)
	}
	resp.Body.Close()
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + tok + "x"} {
		if res := g.do(t, http.MethodGet, "/jfguard/api/events", nil, "Authorization", auth); res.status != http.StatusForbidden {
			t.Errorf("feed with %q: status %d", auth, res.status)
		}
	}
	if res := g.do(t, http.MethodGet, "/jfguard/api/admin/event-types", nil, "Authorization", "Bearer "+tok); res.status != http.StatusForbidden {
		t.Errorf("the admin page's data with the auditor token: status %d", res.status)
	}
}

// TestEventFeedResumesExactly: a client that reconnects with Last-Event-ID gets
// exactly the events after it, none lost and none twice, even when it repeats the
// ?from of its first URL (as EventSource does), and with a type filter.
func TestEventFeedResumesExactly(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	tok := g.main.AuditorToken()
	for i := range 3 {
		g.signedIn(t, "bob", bobPassword, fmt.Sprintf("bob-%d", i))
	}
	open := func(query, lastEventID string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req := g.newRequest(t, http.MethodGet, "/jfguard/api/events"+query, nil).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+tok)
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("feed %s (Last-Event-ID %q): status %d", query, lastEventID, resp.StatusCode)
		}
		return resp, func() { cancel(); resp.Body.Close() }
	}
	stream := func(typ events.Type) []uint64 {
		var out []uint64
		if _, err := g.main.Store().Scan(context.Background(), 1, func(ev events.Event) error {
			if typ == "" || ev.Type == typ {
				out = append(out, ev.Seq)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ids := func(evs []sseEvent) []uint64 {
		out := make([]uint64, len(evs))
		for i, e := range evs {
			out[i] = e.id
		}
		return out
	}

	resp, stop := open("?from=1", "")
	first := readSSE(t, resp.Body, 3)
	stop()
	if !slices.Equal(ids(first), []uint64{1, 2, 3}) {
		t.Fatalf("first connection: %v", ids(first))
	}
	// Events happen while the client is away.
	for i := range 2 {
		g.signedIn(t, "bob", bobPassword, fmt.Sprintf("bob-away-%d", i))
	}
	want := stream("")[3:]
	resp, stop = open("?from=1", "3")
	got := readSSE(t, resp.Body, len(want))
	// And live ones after that, on the same connection.
	g.signedIn(t, "bob", bobPassword, "bob-live")
	all := stream("")
	got = append(got, readSSE(t, resp.Body, len(all)-3-len(want))...)
	stop()
	if !slices.Equal(ids(got), all[3:]) {
		t.Fatalf("after Last-Event-ID 3: %v, want %v", ids(got), all[3:])
	}

	// With a type filter, the id is still the stream sequence.
	verified := stream("session_verified")
	resp, stop = open("?type=session_verified", fmt.Sprint(verified[1]))
	got = readSSE(t, resp.Body, len(verified)-2)
	stop()
	if !slices.Equal(ids(got), verified[2:]) {
		t.Fatalf("filtered resume: %v, want %v", ids(got), verified[2:])
	}
	for _, e := range got {
		if e.typ != "session_verified" {
			t.Errorf("filtered feed sent %s", e.typ)
		}
	}

	res := g.do(t, http.MethodGet, "/jfguard/api/events", nil, "Authorization", "Bearer "+tok, "Last-Event-ID", "yesterday")
	if res.status != http.StatusBadRequest {
		t.Errorf("Last-Event-ID that is no sequence: status %d", res.status)
	}
}
