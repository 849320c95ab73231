package browser

import (
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var (
	countdown = regexp.MustCompile(`^[0-9]+:[0-5][0-9]$`)
	announced = regexp.MustCompile(`^Too many wrong codes\. You can try again in [0-9]+ minutes?\.$`)
)

// TestChallengeLockout makes wrong codes until jfguard locks the second step: the
// challenge page shows a live countdown, blocks the form, and shows the lockout again
// after a reload, because the server renders it.
func TestChallengeLockout(t *testing.T) {
	t.Parallel()
	st := startStack(t, map[string]string{"security.lockout_threshold": "3", "security.lockout_duration": "2m"})
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowser(t)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in led to %s, want the challenge page", got)
	}
	wrong := wrongCode(st.code(t, secret))
	for i := 0; i < 2; i++ {
		b.fill("#code-totp", wrong)
		b.click("#method-totp button[type=submit]")
		b.waitFor("the error", `!document.getElementById('alert').hidden`)
	}
	b.fill("#code-totp", wrong)
	b.click("#method-totp button[type=submit]")
	b.waitFor("the lockout", `!document.getElementById('lockout').hidden`)
	first := b.text("#lockout-timer")
	if !countdown.MatchString(first) {
		t.Fatalf("countdown shows %q", first)
	}
	if !eval[bool](b, `document.getElementById('code-totp').disabled&&document.querySelector('#method-totp button[type=submit]').disabled`) {
		t.Error("the code form stays usable during the lockout")
	}
	if got := eval[string](b, `document.getElementById('announce').textContent`); !announced.MatchString(got) {
		t.Errorf("the lockout is announced as %q", got)
	}
	b.waitFor("the countdown to tick", `document.getElementById('lockout-timer').textContent!==`+jsString(first))
	b.screenshot("challenge-locked")

	b.do("reload", chromedp.Reload())
	b.waitFor("the lockout after a reload", `!document.getElementById('lockout').hidden&&document.getElementById('code-totp').disabled`)
	if got := b.text("#lockout-timer"); !countdown.MatchString(got) {
		t.Errorf("countdown after a reload shows %q", got)
	}

	// When the lockout ends, the form comes back.
	st.Clock.offset.Add(int64(2 * time.Minute))
	st.Clock.nextStep()
	b.do("reload", chromedp.Reload())
	b.waitFor("the form after the lockout", `document.getElementById('lockout').hidden&&!document.getElementById('code-totp').disabled`)
	b.fill("#code-totp", st.code(t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("alice")
}

// jsString quotes a Go string as a JavaScript string literal.
func jsString(s string) string {
	return "'" + regexp.MustCompile(`['\\]`).ReplaceAllString(s, `\$0`) + "'"
}
