package browser

import (
	"regexp"
	"strings"
	"testing"
)

var recoveryCodeFormat = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

// TestWebAppTwoFactor follows one person through Jellyfin's web app: sign in without
// two-factor, enroll an authenticator app on the setup page, sign in with a code,
// trust the browser, revoke it, sign in with a recovery code once, and fail with a
// wrong or used code without any token reaching the browser.
func TestWebAppTwoFactor(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	b := newBrowser(t)

	// 1. Sign in through the web app; no second factor yet.
	b.navigate(st.URL + "/web/")
	b.waitFor("the web app's sign-in form", onLogin)
	b.screenshot("webapp-signin")
	if got := b.webSignIn(st, "alice", alicePassword); got != "home" {
		t.Fatalf("sign-in without two-factor led to %s, want the web app's home", got)
	}
	b.signedInAs("alice")

	// jfguard's script shows its link while the web app holds a session.
	b.visible("#jfguard-settings-link")
	b.screenshot("webapp-home")
	b.click("#jfguard-settings-link")
	b.waitFor("the setup page", `location.pathname==='/jfguard/setup'`)
	b.visible("#state-ready")
	if got := b.text("#status-title"); got != "Two-factor sign-in is off" {
		t.Errorf("status before enrolling = %q", got)
	}
	if got := b.text("#user-name"); got != "alice" {
		t.Errorf("setup page names %q, want alice", got)
	}
	b.screenshot("setup-before-enroll")

	// Enroll: the QR code shows, the secret is readable on the page.
	b.click("#totp-start")
	b.visible("#enroll")
	b.waitFor("the QR code", `document.getElementById('enroll-qr').src.indexOf('data:image/png;base64,')===0&&document.getElementById('enroll-qr').naturalWidth>0`)
	secret := strings.ReplaceAll(b.text("#enroll-secret"), " ", "")
	if len(secret) != 32 {
		t.Fatalf("secret on the page = %q, want 32 base32 characters", secret)
	}
	b.docScreenshot("setup-enroll-qr", "enroll")
	b.phone()
	// On a phone the authenticator app is on the same device: a link opens it.
	b.waitFor("the link to the phone's authenticator app", `document.getElementById('enroll-open').offsetParent!==null&&document.getElementById('enroll-open').href.indexOf('otpauth://totp/')===0`)
	b.screenshot("setup-enroll-qr-phone")
	b.desktop()

	// A typo is refused inline and enrollment stays open.
	b.fill("#enroll-code", wrongCode(st.code(t, secret)))
	b.click("#enroll-form button[type=submit]")
	b.waitFor("the enrollment error", `!document.querySelector('#enroll-form .field-error').hidden`)
	b.fill("#enroll-code", st.code(t, secret))
	b.click("#enroll-form button[type=submit]")
	b.visible("#codes")
	codes := eval[[]string](b, `Array.from(document.querySelectorAll('#codes-list li')).map(function(li){return li.textContent})`)
	if len(codes) != 10 {
		t.Fatalf("recovery codes shown = %d, want 10", len(codes))
	}
	for _, c := range codes {
		if !recoveryCodeFormat.MatchString(c) {
			t.Fatalf("recovery code %q is not in the shown format", c)
		}
	}
	b.docScreenshot("setup-recovery-codes", "recovery-codes")
	b.printMedia(true)
	if !eval[bool](b, `getComputedStyle(document.querySelector('.site-header')).display==='none'&&getComputedStyle(document.getElementById('totp')).display==='none'&&document.getElementById('codes-list').offsetHeight>0`) {
		t.Error("printing the recovery codes prints more than the codes")
	}
	b.screenshot("setup-recovery-codes-print")
	b.printMedia(false)
	b.click("#codes-download")
	file, err := b.downloaded("jellyfin-recovery-codes.txt")
	if err != nil {
		b.fail("Download gave no file: %v", err)
	}
	for _, c := range codes {
		if !strings.Contains(string(file), c) {
			t.Fatalf("the downloaded file lacks %s:\n%s", c, file)
		}
	}
	b.click("#codes-done")
	b.waitFor("the overview after enrolling", `document.getElementById('status-title').textContent==='Two-factor sign-in is on'`)
	if eval[int](b, `document.querySelectorAll('#codes-list li').length`) != 0 {
		t.Error("the recovery codes stay in the page after “I have saved them”")
	}

	// 2. Sign out and in again: the challenge page asks for the code.
	st.Clock.nextStep()
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in with two-factor led to %s, want the challenge page", got)
	}
	b.visible("#code-totp")
	if got := eval[string](b, `document.activeElement.id`); got != "code-totp" {
		t.Errorf("focus on the challenge page is on %q, want the code field", got)
	}
	if got := eval[string](b, `document.getElementById('code-totp').getAttribute('autocomplete')+' '+document.getElementById('code-totp').getAttribute('inputmode')`); got != "one-time-code numeric" {
		t.Errorf("code field autocomplete/inputmode = %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#method-passkey, #method-email').length`); n != 0 {
		t.Errorf("the challenge page offers %d passkey/email forms to a user who has neither", n)
	}
	b.docScreenshot("challenge", "challenge")
	b.phone()
	b.screenshot("challenge-phone")
	b.colorScheme("dark")
	b.screenshot("challenge-phone-dark")
	b.colorScheme("light")
	b.desktop()

	// 6. A wrong code: an error, and no token reaches the browser.
	held := st.newestToken(t, st.Alice.ID)
	b.fill("#code-totp", wrongCode(st.code(t, secret)))
	b.click("#method-totp button[type=submit]")
	b.waitFor("the error", `!document.getElementById('alert').hidden`)
	if got := b.text("#alert"); got != "That code did not work." {
		t.Errorf("wrong-code error = %q", got)
	}
	if tok := b.token(); tok != "" {
		t.Fatalf("after a wrong code the browser holds token %q", tok)
	}
	if code := st.gatewayStatus(t, held); code != 401 {
		t.Fatalf("the held token gets %d through jfguard after a wrong code, want 401", code)
	}
	b.screenshot("challenge-error")

	// The right code, with "trust this browser": back in the web app, signed in.
	b.click("#trust-totp")
	b.fill("#code-totp", st.code(t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("alice")
	creds := b.credentials()
	if len(creds.Servers) != 1 {
		t.Fatalf("jellyfin_credentials has %d servers, want 1", len(creds.Servers))
	}
	s := creds.Servers[0]
	switch {
	case s.ID != st.JF.ServerID():
		t.Errorf("server entry Id = %q, want the server's %q", s.ID, st.JF.ServerID())
	case s.AccessToken == nil || *s.AccessToken != held:
		t.Errorf("the web app got a token other than the one jfguard held")
	case s.UserID == nil || *s.UserID != st.Alice.ID:
		t.Errorf("server entry UserId = %v, want %s", s.UserID, st.Alice.ID)
	case s.ManualAddress != st.URL || s.LastConnectionMode != 2 || s.DateLastAccessed == 0 || s.Name != "Jellyfin":
		t.Errorf("server entry = %+v", s)
	}
	if code := st.gatewayStatus(t, held); code != 200 {
		t.Fatalf("the verified token gets %d through jfguard, want 200", code)
	}

	// 3. A trusted browser skips the challenge.
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "home" {
		t.Fatalf("sign-in from the trusted browser led to %s, want the web app's home", got)
	}
	b.signedInAs("alice")

	// 4. Revoke the browser on the setup page: the next sign-in is challenged.
	b.navigate(st.URL + "/jfguard/setup")
	b.visible("#browsers-list .row")
	if got := b.text("#browsers-list .row-badge"); got != "This browser" {
		t.Errorf("the trusted browser is marked %q, want “This browser”", got)
	}
	if got := b.text("#sessions-list .row-badge:not([hidden])"); got != "This browser" {
		t.Errorf("the current session is marked %q, want “This browser”", got)
	}
	b.docScreenshot("setup-trusted-browser", "setup")
	b.phone()
	b.screenshot("setup-trusted-browser-phone")
	b.colorScheme("dark")
	b.screenshot("setup-trusted-browser-phone-dark")
	b.colorScheme("light")
	b.desktop()
	// The trusted browser skipped the second step: revoking trust asks for it.
	b.click("#browsers-list .row-actions button")
	b.stepUp(st, secret)
	b.waitFor("the revoked browser to go", `document.querySelectorAll('#browsers-list .row').length===0&&!document.getElementById('notice').hidden`)
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in after revoking the browser led to %s, want the challenge page", got)
	}

	// 5. A recovery code signs in once.
	b.click("[data-switch=recovery]")
	b.visible("#code-recovery")
	b.screenshot("challenge-recovery")
	b.fill("#code-recovery", codes[0])
	b.click("#method-recovery button[type=submit]")
	b.signedInAs("alice")
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("second sign-in after revoking led to %s, want the challenge page", got)
	}
	held = st.newestToken(t, st.Alice.ID)
	b.click("[data-switch=recovery]")
	b.fill("#code-recovery", codes[0])
	b.click("#method-recovery button[type=submit]")
	b.waitFor("the error for a used recovery code", `!document.getElementById('alert').hidden`)
	if tok := b.token(); tok != "" {
		t.Fatalf("after a used recovery code the browser holds token %q", tok)
	}
	if code := st.gatewayStatus(t, held); code != 401 {
		t.Fatalf("the held token gets %d after a used recovery code, want 401", code)
	}
	b.fill("#code-recovery", strings.ToLower(codes[1]))
	b.click("#method-recovery button[type=submit]")
	b.signedInAs("alice")
}

// wrongCode returns a six-digit code that is not the given one.
func wrongCode(right string) string {
	b := []byte(right)
	for i := range b {
		b[i] = '0' + (b[i]-'0'+5)%10
	}
	return string(b)
}
