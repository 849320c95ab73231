package browser

import (
	"testing"
)

// TestLoginPage uses jfguard's own sign-in page: a wrong password gets one plain
// error, a user without a second factor lands in the web app signed in, and a user
// with one goes through the challenge page first. It also opens the pages a person
// can reach without a sign-in: an expired challenge and the setup page.
func TestLoginPage(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	b := newBrowser(t)

	b.navigate(st.URL + "/jfguard/challenge?c=0123456789abcdef0123456789abcdef")
	if got := b.text("h1"); got != "This sign-in has expired" {
		t.Errorf("an unknown challenge shows %q", got)
	}
	if got := eval[string](b, `document.querySelector('main a.button').getAttribute('href')`); got != "/web/" {
		t.Errorf("the expired page links to %q, want /web/", got)
	}
	b.screenshot("challenge-expired")

	b.navigate(st.URL + "/jfguard/setup")
	b.visible("#state-signed-out")
	if got := b.text("#signed-out-heading"); got != "Sign in to Jellyfin first" {
		t.Errorf("the setup page without a session shows %q", got)
	}
	b.screenshot("setup-signed-out")

	b.navigate(st.URL + "/jfguard/login")
	b.visible("#username")
	b.docScreenshot("login", "login")
	b.fill("#username", "alice")
	b.fill("#password", "not-her-password")
	b.click("#login-form button[type=submit]")
	b.waitFor("the error", `!document.getElementById('alert').hidden`)
	if got := b.text("#alert"); got != "Wrong username or password." {
		t.Errorf("wrong password shows %q", got)
	}
	if tok := b.token(); tok != "" {
		t.Fatalf("a wrong password left token %q in the browser", tok)
	}
	b.screenshot("login-error")

	b.fill("#password", alicePassword)
	b.click("#login-form button[type=submit]")
	b.signedInAs("alice")
	if c := b.credentials(); len(c.Servers) != 1 || c.Servers[0].ID != st.JF.ServerID() {
		t.Errorf("jellyfin_credentials after the sign-in page = %+v", c)
	}

	// A user with a second factor: password here, code on the challenge page.
	secret, _ := st.enrollByAPI(t, "admin", adminPassword)
	b.navigate(st.URL + "/jfguard/login")
	b.fill("#username", "admin")
	b.fill("#password", adminPassword)
	b.click("#login-form button[type=submit]")
	b.waitFor("the challenge page", onChallenge)
	b.fill("#code-totp", st.code(t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("admin")
	if c := b.credentials(); len(c.Servers) != 1 || c.Servers[0].UserID == nil || *c.Servers[0].UserID == st.Alice.ID {
		t.Errorf("the admin's sign-in did not replace the server's entry: %+v", c)
	}
}
