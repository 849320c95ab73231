package notifiers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jfguard/jfguard/events"
)

// testPKI is a throwaway CA and a server certificate it signed for 127.0.0.1.
func testPKI(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// received is one message the test SMTP server accepted.
type received struct {
	From string
	To   []string
	Data string
	User string
	TLS  bool
}

// mailServer is a real SMTP server (emersion/go-smtp) on loopback that requires
// PLAIN authentication with user "jfg" / password "pw".
type mailServer struct {
	port int
	mu   sync.Mutex
	got  []received
}

func (m *mailServer) mails() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.got...)
}

// startMailServer runs a server in one of the modes: "none" (plain, auth allowed in
// clear), "starttls" (auth only after STARTTLS) or "tls" (implicit TLS listener).
func startMailServer(t *testing.T, mode string, cert tls.Certificate) *mailServer {
	t.Helper()
	ms := &mailServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{srv: ms, conn: c}, nil
	}))
	s.Domain = "mail.test"
	s.ErrorLog = nopLogger{}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch mode {
	case SMTPNoTLS:
		s.AllowInsecureAuth = true
	case SMTPStartTLS:
		s.TLSConfig = tlsCfg
	case SMTPImplicitTLS:
		l = tls.NewListener(l, tlsCfg)
	}
	ms.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type mailSession struct {
	srv  *mailServer
	conn *smtp.Conn
	user string
	m    received
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "jfg" || pass != "pw" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.m = received{From: from, User: s.user, TLS: isTLS}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.Data = string(b)
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, s.m)
	s.srv.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.m = received{} }
func (s *mailSession) Logout() error { return nil }

// TestEmailAlertsInEveryTLSMode: with a plain local server, a STARTTLS server and an
// implicit-TLS server (both with a certificate from a private CA), alerts of the filter
// go to the admins and, for a user with a confirmed address, to that user in a
// message of its own; events outside the filter send nothing. The Mailer sends
// sign-in-code style mail and test mail with the same settings.
func TestEmailAlertsInEveryTLSMode(t *testing.T) {
	t.Parallel()
	pool, cert := testPKI(t)
	for _, mode := range []string{SMTPNoTLS, SMTPStartTLS, SMTPImplicitTLS} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ms := startMailServer(t, mode, cert)
			st := startStore(t, t.TempDir())
			cfg := SMTPConfig{
				Host: "127.0.0.1", Port: ms.port, TLS: mode, Username: "jfg", Password: "pw",
				From: "jfguard <alerts@example.com>", Admins: []string{"admin@example.com"},
				Events: []string{"lockout_started", "pairing_requested"}, RootCAs: pool, Timeout: 5 * time.Second,
			}
			n := startNotifiers(t, st, Options{
				SMTP:   cfg,
				NameOf: names(map[string]string{"u1": "alice", "u2": "bob"}),
				AddressOf: func(_ context.Context, id string) (string, bool) {
					if id == "u1" {
						return "alice@example.org", true
					}
					return "", false
				},
			})
			appendEvent(t, st, "u1", &events.FactorFailed{Method: "totp", Reason: "wrong code"})
			lock := appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now().Add(time.Hour), Failures: 5})
			pair := appendEvent(t, st, "u2", &events.PairingRequested{PairingID: "p1", DeviceName: "TV", Client: "Swiftfin", Version: "1"})

			waitFor(t, "three alert mails", 10*time.Second, func() bool { return len(ms.mails()) >= 3 })
			waitSettled(t, st, "email")
			got := ms.mails()
			if len(got) != 3 {
				t.Fatalf("%d mails, want 3 (admin and alice for the lockout, admin for the pairing)", len(got))
			}
			byRcpt := map[string][]received{}
			for _, m := range got {
				if m.User != "jfg" || m.TLS != (mode != SMTPNoTLS) || m.From != "alerts@example.com" {
					t.Errorf("mail auth %q tls %v from %q", m.User, m.TLS, m.From)
				}
				if len(m.To) != 1 {
					t.Errorf("one message went to %v: users and admins must get separate messages", m.To)
				}
				byRcpt[m.To[0]] = append(byRcpt[m.To[0]], m)
			}
			if len(byRcpt["alice@example.org"]) != 1 || len(byRcpt["admin@example.com"]) != 2 {
				t.Fatalf("recipients: %v", byRcpt)
			}
			alice := byRcpt["alice@example.org"][0].Data
			if miss, ok := hasAll(alice, "Subject: [jfguard] Locked out: alice", "X-Jfguard-Event-Id: "+lock.ID, "Message-ID: <"+lock.ID+".user@example.com>", "text/html", "203.0.113.7"); !ok {
				t.Errorf("alice's mail lacks %q:\n%s", miss, alice)
			}
			var pairing string
			for _, m := range byRcpt["admin@example.com"] {
				if strings.Contains(m.Data, pair.ID) {
					pairing = m.Data
				}
			}
			if !strings.Contains(pairing, "Subject: [jfguard] Device waiting for approval: bob") {
				t.Errorf("admin pairing mail:\n%s", pairing)
			}

			if err := n.Mailer().SendMail(context.Background(), []string{"alice@example.org"}, "Your sign-in code", "Your code is 123456.", ""); err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			if err := n.SendTest(context.Background(), "email"); err != nil {
				t.Fatalf("SendTest: %v", err)
			}
			got = ms.mails()
			if len(got) != 5 || !strings.Contains(got[3].Data, "Your code is 123456.") || !strings.Contains(got[4].Data, "jfguard test alert") || got[4].To[0] != "admin@example.com" {
				t.Fatalf("SendMail/SendTest mails: %+v", got[3:])
			}
		})
	}
}

// TestMailerRefusesWeakTransport: STARTTLS is mandatory in "starttls" mode, the
// server certificate is verified, and clear text is refused for remote servers.
func TestMailerRefusesWeakTransport(t *testing.T) {
	t.Parallel()
	pool, cert := testPKI(t)
	plain := startMailServer(t, SMTPNoTLS, cert)
	starttls := startMailServer(t, SMTPStartTLS, cert)
	send := func(cfg SMTPConfig) error {
		cfg.Host, cfg.From, cfg.Username, cfg.Password, cfg.Timeout = "127.0.0.1", "alerts@example.com", "jfg", "pw", 5*time.Second
		m, err := NewMailer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m.SendMail(context.Background(), []string{"a@example.com"}, "s", "t", "")
	}
	if err := send(SMTPConfig{Port: plain.port, TLS: SMTPStartTLS, RootCAs: pool}); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("starttls to a server without STARTTLS: %v", err)
	}
	if err := send(SMTPConfig{Port: starttls.port, TLS: SMTPStartTLS}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	if len(plain.mails())+len(starttls.mails()) != 0 {
		t.Fatal("a mail went out over a refused transport")
	}
	if _, err := NewMailer(SMTPConfig{Host: "mail.example.com", TLS: SMTPNoTLS, From: "a@example.com"}); err == nil || !strings.Contains(err.Error(), "smtp.tls") {
		t.Errorf("clear text to a remote server: %v", err)
	}
}
