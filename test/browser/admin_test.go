package browser

import (
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ntfyServer stands in for an ntfy server and keeps the title of every alert it is
// sent.
type ntfyServer struct {
	*httptest.Server
	mu     sync.Mutex
	titles []string
}

func startNtfy(t *testing.T) *ntfyServer {
	t.Helper()
	n := &ntfyServer{}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		title, err := new(mime.WordDecoder).DecodeHeader(r.Header.Get("Title"))
		if err != nil {
			title = r.Header.Get("Title")
		}
		n.mu.Lock()
		n.titles = append(n.titles, title)
		n.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(n.Close)
	return n
}

func (n *ntfyServer) got(title string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.titles {
		if t == title {
			return true
		}
	}
	return false
}

// localInput is the JavaScript that writes an instant as a datetime-local input's
// value, in the browser's time zone, as a person would pick it.
func localInput(at time.Time) string {
	return fmt.Sprintf(`(function(d){var p=function(n){return (n<10?'0':'')+n};return d.getFullYear()+'-'+p(d.getMonth()+1)+'-'+p(d.getDate())+'T'+p(d.getHours())+':'+p(d.getMinutes())+':'+p(d.getSeconds())})(new Date(%q))`, at.UTC().Format(time.RFC3339))
}

// pageShot saves a screenshot of the whole admin page from its top: the section
// list stays in view as the page scrolls, so a page captured while scrolled would
// show it halfway down.
func (b *browser) pageShot(name string) {
	b.t.Helper()
	eval[bool](b, `(function(){window.scrollTo(0, 0);return true})()`)
	b.screenshot(name)
}

// TestAdminPage follows an administrator through the admin page: alice's sign-ins on
// the timeline, a filter by type, a new sign-in arriving live, a replay to before
// alice set up her authenticator app, a device revoked, an address banned and
// unbanned, a setting refused and then changed for good, a test alert and email,
// the audit log verified, and alice's factors reset. Alice herself, and a browser
// without a session, get a refusal.
func TestAdminPage(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	ntfy := startNtfy(t)
	settings := mb.settings()
	settings["notify.ntfy.url"] = ntfy.URL
	settings["notify.ntfy.topic"] = "jellyfin"
	settings["notify.allow_private_hosts"] = "127.0.0.1"
	st := startStack(t, settings)

	// alice signs in once with her password alone, then sets up an authenticator app
	// two minutes later: the replay below goes back to between the two.
	var first struct{ AccessToken string }
	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": "alice", "Pw": alicePassword}, &first); c != 200 {
		t.Fatalf("alice's first sign-in: status %d", c)
	}
	st.Clock.nextStep()
	beforeEnrolling := st.Clock.Now()
	st.Clock.nextStep()
	st.Clock.nextStep()
	st.Clock.nextStep()
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)

	// A browser without a Jellyfin session is asked to sign in; alice, signed in
	// with her code, is told the page is for administrators.
	ab := newBrowser(t)
	ab.navigate(st.URL + "/jfguard/admin")
	ab.visible("#state-signed-out")
	if got := ab.text("#signed-out-heading"); got != "Sign in to Jellyfin first" {
		t.Errorf("without a session the page says %q", got)
	}
	ab.webSignInWithCode(st, secret)
	ab.navigate(st.URL + "/jfguard/admin")
	ab.visible("#state-refused")
	if got := ab.text("#refused-heading"); got != "Administrators only" {
		t.Errorf("alice is told %q", got)
	}
	if got := ab.text("#refused-text"); !strings.Contains(got, "alice") {
		t.Errorf("the refusal does not name alice: %q", got)
	}
	if eval[bool](ab, `!document.getElementById('state-ready').hidden||document.getElementById('timeline-body').rows.length>0`) {
		t.Error("alice sees the admin sections")
	}
	ab.screenshot("admin-refused")

	// A TV waits for alice's approval; she approves it and it signs in.
	if code, _ := st.nativeSignIn(t, "tv-admin-test", "Living Room TV"); code != 401 {
		t.Fatalf("the TV signed in with %d before approval", code)
	}
	var waiting struct{ Pairings []struct{ ID string } }
	if c := st.apiCall(t, "GET", "/jfguard/api/me/pairings", ab.token(), nil, &waiting); c != 200 || len(waiting.Pairings) != 1 {
		t.Fatalf("alice's pairings: status %d, %v", c, waiting.Pairings)
	}
	if c := st.apiCall(t, "POST", "/jfguard/api/me/pairings/"+waiting.Pairings[0].ID+"/approve", ab.token(), struct{}{}, nil); c != 200 {
		t.Fatalf("approve the TV: status %d", c)
	}
	code, tvToken := st.nativeSignIn(t, "tv-admin-test", "Living Room TV")
	if code != 200 {
		t.Fatalf("the approved TV's sign-in: status %d", code)
	}

	// Someone tries alice's account with a wrong password.
	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": "alice", "Pw": "guess"}, nil); c != 401 {
		t.Fatalf("a wrong password: status %d, want 401", c)
	}

	// The administrator signs in with the web app and opens the admin page.
	b := newBrowser(t)
	b.openAdminPage(st)
	if got := b.text("#admin-name"); got != "admin" {
		t.Errorf("the page is signed in as %q", got)
	}

	// Timeline: alice's sign-ins, in words, and none of the hidden fields.
	b.waitFor("alice's sign-in events", `['challenge_issued','factor_verified','session_verified'].every(function(t){return !!document.querySelector('#timeline-body tr[data-user="alice"][data-type="'+t+'"]')})`)
	if got := b.text(`#timeline-body tr[data-user="alice"][data-type="factor_verified"] .badge`); got != "Second step passed" {
		t.Errorf("factor_verified reads %q", got)
	}
	if got := b.text(`#timeline-body tr[data-user="alice"][data-type="factor_verified"] .kv`); !strings.Contains(got, "method") || !strings.Contains(got, "totp") {
		t.Errorf("factor_verified's details read %q", got)
	}
	if got := b.text(`#timeline-body tr[data-type="sign_in_failed"] td[data-label="User"]`); got != "alice" {
		t.Errorf("the failed sign-in names %q, want the name typed, alice", got)
	}
	if text := b.text("#timeline"); strings.Contains(text, "token hash") || strings.Contains(text, "secret") || strings.Contains(text, "v1.") {
		t.Errorf("the timeline shows hidden fields: %s", text)
	}
	b.docViewport("admin-timeline", "admin")

	// Filter by type: only that type is left.
	eval[bool](b, `(function(){var s=document.getElementById('filter-type');s.value='session_verified';s.dispatchEvent(new Event('change'));return true})()`)
	b.waitFor("only sign-ins", `(function(){var r=document.querySelectorAll('#timeline-body tr');return r.length>=3&&Array.prototype.every.call(r,function(x){return x.getAttribute('data-type')==='session_verified'})})()`)
	b.pageShot("admin-timeline-filtered")
	b.click("#filter-clear")
	b.waitFor("every type again", `document.querySelectorAll('#timeline-body tr:not([data-type="session_verified"])').length>0`)

	// Live: alice's next sign-in appears at the top without a reload.
	b.click("#live")
	b.waitFor("the live feed", `document.getElementById('live').classList.contains('is-connected')`)
	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": "alice", "Pw": alicePassword}, nil); c != 401 {
		t.Fatalf("alice's sign-in without a code: status %d, want 401", c)
	}
	b.waitFor("the new sign-in, live", `(function(){var r=document.querySelector('#timeline-body tr.is-new[data-user="alice"][data-type="challenge_issued"]');return !!r&&r.parentNode.rows[0].classList.contains('is-new')})()`)
	b.pageShot("admin-timeline-live")
	b.click("#live")
	b.waitFor("the live feed off", `document.getElementById('live').getAttribute('aria-checked')==='false'`)

	// Replay to before alice set up her app: she is there, without a factor.
	b.click("#tab-replay")
	b.visible("#replay-form")
	eval[bool](b, `(function(){document.getElementById('replay-at').value=`+localInput(beforeEnrolling)+`;return true})()`)
	b.click("#replay-form button[type=submit]")
	b.waitFor("the replay", `!document.getElementById('replay-result').hidden&&!!document.querySelector('#replay-users tr[data-user="alice"]')`)
	if got := b.text(`#replay-users tr[data-user="alice"] td[data-label="Factors"]`); got != "None" {
		t.Errorf("alice's factors before she enrolled read %q, want None", got)
	}
	if eval[bool](b, `!!document.querySelector('#replay-users tr[data-user="admin"]')`) {
		t.Error("the admin, who signed in later, is in the replay")
	}
	b.pageShot("admin-replay")
	eval[bool](b, `(function(){document.getElementById('replay-at').value=`+localInput(st.Clock.Now().Add(time.Second))+`;return true})()`)
	b.click("#replay-form button[type=submit]")
	b.waitFor("the replay of now", `/Authenticator/.test(document.querySelector('#replay-users tr[data-user="alice"] td[data-label="Factors"]').textContent)`)

	// Users and their devices: the TV is revoked and signed out.
	b.click("#tab-users")
	b.waitFor("the users", `!!document.querySelector('#users tr[data-user="alice"]')&&!!document.querySelector('#users tr[data-user="admin"]')`)
	if got := b.text(`#users tr[data-user="alice"] td[data-label="Two-factor"]`); !strings.Contains(got, "Authenticator") {
		t.Errorf("alice's factors read %q", got)
	}
	b.pageShot("admin-users")
	eval[bool](b, `(function(){document.querySelector('#users tr[data-user="alice"] .cell-actions button').click();return true})()`)
	b.waitFor("alice's devices", `document.getElementById('tab-devices').getAttribute('aria-selected')==='true'&&document.querySelectorAll('#devices-paired .row').length===1`)
	if got := b.text("#devices-paired .row-name"); got != "Living Room TV" {
		t.Errorf("alice's paired device is %q", got)
	}
	b.pageShot("admin-devices")
	b.click("#devices-paired .row-actions button")
	b.waitFor("the TV revoked", `document.querySelectorAll('#devices-paired .row').length===0&&!document.getElementById('notice').hidden`)
	if got := st.gatewayStatus(t, tvToken); got != 401 {
		t.Errorf("the revoked TV's token gets %d, want 401", got)
	}

	// Bans: a bad address is explained inline; a good one is banned and unbanned.
	b.click("#tab-bans")
	b.fill("#ban-ip", "not-an-address")
	b.click("#ban-form button[type=submit]")
	b.waitFor("the inline error", `!document.querySelector('#ban-form .field-error').hidden&&document.getElementById('ban-ip').getAttribute('aria-invalid')==='true'`)
	b.fill("#ban-ip", "203.0.113.7")
	b.fill("#ban-reason", "Password spraying")
	b.click("#ban-form button[type=submit]")
	b.waitFor("the ban", `!!document.querySelector('#bans tr[data-ip="203.0.113.7"]')`)
	if got := b.text(`#bans tr[data-ip="203.0.113.7"] td[data-label="Reason"]`); got != "Password spraying" {
		t.Errorf("the ban's reason reads %q", got)
	}
	b.pageShot("admin-bans")
	b.click(`#bans tr[data-ip="203.0.113.7"] button`)
	b.waitFor("the ban lifted", `!document.querySelector('#bans tr[data-ip="203.0.113.7"]')&&!document.getElementById('bans-empty').hidden`)

	// Settings: an out-of-range value is refused beside its field; a good one stays.
	b.click("#tab-settings")
	const days = "#setting-security-trust-cookie-days"
	b.visible(days)
	if got := eval[string](b, `document.querySelector('`+days+`').value`); got != "30" {
		t.Errorf("trust_cookie_days shows %q, want 30", got)
	}
	b.fill(days, "400")
	b.click("#settings-form button[type=submit]")
	b.waitFor("the setting's error", `!document.querySelector('.setting[data-key="security.trust_cookie_days"] .field-error').hidden`)
	if got := b.text(`.setting[data-key="security.trust_cookie_days"] .field-error`); !strings.Contains(got, "1 to 365") {
		t.Errorf("the refusal reads %q", got)
	}
	b.pageShot("admin-settings-error")
	b.fill(days, "14")
	b.click("#settings-form button[type=submit]")
	b.waitFor("the setting saved", `!document.getElementById('notice').hidden&&document.querySelector('.setting[data-key="security.trust_cookie_days"] .field-error').hidden`)
	b.navigate(st.URL + "/jfguard/admin#settings")
	b.visible(days)
	b.waitFor("the saved value after a reload", `document.querySelector('`+days+`').value==='14'`)
	b.pageShot("admin-settings")

	// Alerts: a test alert to ntfy and a test email.
	b.click("#tab-alerts")
	b.waitFor("the ntfy destination", `Array.prototype.some.call(document.querySelectorAll('#sinks .row-name'),function(e){return e.textContent==='ntfy'})`)
	eval[bool](b, `(function(){Array.prototype.filter.call(document.querySelectorAll('#sinks .row'),function(r){return r.querySelector('.row-name').textContent==='ntfy'})[0].querySelector('button').click();return true})()`)
	b.waitFor("the test alert sent", `!document.getElementById('notice').hidden`)
	if !ntfy.got("jfguard test alert") {
		t.Error("ntfy received no test alert")
	}
	mails := mb.count()
	b.fill("#test-email-to", "ops@example.org")
	b.click("#test-email button[type=submit]")
	b.waitFor("the test email sent", `!document.getElementById('notice').hidden&&/ops@example.org/.test(document.getElementById('notice').textContent)`)
	if mb.count() <= mails {
		t.Error("no test email arrived")
	}
	b.pageShot("admin-alerts")

	// The audit log verifies.
	b.click("#tab-audit")
	b.waitFor("the public key", `document.getElementById('public-key').textContent.length>20`)
	b.click("#verify-run")
	b.waitFor("the verification", `!document.getElementById('verify').hidden`)
	if got := b.text("#verify-title"); got != "The audit log is intact" {
		t.Errorf("verification says %q: %s", got, b.text("#verify-detail"))
	}
	b.pageShot("admin-audit")

	// Reset alice, after confirming in the dialog: her factors are gone.
	b.click("#tab-users")
	b.waitFor("the users", `!!document.querySelector('#users tr[data-user="alice"]')`)
	eval[bool](b, `(function(){Array.prototype.filter.call(document.querySelectorAll('#users tr[data-user="alice"] .cell-actions button'),function(x){return x.textContent==='Reset'})[0].click();return true})()`)
	b.waitFor("the reset dialog", `document.getElementById('reset-dialog').open&&document.activeElement===document.getElementById('reset-reason')`)
	b.fill("#reset-reason", "Lost phone")
	b.pageShot("admin-reset-dialog")
	b.click("#reset-confirm")
	b.waitFor("alice reset", `!document.getElementById('reset-dialog').open&&document.querySelector('#users tr[data-user="alice"] td[data-label="Two-factor"]').textContent==='None'`)

	// On a phone, in the dark, the timeline still fits the screen.
	b.navigate(st.URL + "/jfguard/admin")
	b.waitFor("the timeline", `document.querySelectorAll('#timeline-body tr').length>0`)
	b.colorScheme("dark")
	b.phone()
	b.viewportScreenshot("admin-timeline-phone-dark")
	b.colorScheme("light")
	b.desktop()
}
