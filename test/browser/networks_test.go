package browser

import (
	"strings"
	"testing"
)

// TestAdminSetsNetworks: from the users section the administrator sets where alice
// may sign in from. A list with a mistake is refused in the dialog, naming the
// entry; the corrected list is kept normalised, shown in alice's row, and her next
// sign-in from elsewhere (here, loopback) is refused.
func TestAdminSetsNetworks(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": "alice", "Pw": alicePassword}, nil); c != 200 {
		t.Fatalf("alice's first sign-in: status %d", c)
	}

	b := newBrowser(t)
	b.openAdminPage(st)
	b.click("#tab-users")
	b.waitFor("alice's row", `!!document.querySelector('#users tr[data-user="alice"]')`)
	if got := b.text(`#users tr[data-user="alice"] td[data-label="Networks"]`); got != "Anywhere" {
		t.Errorf("alice's networks read %q before any are set", got)
	}
	eval[bool](b, `(function(){Array.prototype.filter.call(document.querySelectorAll('#users tr[data-user="alice"] .cell-actions button'),function(x){return x.textContent==='Networks'})[0].click();return true})()`)
	b.waitFor("the networks dialog", `document.getElementById('networks-dialog').open&&document.activeElement===document.getElementById('networks-list')`)

	b.fill("#networks-list", "192.0.2.7/24, home")
	b.click("#networks-confirm")
	b.waitFor("the refusal", `!document.querySelector('#networks-form .field-error').hidden`)
	if got := b.text("#networks-form .field-error"); !strings.Contains(got, `"home"`) {
		t.Errorf("the refusal reads %q; want it to name the entry", got)
	}

	b.fill("#networks-list", "192.0.2.7/24, 2001:db8::1/48")
	b.pageShot("admin-networks-dialog")
	b.click("#networks-confirm")
	b.waitFor("alice's networks", `!document.getElementById('networks-dialog').open&&/192\.0\.2\.0\/24/.test(document.querySelector('#users tr[data-user="alice"] td[data-label="Networks"]').textContent)`)
	if got := b.text(`#users tr[data-user="alice"] td[data-label="Networks"]`); !strings.Contains(got, "2001:db8::/48") {
		t.Errorf("alice's networks read %q", got)
	}
	b.pageShot("admin-users-networks")

	if c := st.apiCall(t, "POST", "/Users/AuthenticateByName", "", map[string]string{"Username": "alice", "Pw": alicePassword}, nil); c != 403 {
		t.Errorf("alice's sign-in from outside her networks: status %d, want 403", c)
	}
}

// TestAdminActsOnAUsersDevices: on the devices section the administrator ends
// alice's sign-in held for its second step, approves her TV on her behalf, and signs
// the TV's new session out; each takes effect at once.
func TestAdminActsOnAUsersDevices(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	st.enrollByAPI(t, "alice", alicePassword)
	if code, _ := st.nativeSignIn(t, "tv-admin-acts", "Living Room TV"); code != 401 {
		t.Fatalf("the TV signed in with %d before approval", code)
	}

	b := newBrowser(t)
	b.openAdminPage(st)
	b.click("#tab-devices")
	eval[bool](b, `(function(s){s.value='`+st.Alice.ID+`';s.dispatchEvent(new Event('change'));return true})(document.getElementById('devices-user'))`)
	b.waitFor("the held sign-in and the waiting TV", `document.querySelectorAll('#devices-held li').length===1&&document.querySelectorAll('#devices-pairings li').length===1`)
	b.pageShot("admin-devices-actions")

	clickIn := func(list, label string) {
		eval[bool](b, `(function(){Array.prototype.filter.call(document.querySelectorAll('#`+list+` li button'),function(x){return x.textContent==='`+label+`'})[0].click();return true})()`)
	}
	clickIn("devices-held", "End")
	b.waitFor("the held sign-in ended", `document.querySelectorAll('#devices-held li').length===0`)
	clickIn("devices-pairings", "Approve")
	b.waitFor("the TV approved", `document.querySelectorAll('#devices-pairings li button').length===0`)

	code, tvToken := st.nativeSignIn(t, "tv-admin-acts", "Living Room TV")
	if code != 200 {
		t.Fatalf("the approved TV's sign-in: status %d", code)
	}
	eval[bool](b, `(function(s){s.dispatchEvent(new Event('change'));return true})(document.getElementById('devices-user'))`)
	b.waitFor("the TV's session", `Array.prototype.some.call(document.querySelectorAll('#devices-sessions li .row-name'),function(x){return /Living Room TV/.test(x.textContent)})`)
	eval[bool](b, `(function(){Array.prototype.filter.call(document.querySelectorAll('#devices-sessions li'),function(li){return /Living Room TV/.test(li.querySelector('.row-name').textContent)})[0].querySelector('button').click();return true})()`)
	b.waitFor("the TV signed out", `!Array.prototype.some.call(document.querySelectorAll('#devices-sessions li .row-name'),function(x){return /Living Room TV/.test(x.textContent)})`)
	if got := st.gatewayStatus(t, tvToken); got != 401 {
		t.Errorf("the signed-out TV's token: status %d, want 401", got)
	}
}
