package browser

import (
	"strings"
	"testing"
)

// TestEnrollOnSignIn: with security.require_all, alice (no second factor yet) signs
// in through the web app, lands on the challenge, sets up an authenticator app there
// from the QR code's secret, sees her recovery codes once and continues into the web
// app signed in.
func TestEnrollOnSignIn(t *testing.T) {
	t.Parallel()
	st := startStack(t, map[string]string{"security.require_all": "true"})
	b := newBrowser(t)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in of a user who must set up a factor led to %s", got)
	}
	b.waitFor("the secret of the new authenticator", `document.getElementById('enroll-secret').textContent.length>20&&!document.getElementById('enroll-qr').hidden`)
	if src := eval[string](b, `document.getElementById('enroll-qr').src`); !strings.HasPrefix(src, "data:image/png;base64,") {
		b.fail("the QR code is not an inline PNG: %.40s", src)
	}
	b.screenshot("challenge-enroll")
	secret := strings.ReplaceAll(b.text("#enroll-secret"), " ", "")
	st.Clock.nextStep()
	b.fill("#code-enroll_totp", st.code(t, secret))
	b.click("#method-enroll_totp button[type=submit]")
	b.waitFor("the recovery codes", `!document.getElementById('enroll-done').hidden&&document.querySelectorAll('#enroll-codes li').length===10`)
	if b.token() != "" {
		b.fail("the token reached the web app before the recovery codes were acknowledged")
	}
	b.screenshot("challenge-enroll-codes")
	b.click("#enroll-continue")
	b.signedInAs("alice")
	if st.gatewayStatus(t, b.token()) != 200 {
		b.fail("the token handed to the web app does not work through jfguard")
	}
}
