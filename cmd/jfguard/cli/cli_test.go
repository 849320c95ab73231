package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/jfguard/jfguard/test/testkit"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain lets a test run this binary as `jfguard serve` in a child process, or
// (JFGUARD_TEST_CHILD=cli) as jfguard with the arguments after "--".
func TestMain(m *testing.M) {
	switch os.Getenv("JFGUARD_TEST_CHILD") {
	case "serve":
		os.Exit(Run(context.Background(), os.Args[len(os.Args)-2:], os.Environ(), os.Stdout, os.Stderr))
	case "cli":
		os.Exit(Run(context.Background(), childArgs(os.Args), os.Environ(), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// standIn runs the stand-in Jellyfin with alice (no second factor) on loopback.
func standIn(t *testing.T) (*jellyfin.Server, string) {
	t.Helper()
	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	jf.AddUser("alice", "alice-pw", false)
	jf.AddUser("admin", "admin-pw", true)
	srv := httptest.NewServer(jf)
	t.Cleanup(srv.Close)
	return jf, srv.URL
}

func startMain(t *testing.T, upstream, dataDir string) *Main {
	t.Helper()
	s, err := LoadSettings("", false, nil, map[string]string{"listen": "127.0.0.1:0", "upstream": upstream, "data_dir": dataDir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(r, nil)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func signIn(base, user, pw, device string) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/Users/AuthenticateByName", strings.NewReader(fmt.Sprintf(`{"Username":%q,"Pw":%q}`, user, pw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", `MediaBrowser Client="test", Device="cli", DeviceId="`+device+`", Version="1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// TestAuditCommandsOffline: verify, query and replay work on a stopped server's data
// directory; verify fails (exit 3) naming the first bad sequence after the store's
// files are edited.
func TestAuditCommandsOffline(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	m := startMain(t, up, dir)
	for i := 0; i < 3; i++ {
		if code, err := signIn(m.URL(), "alice", "alice-pw", fmt.Sprintf("d%d", i)); err != nil || code != 200 {
			t.Fatalf("sign-in: %d %v", code, err)
		}
	}
	if code, _ := signIn(m.URL(), "alice", "wrong", "d9"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	between := time.Now()
	time.Sleep(10 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "audit verify: OK") || !strings.Contains(out, "not yet sealed: 0") || strings.Contains(errOut, "\r") {
		t.Fatalf("verify on a clean log: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "audit", "query", "--data-dir", dir, "--user", "alice", "--type", "session_verified", "--json")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"reason":"no_2fa"`) {
		t.Fatalf("query: exit %d\n%s", code, out)
	}
	if strings.Contains(out, `"token":"`) && !strings.Contains(out, `"token":"v1.`) {
		t.Fatalf("a token appears unsealed in the log:\n%s", out)
	}
	code, out, _ = runCLI(t, "audit", "tail", "--data-dir", dir, "-n", "2")
	if code != 0 || !strings.Contains(out, "SEQ") || strings.Count(out, "\n") != 3 {
		t.Fatalf("tail: exit %d\n%s", code, out)
	}
	code, out, errOut = runCLI(t, "replay", "--data-dir", dir, "--at", between.UTC().Format(time.RFC3339Nano))
	if code != 0 || !strings.Contains(out, "alice") || strings.Contains(errOut, "\r") {
		t.Fatalf("replay: exit %d\n%s\n%q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "replay", "--data-dir", dir, "--at", "yesterday")
	if code == 0 || !strings.Contains(errOut, "RFC 3339") {
		t.Fatalf("replay with a bad time: exit %d %s", code, errOut)
	}

	// Edit an event in the block file: verify names it and exits non-zero.
	blk := ""
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, "/"+store.StreamName+"/") && strings.HasSuffix(p, ".blk") {
			blk = p
		}
		return nil
	})
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"reason":"bad_password"`))
	if i < 0 {
		t.Fatal("no failed sign-in in the block file")
	}
	copy(b[i:], `"reason":"bad_pa55word"`)
	os.WriteFile(blk, b, 0o600)
	code, out, errOut = runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != 3 || !strings.Contains(errOut, "first bad sequence") {
		t.Fatalf("verify after tampering: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestWeakenedStreamIsRefusedAtStart: a stream that allows deletes or purges (edited
// by someone with NATS access) stops jfguard with a clear message.
func TestWeakenedStreamIsRefusedAtStart(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(conn.NC)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: store.StreamName, Subjects: []string{"jfguard.events.>"}, Storage: jetstream.FileStorage, DenyDelete: true,
	}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	s, _ := LoadSettings("", false, nil, map[string]string{"listen": "127.0.0.1:0", "upstream": up, "data_dir": dir})
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(r, nil)
	err = m.Run(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("jfguard started on a weakened stream")
	}
	if !strings.Contains(err.Error(), "deny_purge is off") || !strings.Contains(err.Error(), "Fix:") {
		t.Fatalf("unclear refusal: %v", err)
	}
}

// TestGracefulShutdownKeepsInFlightAppends: requests in flight when jfguard stops
// finish, and every answered sign-in has its events in the log after a restart.
func TestGracefulShutdownKeepsInFlightAppends(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	m := startMain(t, up, dir)
	base := m.URL()
	var ok sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for i := 0; i < 40; i++ {
		ok.Add(1)
		go func(i int) {
			defer ok.Done()
			code, err := signIn(base, "alice", "alice-pw", fmt.Sprintf("dev-%d", i))
			if err == nil && code == 200 {
				mu.Lock()
				answered++
				mu.Unlock()
			}
		}(i)
	}
	time.Sleep(30 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ok.Wait()
	m = startMain(t, up, dir)
	defer m.Close()
	n := 0
	_, err := m.Store().Scan(context.Background(), 1, func(ev events.Event) error {
		if ev.Type == events.TypeSessionVerified {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < answered {
		t.Fatalf("%d sign-ins were answered but only %d were recorded", answered, n)
	}
	t.Logf("%d sign-ins answered before shutdown, %d recorded", answered, n)
}

// TestServeStopsCleanlyOnSIGTERM runs `jfguard serve` as a child process, sends
// SIGTERM, and checks it exits 0 leaving nothing unsealed in the audit log.
func TestServeStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "jfguard.yaml", fmt.Sprintf("listen: \"127.0.0.1:0\"\nupstream: %q\ndata_dir: %q\n", up, dir))
	cmd := exec.Command(os.Args[0], "-test.run=^$", "serve", "--config="+cfg)
	cmd.Env = append(os.Environ(), "JFGUARD_TEST_CHILD=serve")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "jfguard is listening") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
	code, out, errOut := runCLI(t, "audit", "verify", "--data-dir", dir, "--json")
	var rep audit.VerifyReport
	json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep)
	if code != 0 || rep.Unsealed != 0 || rep.Events == 0 {
		t.Fatalf("after SIGTERM: exit %d, report %+v\n%s", code, rep, errOut)
	}
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer = testkit.Output

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "jfguard ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, _, errOut := runCLI(t, "no-such-command")
	if code == 0 || !strings.Contains(errOut, "no-such-command") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuditTailFollowsARunningServer: `jfguard audit tail -f --server` prints the
// newest events, then new ones as they happen.
func TestAuditTailFollowsARunningServer(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	m := startMain(t, up, t.TempDir())
	defer m.Close()
	if code, err := signIn(m.URL(), "alice", "alice-pw", "first"); err != nil || code != 200 {
		t.Fatalf("sign-in: %d %v", code, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"audit", "tail", "-f", "--json", "--server", m.URL(), "--token=" + m.AdminToken()}, nil, &out, &errb)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"type":"session_verified"`) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the tail never showed the first sign-in:\n%s\n%s", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := strings.Count(out.String(), `"type":"session_verified"`)
	// The feed is live once the command waits on it; sign in until a new event shows.
	for i := 0; strings.Count(out.String(), `"type":"session_verified"`) == before; i++ {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the tail did not follow a new sign-in:\n%s\n%s", out.String(), errb.String())
		}
		signIn(m.URL(), "alice", "alice-pw", fmt.Sprintf("next-%d", i))
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("tail exited %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail -f did not stop when cancelled")
	}
}

// TestKeysRotateOffline: `keys rotate --help` rotates nothing; offline rotation of
// the trust-cookie key leaves the master key alone; a master key given in clear
// cannot be rotated, and the error says what to do; a running jfguard keeps the
// directory to itself and the error points at --server.
func TestKeysRotateOffline(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	code, out, _ := runCLI(t, "keys", "rotate", "--help", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "--grace") {
		t.Fatalf("keys rotate --help: exit %d\n%s", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("keys rotate --help touched the data directory: %v", entries)
	}

	m := startMain(t, up, dir)
	if code, _, errOut := runCLI(t, "keys", "rotate", "--trust", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "--server") {
		t.Errorf("offline rotation while jfguard runs: exit %d %s", code, errOut)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "keys", "rotate", "--trust", "--grace", "1h", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "trust-cookie key: generation 1 is current") || strings.Contains(out, "master key") || strings.Contains(out, "audit key") {
		t.Fatalf("keys rotate --trust: exit %d\n%s\n%s", code, out, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "master.key")); !bytes.Equal(after, master) {
		t.Error("rotating the trust-cookie key changed the master key file")
	}

	code, _, errOut = runCLI(t, "keys", "rotate", "--master", "--data-dir", dir, "--set", "master_key="+strings.TrimSpace(string(master)))
	if code == 0 || !strings.Contains(errOut, "cannot rewrite") || !strings.Contains(errOut, "fix:") {
		t.Errorf("rotating a master key given in clear: exit %d %s", code, errOut)
	}
}
