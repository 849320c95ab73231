package smuggle

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
)

// Tokens of the jfguard target: the recording upstream lists apiKey among
// Jellyfin's API keys, so the gate passes it; Jellyfin "accepts" unknownToken but
// names no user for it and does not list it, so the gate refuses it.
const (
	apiKey       = "smuggle-api-key-0123456789abcdef"
	adminKey     = "smuggle-admin-key-0123456789abcd"
	unknownToken = "smuggle-unknown-token-0123456789"
)

// TestJFGuard runs the suite against the real jfguard program (cli.LoadSettings →
// Resolve → NewMain → Run) in front of a recording upstream. Every request that
// reached the upstream was read there with net/http, as the stand-in Jellyfin
// reads it, and must be exactly a request the client sent and the gate saw.
func TestJFGuard(t *testing.T) {
	t.Parallel()
	up := startRecorder(t, apiKey)
	addr := startJFGuard(t, up)
	runSuite(t, target{addr: addr, upstream: up, ok: apiKey, bad: unknownToken,
		expecting: func(c smuggleCase) outcome { return c.want }})
}

// startJFGuard starts jfguard with up as its Jellyfin and returns its listen
// address.
func startJFGuard(t *testing.T, up *recorder) string {
	t.Helper()
	s, err := cli.LoadSettings("", false, nil, map[string]string{
		"listen":           "127.0.0.1:0",
		"upstream":         "http://" + up.addr(),
		"data_dir":         t.TempDir(),
		"jellyfin.api_key": adminKey,
		// Refused requests all come from 127.0.0.1: no address bans.
		"security.ban_threshold": "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := cli.NewMain(r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("start jfguard: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close jfguard: %v", err)
		}
	})
	u, err := url.Parse(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	// Whatever jfguard asked Jellyfin while starting is not part of any case.
	up.take()
	return u.Host
}
