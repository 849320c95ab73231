package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/test/jellyfin"
)

// instance is a real jfguard with its NATS port open on loopback, in front of the
// stand-in Jellyfin, and one subscriber named siem.
type instance struct {
	main     *cli.Main
	seedFile string
	seed     string
}

func start(t *testing.T) *instance {
	t.Helper()
	jf := jellyfin.New(jellyfin.Options{})
	jf.AddUser("bob", "bob-pw", false)
	up := httptest.NewServer(jf)
	t.Cleanup(up.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	s, err := cli.LoadSettings("", false, nil, map[string]string{
		"listen": "127.0.0.1:0", "upstream": up.URL, "data_dir": t.TempDir(), "nats.listen": natsAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := cli.NewMain(r, nil)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"subscribers", "add", "siem", "--server", m.URL(), "--token", m.AdminToken()}, nil, &out, &errOut); code != 0 {
		t.Fatalf("subscribers add: %s", errOut.String())
	}
	seedFile := filepath.Join(t.TempDir(), "siem.nk")
	if err := os.WriteFile(seedFile, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &instance{main: m, seedFile: seedFile, seed: strings.TrimSpace(out.String())}
}

func (in *instance) signIn(t *testing.T, device string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.main.URL()+"/Users/AuthenticateByName", strings.NewReader(`{"Username":"bob","Pw":"bob-pw"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", `MediaBrowser Client="example", Device="test", DeviceId="`+device+`", Version="1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
}

// runExample runs the example's program and returns its exit code and output.
func runExample(t *testing.T, env map[string]string, args ...string) (int, []string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return code, strings.Split(strings.TrimSpace(out.String()), "\n"), errOut.String()
}

// types are the event types of the example's output lines.
func types(lines []string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 3 {
			out = append(out, f[2])
		}
	}
	return out
}

// TestExampleOrderedConsumer: the example reads from the first event with an
// ordered consumer (seed from a file), and follows events that happen while it runs.
func TestExampleOrderedConsumer(t *testing.T) {
	t.Parallel()
	in := start(t)
	code, lines, errOut := runExample(t, nil, "-url", in.main.NATSURL(), "-name", "siem", "-seed-file", in.seedFile, "-count", "2")
	if code != 0 || !strings.HasPrefix(lines[0], "1 ") || len(lines) != 2 {
		t.Fatalf("exit %d, output %q, stderr %s", code, lines, errOut)
	}
	have := len(types(lines))
	// Live: the program waits for the sign-in that happens while it runs.
	var wg sync.WaitGroup
	var live []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		// node_started and subscriber_added, then the two events of bob's first
		// sign-in (user_discovered, session_verified).
		_, live, _ = runExample(t, nil, "-url", in.main.NATSURL(), "-name", "siem", "-seed-file", in.seedFile, "-count", fmt.Sprint(have+2))
	}()
	in.signIn(t, "bob-1")
	wg.Wait()
	got := types(live)
	if len(got) != have+2 || got[len(got)-1] != "session_verified" {
		t.Fatalf("live events: %q", live)
	}
}

// TestExampleDurableConsumer: with -durable (seed from the environment) the example
// acknowledges what it printed and, run again, goes on after it.
func TestExampleDurableConsumer(t *testing.T) {
	t.Parallel()
	in := start(t)
	env := map[string]string{"JFGUARD_NKEY_SEED": in.seed}
	code, first, errOut := runExample(t, env, "-url", in.main.NATSURL(), "-name", "siem", "-durable", "-count", "2")
	if code != 0 || len(first) != 2 || !strings.HasPrefix(first[0], "1 ") || !strings.HasPrefix(first[1], "2 ") {
		t.Fatalf("first run: exit %d, %q, %s", code, first, errOut)
	}
	in.signIn(t, "bob-1")
	code, second, errOut := runExample(t, env, "-url", in.main.NATSURL(), "-name", "siem", "-durable", "-count", "2")
	if code != 0 || len(second) != 2 || !strings.HasPrefix(second[0], "3 ") || types(second)[0] != "user_discovered" {
		t.Fatalf("second run: exit %d, %q, %s", code, second, errOut)
	}
}

// TestExampleSkipsEventsWithoutMAC: a message written into the stream around
// jfguard (no Jfguard-Mac header) is not handled: the example reports it on stderr
// and goes on with the next event.
func TestExampleSkipsEventsWithoutMAC(t *testing.T) {
	t.Parallel()
	in := start(t)
	ctx := context.Background()
	st := in.main.Store()
	ev := events.Must("settings", time.Now(), events.Context{Actor: "admin"},
		&events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	data, _ := json.Marshal(ev)
	ack, err := st.JetStream().Publish(ctx, ev.PublishSubject(), data)
	if err != nil {
		t.Fatal(err)
	}
	in.signIn(t, "bob-1")
	code, lines, errOut := runExample(t, nil, "-url", in.main.NATSURL(), "-name", "siem", "-seed-file", in.seedFile, "-count", fmt.Sprint(ack.Sequence))
	if code != 0 || len(lines) != int(ack.Sequence) || !strings.Contains(errOut, fmt.Sprintf("skipped %d on %s", ack.Sequence, ev.PublishSubject())) {
		t.Fatalf("exit %d, output %q, stderr %s", code, lines, errOut)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, fmt.Sprintf("%d ", ack.Sequence)) {
			t.Errorf("the forged event was handled: %s", l)
		}
	}
}
