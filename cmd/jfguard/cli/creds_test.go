package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// operatorNATS runs a NATS server on loopback in operator mode (accounts and users
// as JWTs, as managed services and `nsc` set them up) with JetStream for one account,
// and returns its URL and a .creds file of a user of that account.
func operatorNATS(t *testing.T) (string, string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	// JetStream in operator mode needs a system account.
	skp, err := nkeys.CreateAccount()
	must(err)
	spub, _ := skp.PublicKey()
	sjwt, err := jwt.NewAccountClaims(spub).Encode(okp)
	must(err)
	oc := jwt.NewOperatorClaims(opub)
	oc.SystemAccount = spub
	ojwt, err := oc.Encode(okp)
	must(err)
	operator, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)
	akp, err := nkeys.CreateAccount()
	must(err)
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(okp)
	must(err)
	ukp, err := nkeys.CreateUser()
	must(err)
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	useed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	must(err)
	credsFile := filepath.Join(t.TempDir(), "jfguard.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	resolver := &server.MemAccResolver{}
	must(resolver.Store(apub, ajwt))
	must(resolver.Store(spub, sjwt))
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		TrustedOperators: []*jwt.OperatorClaims{operator}, AccountResolver: resolver, SystemAccount: spub,
	})
	must(err)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL(), credsFile
}

// TestExternalNATSWithCredsFile: nats.creds_file (a user JWT and its nkey seed, as
// `nsc` writes them) authenticates jfguard to an external server in operator mode;
// without it the server refuses jfguard.
func TestExternalNATSWithCredsFile(t *testing.T) {
	t.Parallel()
	url, credsFile := operatorNATS(t)
	_, up := standIn(t)
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
	m, err := start(map[string]string{"listen": "127.0.0.1:0", "upstream": up, "data_dir": t.TempDir(), "nats.url": url, "nats.creds_file": credsFile})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if code, err := signIn(m.URL(), "alice", "alice-pw", "d1"); err != nil || code != 200 {
		t.Fatalf("sign-in through jfguard on a server reached with a creds file: %d %v", code, err)
	}
	if m, err := start(map[string]string{"listen": "127.0.0.1:0", "upstream": up, "data_dir": t.TempDir(), "nats.url": url}); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		m.Close()
		t.Fatalf("jfguard without credentials started on the operator-mode server (err %v)", err)
	}
}
