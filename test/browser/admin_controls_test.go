package browser

import (
	"strconv"
	"testing"

	"github.com/jfguard/jfguard/events"
)

// TestAdminActsForAUser: alice has a TV waiting for her approval, a sign-in held at
// the second step, an app password and her browser's session. The administrator,
// on the admin page, approves the TV (it signs in), ends the held sign-in, revokes
// the app password (it no longer signs in) and signs alice's browser out (its token
// is refused). Each button is the one in the row it acts on.
func TestAdminActsForAUser(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	secret, _ := st.enrollByAPI(t, "alice", alicePassword)

	ab := newBrowser(t)
	ab.webSignInWithCode(st, secret)
	aliceToken := ab.token()

	var pw struct{ Password string }
	if c := st.apiCall(t, "POST", "/jfguard/api/me/app-passwords", aliceToken, map[string]string{"label": "Kodi"}, &pw); c != 200 || pw.Password == "" {
		t.Fatalf("alice's app password: status %d", c)
	}
	if c, _ := st.appSignIn(t, pw.Password); c != 200 {
		t.Fatalf("the app password signs in with %d", c)
	}
	if c, _ := st.nativeSignIn(t, "tv-bedroom", "Bedroom TV"); c != 401 {
		t.Fatalf("the unpaired TV signed in with %d", c)
	}
	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": "alice", "Pw": alicePassword}, nil); c != 401 {
		t.Fatalf("alice's password alone: status %d, want 401 and a held sign-in", c)
	}
	held := lastEvent[*events.ChallengeIssued](t, st, st.Alice.ID)
	if held == nil {
		t.Fatal("no held sign-in")
	}

	b := newBrowser(t)
	b.openAdminPage(st)
	b.click("#tab-users")
	b.waitFor("the users", `!!document.querySelector('#users tr[data-user="alice"] .cell-actions button')`)
	eval[bool](b, `(function(){document.querySelector('#users tr[data-user="alice"] .cell-actions button').click();return true})()`)
	b.waitFor("alice's devices, sign-ins and app passwords", rowButtons("devices-pairings", "Bedroom TV")+`===2&&`+
		rowButtons("devices-held", "browser-test")+`===1&&`+rowButtons("devices-apppasswords", "Kodi")+`===1&&`+
		rowButtons("devices-sessions", "Jellyfin Web")+`===1`)
	b.docScreenshot("admin-user-controls", "admin-controls")

	// Approve the TV on alice's behalf (the first of its two buttons): it signs in.
	b.clickRowButton("devices-pairings", "Bedroom TV")
	b.waitFor("the TV approved", rowButtons("devices-pairings", "Bedroom TV")+`===0&&!document.getElementById('notice').hidden`)
	if c, tok := st.nativeSignIn(t, "tv-bedroom", "Bedroom TV"); c != 200 || tok == "" {
		t.Errorf("the approved TV signs in with %d", c)
	}

	// End the held sign-in: it is gone from the list and from alice's account.
	b.clickRowButton("devices-held", "browser-test")
	b.waitFor("the held sign-in ended", rowButtons("devices-held", "browser-test")+`===-1`)
	if ended := lastEvent[*events.ChallengeExpired](t, st, st.Alice.ID); ended == nil || ended.ChallengeID != held.ChallengeID {
		t.Errorf("the held sign-in %s did not end: %+v", held.ChallengeID, ended)
	}

	// Revoke the app password: it no longer signs in.
	b.clickRowButton("devices-apppasswords", "Kodi")
	b.waitFor("the app password revoked", rowButtons("devices-apppasswords", "Kodi")+`===-1`)
	if c, _ := st.appSignIn(t, pw.Password); c != 401 {
		t.Errorf("the revoked app password signs in with %d", c)
	}

	// Sign alice's browser out: its token is refused.
	if st.gatewayStatus(t, aliceToken) != 200 {
		t.Fatal("alice's browser is not signed in before the admin acts")
	}
	b.clickRowButton("devices-sessions", "Jellyfin Web")
	b.waitFor("alice's browser signed out", rowButtons("devices-sessions", "Jellyfin Web")+`===-1`)
	if got := st.gatewayStatus(t, aliceToken); got != 401 {
		t.Errorf("alice's signed-out browser gets %d, want 401", got)
	}
}

// rowButtons is a script expression: the number of buttons in the first row of a
// list whose name starts with name, or -1 when there is no such row.
func rowButtons(list, name string) string {
	return `(function(){var r=Array.prototype.filter.call(document.querySelectorAll('#` + list + ` .row'),function(r){return r.querySelector('.row-name').textContent.indexOf(` +
		strconv.Quote(name) + `)===0})[0];return r?r.querySelectorAll('.row-actions button').length:-1})()`
}

// clickRowButton clicks the first button of the first row of a list whose name
// starts with name.
func (b *browser) clickRowButton(list, name string) {
	b.t.Helper()
	if !eval[bool](b, `(function(){var r=Array.prototype.filter.call(document.querySelectorAll('#`+list+` .row'),function(r){return r.querySelector('.row-name').textContent.indexOf(`+
		strconv.Quote(name)+`)===0})[0];if(!r){return false}r.querySelector('.row-actions button').click();return true})()`) {
		b.fail("no row %q in #%s", name, list)
	}
}
