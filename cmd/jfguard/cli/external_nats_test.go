package cli

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestExternalNATSBehavesLikeEmbedded: with nats.url set, jfguard uses that server
// (here a separate NATS server on loopback) with the same behaviour: the stream,
// projections and restart all work, and nothing is written to the data directory's
// store.
func TestExternalNATSBehavesLikeEmbedded(t *testing.T) {
	t.Parallel()
	natsDir := t.TempDir()
	ext, err := embed.Start(embed.Options{StoreDir: natsDir, Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	_, up := standIn(t)
	dataDir := t.TempDir()
	start := func() *Main {
		s, err := LoadSettings("", false, nil, map[string]string{
			"listen": "127.0.0.1:0", "upstream": up, "data_dir": dataDir, "nats.url": ext.ClientURL(),
		})
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
	m := start()
	if code, err := signIn(m.URL(), "alice", "alice-pw", "d1"); err != nil || code != 200 {
		t.Fatalf("sign-in through jfguard on external NATS: %d %v", code, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = start()
	defer m.Close()
	n := 0
	if _, err := m.Store().Scan(context.Background(), 1, func(ev events.Event) error {
		if ev.Type == "session_verified" {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d session_verified events on the external server, want 1", n)
	}
	// The external server holds the stream; jfguard opened no embedded store.
	if _, err := LockDataDir(dataDir); err != nil {
		t.Fatalf("the data directory is locked although NATS is external: %v", err)
	}
	if ext.ClientURL() == "" {
		t.Fatal("the external server has no client URL")
	}
}
