package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
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

// externalNATS runs a NATS server on loopback that requires TLS with a client
// certificate and lets in one nkey user, as a production cluster would; it returns
// the server's URL and the user's seed file.
func externalNATS(t *testing.T, certs testCerts) (string, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "jfguard.nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CaFile: certs.CA, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Nkeys: []*server.NkeyUser{{Nkey: pub}}, TLSConfig: tc, TLS: true, TLSVerify: true, TLSTimeout: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return strings.Replace(ns.ClientURL(), "nats://", "tls://", 1), seedFile
}

// TestExternalNATSBehavesLikeEmbedded: with nats.url set, jfguard uses that server
// (here a NATS server on loopback that wants TLS with a client certificate and an
// nkey, given by nats.tls.* and nats.nkey_file) with the same behaviour: the stream,
// projections and restart all work, and nothing is written to the data directory's
// store. Without the nkey the server refuses jfguard.
func TestExternalNATSBehavesLikeEmbedded(t *testing.T) {
	t.Parallel()
	certs := newTestCerts(t)
	url, seedFile := externalNATS(t, certs)
	_, up := standIn(t)
	dataDir := t.TempDir()
	settings := map[string]string{
		"listen": "127.0.0.1:0", "upstream": up, "data_dir": dataDir, "nats.url": url,
		"nats.nkey_file": seedFile, "nats.tls.ca_file": certs.CA,
		"nats.tls.cert_file": certs.ClientCert, "nats.tls.key_file": certs.ClientKey,
	}
	start := func(settings map[string]string) (*Main, error) {
		s, err := LoadSettings("", false, nil, settings)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		m := NewMain(r, nil)
		return m, m.Run(context.Background())
	}
	m, err := start(settings)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := signIn(m.URL(), "alice", "alice-pw", "d1"); err != nil || code != 200 {
		t.Fatalf("sign-in through jfguard on external NATS: %d %v", code, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = start(settings)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := 0
	if _, err := m.Store().Scan(context.Background(), 1, func(ev events.Event) error {
		if ev.Type == events.TypeSessionVerified {
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

	anonymous := map[string]string{"listen": "127.0.0.1:0", "upstream": up, "data_dir": t.TempDir(), "nats.url": url,
		"nats.tls.ca_file": certs.CA, "nats.tls.cert_file": certs.ClientCert, "nats.tls.key_file": certs.ClientKey}
	if m, err := start(anonymous); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		m.Close()
		t.Fatalf("jfguard without its nkey started on the external server (err %v)", err)
	}
}
