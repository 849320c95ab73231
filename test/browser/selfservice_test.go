package browser

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jfguard/jfguard/events"
)

// mailbox is a plain SMTP server on loopback (jfguard's smtp.tls "none", which is
// allowed only to this machine) that keeps every message it accepts.
type mailbox struct {
	port int
	mu   sync.Mutex
	got  []string // raw messages
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{mb: mb}, nil }))
	srv.Domain = "mail.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

// settings are jfguard's smtp settings for this server.
func (mb *mailbox) settings() map[string]string {
	return map[string]string{"smtp.host": "127.0.0.1", "smtp.port": fmt.Sprint(mb.port), "smtp.tls": "none", "smtp.from": "Jellyfin <jellyfin@example.org>"}
}

var codeSubject = regexp.MustCompile(`(?m)^Subject: Your Jellyfin sign-in code: ([0-9]{6})\r?$`)

// nextCode waits for the next sign-in code mailed to an address after the first
// `seen` messages, and returns it with the new count.
func (mb *mailbox) nextCode(t *testing.T, to string, seen int) (string, int) {
	t.Helper()
	deadline := time.Now().Add(step)
	for time.Now().Before(deadline) {
		mb.mu.Lock()
		msgs := append([]string(nil), mb.got...)
		mb.mu.Unlock()
		for i := seen; i < len(msgs); i++ {
			if m := codeSubject.FindStringSubmatch(msgs[i]); m != nil && strings.Contains(msgs[i], to) {
				return m[1], i + 1
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no code mailed to %s within %s", to, step)
	return "", seen
}

func (mb *mailbox) count() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(mb.got)
}

type mailboxSession struct {
	mb  *mailbox
	buf bytes.Buffer
}

func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailboxSession) Reset()                               { s.buf.Reset() }
func (s *mailboxSession) Logout() error                        { return nil }
func (s *mailboxSession) Data(r io.Reader) error {
	if _, err := io.Copy(&s.buf, r); err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.got = append(s.mb.got, s.buf.String())
	s.mb.mu.Unlock()
	return nil
}

// appSignIn signs in the way a TV app does, with a password typed in its password
// field; it returns the status and the token.
func (st *stack) appSignIn(t *testing.T, password string) (int, string) {
	t.Helper()
	return st.tvSignIn(t, password, "tv-app-password", "Living room TV")
}

var appPasswordFormat = regexp.MustCompile(`^jfg_[0-9a-z]{12}_[0-9a-z]{26}$`)

// TestSetupEmailAndAppPasswords uses the setup page's email section (add an address,
// confirm it with the code that arrives, sign in with an emailed code, see when a new
// code can be sent, remove the address proving it with an emailed code) and its app
// passwords (create one, shown once, sign a TV in with it, see its last use, revoke
// it).
func TestSetupEmailAndAppPasswords(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	st := startStack(t, mb.settings())
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowser(t)
	b.webSignInWithCode(st, secret)

	// Add an address: a code arrives, and confirming it turns email codes on.
	const address = "alice@example.org"
	b.navigate(st.URL + "/jfguard/setup")
	b.visible("#email-add")
	b.fill("#email-address", address)
	b.click("#email-add button[type=submit]")
	code, seen := mb.nextCode(t, address, 0)
	b.visible("#email-confirm")
	if got := b.text("#email-text"); !strings.Contains(got, address) {
		t.Errorf("waiting for the code, the page says %q", got)
	}
	b.screenshot("setup-email-confirm")
	b.fill("#email-code", code)
	b.click("#email-confirm button[type=submit]")
	b.waitFor("the confirmed address", `document.getElementById('email-badge').textContent==='On'&&!document.getElementById('email-actions').hidden`)
	if got := b.text("#email-text"); !strings.Contains(got, "Codes go to "+address) {
		t.Errorf("after confirming, the page says %q", got)
	}

	// An app password, shown once, with how to use it.
	b.fill("#apppassword-label", "Living room TV")
	b.click("#apppassword-add button[type=submit]")
	b.visible("#apppassword-created")
	plain := b.text("#apppassword-value")
	if !appPasswordFormat.MatchString(plain) {
		t.Fatalf("the app password shown is %q", plain)
	}
	if note := b.text("#apppassword-note"); !strings.Contains(note, "alice") || !strings.Contains(note, "password field") || !strings.Contains(note, "only now") {
		t.Errorf("the note says %q", note)
	}
	b.waitFor("the new app password in the list", `document.querySelectorAll('#apppasswords-list .row').length===1`)
	b.screenshot("setup-app-password-created")
	b.click("#apppassword-copy")
	b.waitFor("the copy", `document.getElementById('apppassword-copy').textContent==='Copied'`)
	b.click("#apppassword-done")
	b.waitFor("the app password to leave the page", `document.getElementById('apppassword-created').hidden&&document.getElementById('apppassword-value').textContent===''`)
	b.navigate(st.URL + "/jfguard/setup")
	b.visible("#apppasswords-list .row")
	if eval[bool](b, fmt.Sprintf(`document.body.innerHTML.indexOf(%q)>=0`, plain)) {
		t.Error("the app password shows again after a reload")
	}

	// A TV signs in with it; the list shows the use.
	code2, tvToken := st.appSignIn(t, plain)
	if code2 != 200 || st.gatewayStatus(t, tvToken) != 200 {
		t.Fatalf("TV sign-in with the app password: %d", code2)
	}
	b.navigate(st.URL + "/jfguard/setup")
	b.waitFor("the app password's last use", `document.querySelector('#apppasswords-list .row-meta').textContent.indexOf('last used')>=0`)
	b.screenshot("setup-app-password-used")

	// Sign in with an emailed code on the challenge page.
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in led to %s", got)
	}
	b.click("[data-switch=email]")
	b.click("[data-send-email]")
	code, seen = mb.nextCode(t, address, seen)
	b.fill("#code-email", code)
	b.click("#method-email button[type=submit]")
	b.signedInAs("alice")
	if v := lastEvent[*events.FactorVerified](t, st, st.Alice.ID); v == nil || v.Method != "email" {
		t.Errorf("factor_verified %+v", v)
	}

	// Three codes in ten minutes: the fourth waits, and the page says how long.
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in led to %s", got)
	}
	b.click("[data-switch=email]")
	b.click("[data-send-email]")
	_, seen = mb.nextCode(t, address, seen)
	b.waitFor("the send button back", `!document.querySelector('[data-send-email]').disabled&&document.querySelector('[data-send-email]').getAttribute('aria-busy')===null`)
	b.click("[data-send-email]")
	b.waitFor("the wait", `!document.getElementById('email-wait').hidden&&document.querySelector('[data-send-email]').disabled`)
	if got := b.text("#email-wait"); !strings.HasPrefix(got, "A new code can be sent in ") {
		t.Errorf("the wait says %q", got)
	}
	b.screenshot("challenge-email-wait")
	if mb.count() != seen {
		t.Errorf("a code was sent past the limit")
	}
	st.Clock.nextStep()
	b.click("[data-switch=totp]")
	b.fill("#code-totp", st.code(t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("alice")

	// Ten minutes later, remove the address, proving it with an emailed code.
	st.Clock.offset.Add(int64(11 * time.Minute))
	b.navigate(st.URL + "/jfguard/setup")
	b.click("#email-remove")
	b.visible("#email-proof [data-proof-email]")
	b.click("#email-proof [data-proof-email]")
	code, _ = mb.nextCode(t, address, seen)
	b.waitFor("the sent note", `document.querySelector('#email-proof .sent').textContent.indexOf('We emailed you a code')===0`)
	b.screenshot("setup-email-remove")
	b.fill("#email-proof-code", code)
	b.click("#email-proof button[type=submit]")
	b.waitFor("the address to go", `document.getElementById('email-badge').textContent==='Not set up'&&!document.getElementById('email-add').hidden`)
	if v := lastEvent[*events.FactorVerified](t, st, st.Alice.ID); v == nil || v.Method != "email" || v.Purpose != "remove_email" {
		t.Errorf("the removal was proved by %+v", v)
	}
	if lastEvent[*events.EmailAddressRemoved](t, st, st.Alice.ID) == nil {
		t.Error("no email_address_removed")
	}

	// Revoke the app password: the TV's password no longer signs in.
	// Her second step is eleven minutes old: revoking asks for it again.
	b.click("#apppasswords-list .row-actions button")
	b.stepUp(st, secret)
	b.waitFor("the app password to go", `document.querySelectorAll('#apppasswords-list .row').length===0&&!document.getElementById('notice').hidden`)
	if code, _ := st.appSignIn(t, plain); code != 401 {
		t.Errorf("a revoked app password signed in with %d", code)
	}
}
