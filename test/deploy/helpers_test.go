package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/jfguard/jfguard/test/testkit"
)

// publicHost is the host name the example settings and the proxy recipes use.
const publicHost = "jellyfin.example.com"

// repoFile is the path of a file of the repository, from this package's folder.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test's source file")
	}
	return filepath.Join(filepath.Dir(here), "..", "..", filepath.FromSlash(rel))
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// needCommand skips the test when a program from a Debian package is missing.
func needCommand(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "%s is not installed: install the Debian package %s to run this test", name, debianPackage)
	}
	return path
}

// writeFile writes a file the test made, mode 0600.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceOnce replaces old, which must occur exactly once in s: a recipe that
// no longer has the line the test adapts fails the test instead of silently
// testing something else.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("expected %q once in the recipe, found it %d times", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// freePort is a TCP port on loopback that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitForPort waits until something accepts connections on addr, failing early
// when the process that should listen there has exited.
func waitForPort(t *testing.T, addr string, exited <-chan struct{}, logs func() string) {
	t.Helper()
	for range 300 {
		select {
		case <-exited:
			t.Fatalf("the proxy exited before listening on %s:\n%s", addr, logs())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 15 s:\n%s", addr, logs())
}

// certificate is a self-signed certificate for publicHost, as files, with a pool
// that trusts it.
type certificate struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func selfSignedCertificate(t *testing.T, dir string) certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: publicHost},
		DNSNames:              []string{publicHost},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := certificate{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	writeFile(t, c.certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, c.keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	c.pool.AddCert(parsed)
	return c
}

func (c certificate) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.pool, ServerName: publicHost, MinVersion: tls.VersionTLS12}
}

// service is the real jfguard, started with the example settings file of the
// package (deploy/jfguard.yaml) in front of the stand-in Jellyfin. Only what must
// differ on a test machine is overridden: addresses, the data directory and where
// the secrets are. The trusted proxies are the example's.
type service struct {
	main    *cli.Main
	jf      *jellyfin.Server
	jfLog   *jellyfin.RequestLog
	bob     jellyfin.User
	bobPass string
}

func startService(t *testing.T) *service {
	t.Helper()
	jf := jellyfin.New(jellyfin.Options{ServerName: "Deploy", QuickConnect: true})
	s := &service{jf: jf, jfLog: &jellyfin.RequestLog{}, bobPass: "bob-password"}
	s.bob = jf.AddUser("bob", s.bobPass, false)
	jf.AddUser("admin", "admin-password", true)
	jf.OnRequest(s.jfLog.Record)
	upstream := httptest.NewServer(jf)
	t.Cleanup(func() {
		_ = jf.Close()
		upstream.Close()
	})

	dir := t.TempDir()
	secrets := filepath.Join(dir, "credentials")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(secrets, "master.key"), base64.StdEncoding.EncodeToString(master)+"\n")
	writeFile(t, filepath.Join(secrets, "jellyfin_api_key"), jf.CreateAPIKey("jfguard")+"\n")
	settings, err := cli.LoadSettings(repoFile(t, "deploy/jfguard.yaml"), true, nil, map[string]string{
		"listen":                "127.0.0.1:0",
		"upstream":              upstream.URL,
		"data_dir":              filepath.Join(dir, "data"),
		"master_key_file":       filepath.Join(secrets, "master.key"),
		"jellyfin.api_key_file": filepath.Join(secrets, "jellyfin_api_key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := settings.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	s.main = cli.NewMain(r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.main.Run(ctx); err != nil {
		t.Fatalf("start jfguard: %v", err)
	}
	t.Cleanup(func() {
		if err := s.main.Close(); err != nil {
			t.Errorf("stop jfguard: %v", err)
		}
	})
	return s
}

// addr is jfguard's host:port.
func (s *service) addr() string { return strings.TrimPrefix(s.main.URL(), "http://") }

// eventsOf are the events of one type in the stream, in order.
func (s *service) eventsOf(t *testing.T, typ events.Type) []events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []events.Event
	if _, err := s.main.Store().Scan(ctx, 1, func(e events.Event) error {
		if e.Type == typ {
			out = append(out, e)
		}
		return nil
	}); err != nil {
		t.Fatalf("scan the stream: %v", err)
	}
	return out
}

// proxyProcess runs a proxy in the foreground until the test ends, with its
// output kept for failure messages.
type proxyProcess struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

func startProcess(t *testing.T, env []string, name string, args ...string) *proxyProcess {
	t.Helper()
	p := &proxyProcess{cmd: exec.Command(name, args...), out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer = testkit.Output
