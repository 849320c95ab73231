package notifiers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of smtp.tls.
const (
	// SMTPStartTLS upgrades a plain connection with STARTTLS and refuses servers that
	// do not offer it (the submission port, 587).
	SMTPStartTLS = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS = "tls"
	// SMTPNoTLS sends in clear; allowed only to a mail server on the same machine.
	SMTPNoTLS = "none"
)

// SMTPConfig mirrors the smtp settings plus the admins who receive alerts. Password is
// already read from password_file by the caller. RootCAs, when set, replaces the
// system's trust store (a private mail server with its own CA).
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string
	Username string
	Password string
	From     string
	Admins   []string
	Events   []string
	RootCAs  *x509.CertPool
	// Timeout bounds each step of the SMTP conversation; default 15 seconds.
	Timeout time.Duration
}

// Mailer sends email through the configured SMTP server. Alerts use it, and so does the
// email-code factor, so both follow the same TLS and authentication settings.
type Mailer struct {
	cfg    SMTPConfig
	from   string
	domain string
}

// NewMailer checks the SMTP settings and returns a Mailer; errors name the setting.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.Host == "" {
		return nil, errors.New("smtp.host: is empty; set the mail server's host name")
	}
	if cfg.TLS == "" {
		cfg.TLS = SMTPStartTLS
	}
	switch cfg.TLS {
	case SMTPStartTLS, SMTPImplicitTLS:
	case SMTPNoTLS:
		if !loopbackHost(cfg.Host) {
			return nil, fmt.Errorf("smtp.tls: %q sends mail and passwords in clear and is allowed only to a server on this machine, not %q; use %q (port 587) or %q (port 465)", SMTPNoTLS, cfg.Host, SMTPStartTLS, SMTPImplicitTLS)
		}
	default:
		return nil, fmt.Errorf("smtp.tls: %q is not a TLS mode; use %q (port 587), %q (port 465) or %q (local server only)", cfg.TLS, SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS)
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{SMTPStartTLS: 587, SMTPImplicitTLS: 465, SMTPNoTLS: 25}[cfg.TLS]
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp.port: %d is not a port", cfg.Port)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp.from: %q is not an email address: %w", cfg.From, err)
	}
	for i, a := range cfg.Admins {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("smtp.admins[%d]: %q is not an email address: %w", i, a, err)
		}
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("smtp.username: is empty but a password is set; set both or neither")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Mailer{cfg: cfg, from: cfg.From, domain: domain}, nil
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Admins are the addresses alerts go to.
func (m *Mailer) Admins() []string { return slices.Clone(m.cfg.Admins) }

// client builds a go-mail client for one conversation; clients are cheap and keeping
// one per send keeps concurrent senders (alerts, sign-in codes) independent.
func (m *Mailer) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(m.cfg.Port),
		gomail.WithTimeout(m.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: strings.Trim(m.cfg.Host, "[]"), RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	auth := gomail.SMTPAuthAutoDiscover
	switch m.cfg.TLS {
	case SMTPStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case SMTPImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case SMTPNoTLS:
		// Discovery refuses clear-text mechanisms without TLS; on loopback PLAIN is
		// what local relays offer, and nothing leaves the machine.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		auth = gomail.SMTPAuthPlain
	}
	if m.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	return gomail.NewClient(m.cfg.Host, opts...)
}

// SendMail sends one message with a text body and, when html is not empty, an HTML
// alternative.
func (m *Mailer) SendMail(ctx context.Context, to []string, subject, text, html string) error {
	return m.send(ctx, to, subject, text, html, "", nil)
}

// SendTest sends a test message to the given addresses, or to the admins when none
// are given, so an admin can check the SMTP settings from the admin page.
func (m *Mailer) SendTest(ctx context.Context, to []string) error {
	if len(to) == 0 {
		to = m.cfg.Admins
	}
	if len(to) == 0 {
		return errors.New("smtp: no address to send a test message to (smtp admins are empty)")
	}
	a := testAlert(time.Now())
	return m.SendMail(ctx, to, "[jfguard] "+a.Title, a.Text(), a.HTML())
}

// send builds and delivers one message. msgID, when set, makes the Message-ID stable
// across retries so mail clients can fold a duplicate delivery into one message.
func (m *Mailer) send(ctx context.Context, to []string, subject, text, html, msgID string, header map[string]string) error {
	if len(to) == 0 {
		return errors.New("smtp: no recipients")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(m.from); err != nil {
		return fmt.Errorf("smtp: from address: %w", err)
	}
	if err := msg.To(to...); err != nil {
		return fmt.Errorf("smtp: recipient: %w", err)
	}
	msg.Subject(clean(subject))
	msg.SetDate()
	if msgID != "" {
		msg.SetMessageIDWithValue(msgID + "@" + m.domain)
	} else {
		msg.SetMessageID()
	}
	msg.SetUserAgent("jfguard")
	for k, v := range header {
		msg.SetGenHeader(gomail.Header(k), v)
	}
	msg.SetBodyString(gomail.TypeTextPlain, text)
	if html != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	c, err := m.client()
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: send via %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}

// emailSink mails alerts to the admins and, for events about a user who has a
// confirmed address, to that user. The two are separate messages: a user never sees
// the admins' addresses, and a retry after one of them failed does not send the
// other twice.
type emailSink struct {
	m         *Mailer
	addressOf func(ctx context.Context, userID string) (string, bool)

	mu   sync.Mutex
	done map[string]map[string]bool // event id → recipient groups already sent
}

func (e *emailSink) Name() string { return "email" }

// maxPartial bounds the memory of half-delivered alerts; it only ever holds alerts
// whose delivery is being retried.
const maxPartial = 1024

// Send mails the alert to every recipient group not yet served for this event.
func (e *emailSink) Send(ctx context.Context, a Alert) error {
	type group struct {
		key string
		to  []string
	}
	var groups []group
	if len(e.m.cfg.Admins) > 0 {
		groups = append(groups, group{"admins", e.m.cfg.Admins})
	}
	if a.UserID != "" && e.addressOf != nil {
		if addr, ok := e.addressOf(ctx, a.UserID); ok && addr != "" && !containsFold(e.m.cfg.Admins, addr) {
			groups = append(groups, group{"user", []string{addr}})
		}
	}
	subject := "[jfguard] " + a.Title
	for _, g := range groups {
		if e.sent(a.ID, g.key) {
			continue
		}
		hdr := map[string]string{HeaderEventID: a.ID, HeaderEventType: string(a.Type)}
		if err := e.m.send(ctx, g.to, subject, a.Text(), a.HTML(), a.ID+"."+g.key, hdr); err != nil {
			return err
		}
		e.mark(a.ID, g.key)
	}
	e.mu.Lock()
	delete(e.done, a.ID)
	e.mu.Unlock()
	return nil
}

func (e *emailSink) sent(id, group string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done[id][group]
}

func (e *emailSink) mark(id, group string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done == nil || len(e.done) >= maxPartial {
		e.done = map[string]map[string]bool{}
	}
	if e.done[id] == nil {
		e.done[id] = map[string]bool{}
	}
	e.done[id][group] = true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if a, err := mail.ParseAddress(v); err == nil && strings.EqualFold(a.Address, s) {
			return true
		}
	}
	return false
}
