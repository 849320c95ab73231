package browser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// nativeSignIn signs alice in the way a TV app does: no browser marker, its own
// device id. It returns the status and, on success, the token.
func (st *stack) nativeSignIn(t *testing.T, deviceID, device string) (int, string) {
	t.Helper()
	return st.tvSignIn(t, alicePassword, deviceID, device)
}

// tvSignIn signs alice in with a password from an Android TV app's device.
func (st *stack) tvSignIn(t *testing.T, password, deviceID, device string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"Username": "alice", "Pw": password})
	req, _ := http.NewRequest("POST", st.URL+"/Users/AuthenticateByName", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", `MediaBrowser Client="Jellyfin for Android TV", Device="`+device+`", DeviceId="`+deviceID+`", Version="0.19.0"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ AccessToken string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.AccessToken
}

// TestSetupPageManagesDevices uses the rest of the setup page: approve and deny apps
// waiting for approval, sign out another session, remove an approved device, get new
// recovery codes with a current code, and turn two-factor sign-in off.
func TestSetupPageManagesDevices(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	secret, oldCodes := st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowser(t)
	b.webSignInWithCode(st, secret)

	// Two TV apps try to sign in: both wait for approval.
	for _, tv := range [][2]string{{"tv-living-room", "Living Room TV"}, {"tv-bedroom", "Bedroom TV"}} {
		if code, _ := st.nativeSignIn(t, tv[0], tv[1]); code != 401 {
			t.Fatalf("%s signed in with %d before approval", tv[1], code)
		}
	}
	b.navigate(st.URL + "/jfguard/setup")
	b.waitFor("two apps waiting", `document.querySelectorAll('#pairings-list .row').length===2`)
	b.screenshot("setup-pairings")
	approve := `(function(name){var rows=document.querySelectorAll('#pairings-list .row');for(var i=0;i<rows.length;i++){if(rows[i].querySelector('.row-name').textContent===name){rows[i].querySelector('.row-actions button:%s').click();return true}}return false})`
	if !eval[bool](b, fmt.Sprintf(approve, "first-child")+`('Living Room TV')`) {
		t.Fatal("no Approve button for the living room TV")
	}
	b.waitFor("the approval", `!document.getElementById('notice').hidden&&document.querySelectorAll('#pairings-list .row-actions button').length===2`)
	if !eval[bool](b, fmt.Sprintf(approve, "last-child")+`('Bedroom TV')`) {
		t.Fatal("no Deny button for the bedroom TV")
	}
	b.waitFor("the denial", `document.querySelectorAll('#pairings-list .row-actions button').length===0`)

	// The approved TV signs in; the denied one does not.
	code, tvToken := st.nativeSignIn(t, "tv-living-room", "Living Room TV")
	if code != 200 || st.gatewayStatus(t, tvToken) != 200 {
		t.Fatalf("approved TV: sign-in %d", code)
	}
	if code, _ := st.nativeSignIn(t, "tv-bedroom", "Bedroom TV"); code != 401 {
		t.Fatalf("denied TV signed in with %d", code)
	}

	// Its session shows on the setup page, and Sign out ends it.
	b.navigate(st.URL + "/jfguard/setup")
	b.waitFor("the TV's session and device", `document.querySelectorAll('#paired-list .row').length===1&&Array.from(document.querySelectorAll('#sessions-list .row-name')).some(function(e){return e.textContent.indexOf('Living Room TV')>=0})`)
	b.screenshot("setup-sessions")
	eval[bool](b, `(function(){Array.from(document.querySelectorAll('#sessions-list .row')).filter(function(r){return r.querySelector('.row-name').textContent.indexOf('Living Room TV')>=0})[0].querySelector('.row-actions button').click();return true})()`)
	b.waitFor("the TV's session to go", `!document.getElementById('notice').hidden&&!Array.from(document.querySelectorAll('#sessions-list .row-name')).some(function(e){return e.textContent.indexOf('Living Room TV')>=0})`)
	if got := st.gatewayStatus(t, tvToken); got != 401 {
		t.Errorf("the signed-out TV's token gets %d, want 401", got)
	}

	// Removing the approved device means it must be approved again.
	b.click("#paired-list .row-actions button")
	b.waitFor("the device to go", `document.querySelectorAll('#paired-list .row').length===0&&!document.getElementById('notice').hidden`)
	if code, _ := st.nativeSignIn(t, "tv-living-room", "Living Room TV"); code != 401 {
		t.Errorf("the removed TV signed in with %d, want 401", code)
	}

	// New recovery codes need a current code; a wrong one is refused inline.
	st.Clock.nextStep()
	b.click("#recovery-new")
	b.fill("#recovery-proof-code", wrongCode(st.code(t, secret)))
	b.click("#recovery-proof button[type=submit]")
	b.waitFor("the inline error", `!document.querySelector('#recovery-proof .field-error').hidden`)
	b.screenshot("setup-proof-error")
	b.fill("#recovery-proof-code", st.code(t, secret))
	b.click("#recovery-proof button[type=submit]")
	b.visible("#codes")
	newCodes := eval[[]string](b, `Array.from(document.querySelectorAll('#codes-list li')).map(function(li){return li.textContent})`)
	if len(newCodes) != 10 || slices.Contains(newCodes, oldCodes[0]) {
		t.Fatalf("new recovery codes = %v", newCodes)
	}
	b.click("#codes-done")

	// Turn two-factor sign-in off with a recovery code: the next sign-in needs none.
	b.click("#disable-start")
	b.fill("#disable-proof-code", newCodes[0])
	b.click("#disable-proof button[type=submit]")
	b.waitFor("two-factor off", `document.getElementById('status-title').textContent==='Two-factor sign-in is off'&&document.getElementById('disable').hidden`)
	b.webSignOut(st)
	if got := b.webSignIn(st, "alice", alicePassword); got != "home" {
		t.Fatalf("sign-in after turning two-factor off led to %s", got)
	}
}

// TestSetupPageAsksForTheSecondStepAgain: the second step alice proved at sign-in is
// more than five minutes old when she adds an app password. The setup page asks for
// it again in a dialog (a wrong code is refused inline), then creates the app
// password, which signs a TV in.
func TestSetupPageAsksForTheSecondStepAgain(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowser(t)
	if got := b.webSignIn(st, "alice", alicePassword); got != "challenge" {
		t.Fatalf("sign-in led to %s, want the challenge page", got)
	}
	st.Clock.nextStep()
	b.fill("#code-totp", st.code(t, secret))
	b.click("#method-totp button[type=submit]")
	b.signedInAs("alice")

	st.Clock.offset.Add(int64(6 * time.Minute))
	b.navigate(st.URL + "/jfguard/setup")
	b.visible("#apppassword-add")
	b.fill("#apppassword-label", "Living room TV")
	b.click("#apppassword-add button[type=submit]")
	b.waitFor("the step-up dialog", `document.getElementById('stepup').open&&!!document.getElementById('stepup-proof-code')`)
	b.docViewport("setup-step-up", "step-up")
	st.Clock.nextStep()
	b.fill("#stepup-proof-code", wrongCode(st.code(t, secret)))
	b.click("#stepup-proof button[type=submit]")
	b.waitFor("the inline error", `!document.querySelector('#stepup-proof .field-error').hidden&&document.getElementById('stepup').open`)
	if !eval[bool](b, `document.getElementById('apppassword-created').hidden`) {
		t.Fatal("the app password was created before the second step")
	}
	st.Clock.nextStep()
	b.fill("#stepup-proof-code", st.code(t, secret))
	b.click("#stepup-proof button[type=submit]")
	b.waitFor("the app password", `!document.getElementById('stepup').open&&!document.getElementById('apppassword-created').hidden`)
	password := b.text("#apppassword-value")
	if !strings.HasPrefix(password, "jfg_") {
		t.Fatalf("app password %q", password)
	}
	if code, token := st.tvSignIn(t, password, "tv-after-step-up", "Living room TV"); code != 200 || st.gatewayStatus(t, token) != 200 {
		t.Fatalf("the app password made after the step-up: sign-in %d", code)
	}

	// Within the window, the next change does not ask again.
	b.click("#apppassword-done")
	b.fill("#apppassword-label", "Bedroom TV")
	b.click("#apppassword-add button[type=submit]")
	b.waitFor("the second app password", `!document.getElementById('apppassword-created').hidden&&!document.getElementById('stepup').open`)
}
