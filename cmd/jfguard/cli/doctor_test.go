package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/nats-io/nats.go/jetstream"
)

// doctorRun is what jfguard doctor printed: its exit code and the marks (✓, !, ✗)
// of each check's lines, by check name.
type doctorRun struct {
	code  int
	marks map[string][]string
	out   string
}

func runDoctor(t *testing.T, args ...string) doctorRun {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"doctor"}, args...)...)
	run := doctorRun{code: code, marks: map[string][]string{}, out: out + errOut}
	for _, line := range strings.Split(out, "\n") {
		for _, mark := range []string{"✓", "!", "✗"} {
			if rest, ok := strings.CutPrefix(line, mark+" "); ok {
				name, _, _ := strings.Cut(rest, ":")
				run.marks[name] = append(run.marks[name], mark)
			}
		}
	}
	return run
}

// expect fails unless every line of the check has the mark.
func (r doctorRun) expect(t *testing.T, name, mark string) {
	t.Helper()
	got := r.marks[name]
	if len(got) == 0 {
		t.Fatalf("no %s line:\n%s", name, r.out)
	}
	for _, m := range got {
		if m != mark {
			t.Fatalf("%s: marks %v, want all %s:\n%s", name, got, mark, r.out)
		}
	}
}

// noFailures fails when any line is ✗ or the exit code is not 0.
func (r doctorRun) noFailures(t *testing.T) {
	t.Helper()
	if r.code != 0 || strings.Contains(r.out, "✗") {
		t.Fatalf("exit %d, want 0 with no ✗:\n%s", r.code, r.out)
	}
}

// failsOn fails unless the exit code is non-zero and the check has a ✗ line.
func (r doctorRun) failsOn(t *testing.T, name string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0 on a broken setup:\n%s", r.out)
	}
	for _, m := range r.marks[name] {
		if m == "✗" {
			return
		}
	}
	t.Fatalf("no ✗ %s line:\n%s", name, r.out)
}

// healthyJellyfin is the stand-in with Quick Connect on and an admin API key in a
// file, as the guide sets Jellyfin up.
func healthyJellyfin(t *testing.T) (jf *jellyfin.Server, url, keyFile string) {
	t.Helper()
	jf, url = standIn(t)
	keyFile = filepath.Join(t.TempDir(), "api_key")
	if err := os.WriteFile(keyFile, []byte(jf.CreateAPIKey("jfguard")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return jf, url, keyFile
}

// startDoctorMain runs jfguard on the stand-in with the admin API key and extra
// settings, and records a sign-in, so the store has events and a checkpoint.
func startDoctorMain(t *testing.T, upstream, keyFile, dataDir string, extra map[string]string) *Main {
	t.Helper()
	over := map[string]string{"listen": "127.0.0.1:0", "upstream": upstream, "data_dir": dataDir, "jellyfin.api_key_file": keyFile}
	for k, v := range extra {
		over[k] = v
	}
	s, err := LoadSettings("", false, nil, over)
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
	t.Cleanup(func() { m.Close() })
	if code, err := signIn(m.URL(), "alice", "alice-pw", "doctor"); err != nil || code != 200 {
		t.Fatalf("sign-in: %d %v", code, err)
	}
	return m
}

// stoppedDataDir is the data directory of a jfguard that ran and stopped.
func stoppedDataDir(t *testing.T, upstream, keyFile string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	m := startDoctorMain(t, upstream, keyFile, dir, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDoctorHealthyOffline: on a stopped jfguard's data directory with a healthy
// Jellyfin, every check passes, and --json says the same.
func TestDoctorHealthyOffline(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	dir := stoppedDataDir(t, up, keyFile)
	args := []string{"--data-dir", dir, "--upstream", up, "--set", "jellyfin.api_key_file=" + keyFile}

	run := runDoctor(t, args...)
	run.noFailures(t)
	for _, name := range []string{"settings", "upstream", "clock", "api_key", "quick_connect", "webauthn", "proxies", "nats", "buckets", "permissions", "streams", "audit", "disk"} {
		run.expect(t, name, "✓")
	}
	if n := len(run.marks["streams"]); n != 3 {
		t.Fatalf("%d stream lines, want one for each of the three streams:\n%s", n, run.out)
	}

	code, out, _ := runCLI(t, append([]string{"doctor", "--json"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	for _, c := range rep.Checks {
		if c.Status != checkOK {
			t.Fatalf("--json: %+v is not ok", c)
		}
	}
}

// TestDoctorOnline: --server runs the checks inside the running jfguard (the
// store, streams and audit chain included); offline on its data directory the
// doctor says the store is in use and points at --server. With forwarding trusted,
// a request that arrives with no forwarding header turns the proxies line into a
// warning.
func TestDoctorOnline(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	dir := filepath.Join(t.TempDir(), "data")
	m := startDoctorMain(t, up, keyFile, dir, map[string]string{
		"security.trust_forwarded_for": "true", "security.trusted_proxies": "10.9.9.9",
	})
	server := []string{"--server", m.URL(), "--token", m.AdminToken()}

	run := runDoctor(t, server...)
	run.noFailures(t)
	for _, name := range []string{"settings", "upstream", "clock", "api_key", "quick_connect", "nats", "buckets", "permissions", "streams", "audit", "disk"} {
		run.expect(t, name, "✓")
	}
	// The sign-in came without X-Forwarded-For, from an address that is not the proxy.
	run.expect(t, "proxies", "!")
	if !strings.Contains(run.out, "go around the proxy") {
		t.Fatalf("the proxies warning does not say requests went around the proxy:\n%s", run.out)
	}

	offline := runDoctor(t, "--data-dir", dir, "--upstream", up, "--set", "jellyfin.api_key_file="+keyFile)
	offline.noFailures(t)
	offline.expect(t, "nats", "!")
	if !strings.Contains(offline.out, "--server") {
		t.Fatalf("offline on a running jfguard's data directory, the doctor does not suggest --server:\n%s", offline.out)
	}

	wrong := runDoctor(t, "--server", m.URL(), "--token", "not-the-token")
	wrong.failsOn(t, "server")
}

// TestDoctorForwardedRequestsPass: with forwarding trusted from loopback, requests
// that carry X-Forwarded-For leave the proxies line passing.
func TestDoctorForwardedRequestsPass(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	s, err := LoadSettings("", false, nil, map[string]string{"listen": "127.0.0.1:0", "upstream": up, "data_dir": filepath.Join(t.TempDir(), "data"),
		"jellyfin.api_key_file": keyFile, "security.trust_forwarded_for": "true", "security.trusted_proxies": "127.0.0.1"})
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
	t.Cleanup(func() { m.Close() })
	req, _ := http.NewRequest(http.MethodGet, m.URL()+"/System/Info/Public", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	run := runDoctor(t, "--server", m.URL(), "--token", m.AdminToken())
	run.noFailures(t)
	run.expect(t, "proxies", "✓")
	if !strings.Contains(run.out, "1 through a proxy") {
		t.Fatalf("the proxies line does not count the forwarded request:\n%s", run.out)
	}
}

// TestDoctorFindsABrokenJellyfin: each broken part of the Jellyfin side gets its ✗
// line and a non-zero exit, and the doctor creates nothing in a data directory
// that does not exist.
func TestDoctorFindsABrokenJellyfin(t *testing.T) {
	t.Parallel()
	jf, up, keyFile := healthyJellyfin(t)

	wrongKey := filepath.Join(t.TempDir(), "wrong_key")
	if err := os.WriteFile(wrongKey, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	noQC := jellyfin.New(jellyfin.Options{QuickConnect: false})
	noQCKey := filepath.Join(t.TempDir(), "qc_key")
	if err := os.WriteFile(noQCKey, []byte(noQC.CreateAPIKey("jfguard")), 0o600); err != nil {
		t.Fatal(err)
	}
	noQCSrv := httptest.NewServer(noQC)
	t.Cleanup(noQCSrv.Close)

	for _, tc := range []struct {
		name, upstream, key, check string
	}{
		{"wrong admin API key", up, wrongKey, "api_key"},
		{"upstream down", closed, keyFile, "upstream"},
		{"Quick Connect off", noQCSrv.URL, noQCKey, "quick_connect"},
		{"clock ten minutes behind", skewedUpstream(t, jf, -10*time.Minute), keyFile, "clock"},
		{"clock two minutes ahead", skewedUpstream(t, jf, 2*time.Minute), keyFile, "clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			run := runDoctor(t, "--data-dir", dir, "--upstream", tc.upstream, "--set", "jellyfin.api_key_file="+tc.key)
			run.failsOn(t, tc.check)
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the doctor created the data directory %s (%v)", dir, err)
			}
		})
	}

	t.Run("clock 20 seconds behind is a warning", func(t *testing.T) {
		t.Parallel()
		run := runDoctor(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--upstream", skewedUpstream(t, jf, -20*time.Second), "--set", "jellyfin.api_key_file="+keyFile)
		run.noFailures(t)
		run.expect(t, "clock", "!")
	})
	t.Run("invalid settings", func(t *testing.T) {
		t.Parallel()
		run := runDoctor(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--upstream", up, "--set", "security.ipv6_prefix=7")
		run.failsOn(t, "settings")
	})
}

// skewedUpstream serves the stand-in with a Date header off by skew, as a Jellyfin
// whose clock is wrong would.
func skewedUpstream(t *testing.T, jf http.Handler, skew time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		jf.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDoctorFindsABrokenStore: a replaced or missing audit key fails the audit
// line (and a missing one is not created), and an event stream that allows deletes
// fails the streams line.
func TestDoctorFindsABrokenStore(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	healthy := stoppedDataDir(t, up, keyFile)
	doctor := func(t *testing.T, dir string) doctorRun {
		return runDoctor(t, "--data-dir", dir, "--upstream", up, "--set", "jellyfin.api_key_file="+keyFile)
	}
	copyOf := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.CopyFS(dir, os.DirFS(healthy)); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("replaced audit key", func(t *testing.T) {
		dir := copyOf(t)
		_, other, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "audit.key"), []byte(base64.StdEncoding.EncodeToString(other.Seed())+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		run := doctor(t, dir)
		run.failsOn(t, "audit")
		run.expect(t, "streams", "✓")
	})
	t.Run("missing audit key", func(t *testing.T) {
		dir := copyOf(t)
		if err := os.Remove(filepath.Join(dir, "audit.key")); err != nil {
			t.Fatal(err)
		}
		doctor(t, dir).failsOn(t, "audit")
		if _, err := os.Stat(filepath.Join(dir, "audit.key")); !os.IsNotExist(err) {
			t.Fatalf("the doctor created an audit key (%v)", err)
		}
	})
	t.Run("event stream allows deletes", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		conn, err := broker.Start(broker.Options{StoreDir: filepath.Join(dir, "nats")})
		if err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(conn.NC)
		if err == nil {
			_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{
				Name: store.StreamName, Subjects: []string{"jfguard.events.>"}, Storage: jetstream.FileStorage, DenyPurge: true,
			})
		}
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		run := doctor(t, dir)
		run.failsOn(t, "streams")
		if !strings.Contains(run.out, "deny_delete") {
			t.Fatalf("the streams line does not name deny_delete:\n%s", run.out)
		}
	})
}

// TestDoctorHelpTouchesNothing: doctor --help prints and changes nothing.
func TestDoctorHelpTouchesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	code, out, _ := runCLI(t, "doctor", "--help", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "Diagnose") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal(fmt.Sprint("doctor --help created ", dir))
	}
}
