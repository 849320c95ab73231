package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthcheckAnswersForARunningServer: `jfguard healthcheck` exits 0 against a
// running jfguard, found through the listen address of its settings file, and 1
// once it has stopped.
func TestHealthcheckAnswersForARunningServer(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	m := startMain(t, up, t.TempDir())
	addr := strings.TrimPrefix(m.URL(), "http://")
	config := filepath.Join(t.TempDir(), "jfguard.yaml")
	if err := os.WriteFile(config, []byte("listen: \""+addr+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "healthcheck", "--config", config)
	if code != 0 || !strings.Contains(out, "healthy: http://"+addr+"/jfguard/healthz") {
		t.Fatalf("healthcheck of a running jfguard: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "healthcheck", "--config", config)
	if code != 1 || !strings.Contains(errOut, "unhealthy: http://"+addr) {
		t.Fatalf("healthcheck of a stopped jfguard: exit %d, stderr %q", code, errOut)
	}
}

// TestHealthcheckRefusesWhatIsNotHealthy: an answer other than 200, a redirect
// included, is unhealthy, and so are settings it cannot read.
func TestHealthcheckRefusesWhatIsNotHealthy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"server error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			code, out, errOut := runCLI(t, "healthcheck", "--url", srv.URL+"/jfguard/healthz")
			if code != 1 || out != "" || !strings.Contains(errOut, "unhealthy") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
	t.Run("unreadable settings", func(t *testing.T) {
		t.Parallel()
		code, _, errOut := runCLI(t, "healthcheck", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
		if code != 1 || !strings.Contains(errOut, "unhealthy") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestHealthzURLAsksLoopbackForWildcardAddresses(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		":8097":          "http://127.0.0.1:8097/jfguard/healthz",
		"0.0.0.0:8097":   "http://127.0.0.1:8097/jfguard/healthz",
		"[::]:8097":      "http://[::1]:8097/jfguard/healthz",
		"10.0.0.5:9000":  "http://10.0.0.5:9000/jfguard/healthz",
		"[fd00::1]:8097": "http://[fd00::1]:8097/jfguard/healthz",
	} {
		got, err := healthzURL(listen)
		if err != nil || got != want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := healthzURL("8097"); err == nil {
		t.Error("a listen address without a port was accepted")
	}
}
