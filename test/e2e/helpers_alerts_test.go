package e2e

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jfguard/jfguard/events"
)

// mailbox is a real SMTP server (emersion/go-smtp) on loopback that keeps every
// message it accepts: jfguard sends to it with smtp.tls "none", which it allows only
// to a server on the same machine.
type mailbox struct {
	port int
	mu   sync.Mutex
	msgs []mailMessage
}

// mailMessage is one accepted message.
type mailMessage struct {
	to      []string
	subject string
	header  mail.Header
	body    string // the text/plain part, decoded
}

// startMailbox runs the SMTP server until the test ends.
func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailboxSession{mb: mb}, nil
	}))
	s.Domain = "mail.test"
	s.ErrorLog = quietLog{}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return mb
}

// settings are the smtp.* settings that send to this server, with the admins who
// receive alerts.
func (mb *mailbox) settings(admins ...string) map[string]string {
	return map[string]string{
		"smtp.host":   "127.0.0.1",
		"smtp.port":   strconv.Itoa(mb.port),
		"smtp.tls":    "none",
		"smtp.from":   "jfguard <jfguard@example.com>",
		"smtp.admins": strings.Join(admins, ","),
	}
}

// quietLog drops the SMTP server's log of closed connections.
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

type mailboxSession struct {
	mb *mailbox
	to []string
}

func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := textPart(msg)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, mailMessage{to: s.to, subject: subject, header: msg.Header, body: string(body)})
	s.mb.mu.Unlock()
	return nil
}

func (s *mailboxSession) Reset()        { s.to = nil }
func (s *mailboxSession) Logout() error { return nil }

// textPart returns the decoded text/plain part of a message (the whole body when it
// is not multipart).
func textPart(msg *mail.Message) (string, error) {
	media, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(media, "multipart/") {
		b, err := io.ReadAll(msg.Body)
		return string(b), err
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err != nil {
			return "", fmt.Errorf("no text/plain part: %w", err)
		}
		// The reader undoes quoted-printable itself.
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(p)
			return string(b), err
		}
	}
}

// messages returns the messages to one address (all of them when to is empty).
func (mb *mailbox) messages(to string) []mailMessage {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []mailMessage
	for _, m := range mb.msgs {
		for _, rcpt := range m.to {
			if to == "" || strings.EqualFold(rcpt, to) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// codePrefix starts the subject of every email carrying a code.
const codePrefix = "Your Jellyfin sign-in code: "

// codes returns the codes emailed to an address, oldest first. Codes are mailed
// before the request that asked for them is answered, so no waiting is needed.
func (mb *mailbox) codes(to string) []string {
	var out []string
	for _, m := range mb.messages(to) {
		if code, ok := strings.CutPrefix(m.subject, codePrefix); ok {
			out = append(out, code)
		}
	}
	return out
}

// lastCode is the newest code emailed to an address.
func (mb *mailbox) lastCode(t *testing.T, to string) string {
	t.Helper()
	codes := mb.codes(to)
	if len(codes) == 0 {
		t.Fatalf("no code was emailed to %s", to)
	}
	return codes[len(codes)-1]
}

// waitMessage waits, for a bounded time, for a message to an address whose subject
// has a prefix (alerts are sent from the stream, after the request).
func (mb *mailbox) waitMessage(t *testing.T, to, subjectPrefix string) mailMessage {
	t.Helper()
	var found mailMessage
	eventually(t, "an email to "+to+" titled "+subjectPrefix, func() bool {
		for _, m := range mb.messages(to) {
			if strings.HasPrefix(m.subject, subjectPrefix) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// inStream reports whether a code occurs in the stream bytes as a number of its own
// (not inside a longer run of digits or letters, as in a hash or a timestamp).
func inStream(stream []byte, code string) bool {
	return regexp.MustCompile(`(^|[^0-9A-Za-z.])` + regexp.QuoteMeta(code) + `([^0-9A-Za-z]|$)`).Match(stream)
}

// hook is a webhook receiver on loopback. respond decides each answer's status from
// the number of earlier requests of the same event type (200 when nil).
type hook struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []hookRequest
	respond func(eventType string, earlier int) int
}

// hookRequest is one request the receiver got, with the status it answered.
type hookRequest struct {
	header http.Header
	body   []byte
	status int
}

func startHook(t *testing.T, respond func(eventType string, earlier int) int) *hook {
	t.Helper()
	h := &hook{respond: respond}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		typ := r.Header.Get("X-Jfguard-Event-Type")
		h.mu.Lock()
		earlier := 0
		for _, q := range h.reqs {
			if q.header.Get("X-Jfguard-Event-Type") == typ {
				earlier++
			}
		}
		status := http.StatusOK
		if h.respond != nil {
			status = h.respond(typ, earlier)
		}
		h.reqs = append(h.reqs, hookRequest{header: r.Header.Clone(), body: body, status: status})
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

// requests returns the requests of one event type, in order.
func (h *hook) requests(eventType events.Type) []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookRequest
	for _, q := range h.reqs {
		if q.header.Get("X-Jfguard-Event-Type") == string(eventType) {
			out = append(out, q)
		}
	}
	return out
}

// writeSettings writes a YAML settings file for the test and returns its path.
func writeSettings(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jfguard.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
