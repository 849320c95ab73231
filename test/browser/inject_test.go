package browser

import (
	"fmt"
	"testing"

	"github.com/jfguard/jfguard/projections"
)

// signInScript signs in from the web app's page the way older web apps do, with
// XMLHttpRequest, or the way newer ones do, with fetch, using a lower-case path as
// the web app's apiclient does. Every handler the app could attach records in
// sessionStorage (which survives the navigation) that it ran.
const signInScript = `(function (useXHR) {
  var body = JSON.stringify({Username: 'alice', Pw: %q});
  var auth = 'MediaBrowser Client="Jellyfin%%20Web", Device="Chrome", DeviceId="' + localStorage.getItem('_deviceId2') + '", Version="12.0.0"';
  var mark = function (what) { sessionStorage.setItem('handled', (sessionStorage.getItem('handled') || '') + what + ' '); };
  if (useXHR) {
    var x = new XMLHttpRequest();
    x.onreadystatechange = function () { if (x.readyState >= 2) { mark('readystatechange' + x.readyState); } };
    x.onload = function () { mark('load'); };
    x.addEventListener('loadend', function () { mark('loadend'); });
    x.open('POST', '/users/authenticatebyname');
    x.setRequestHeader('Content-Type', 'application/json');
    x.setRequestHeader('Authorization', auth);
    x.send(body);
  } else {
    fetch('/users/authenticatebyname', {method: 'POST', headers: {'Content-Type': 'application/json', 'Authorization': auth}, body: body})
      .then(function (r) { mark('fetch' + r.status); }, function () { mark('fetch-error'); });
  }
  return true;
})(%t)`

// TestInjectedScript checks jfguard's script inside the web app with both request
// APIs: the sign-in carries the browser marker (so no device pairing is recorded),
// the challenge answer takes the browser to the challenge page, and none of the
// app's own handlers see the 401 that would make it say "wrong password".
func TestInjectedScript(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	st.enrollByAPI(t, "alice", alicePassword)
	b := newBrowser(t)

	// Ordinary requests are untouched.
	b.navigate(st.URL + "/web/")
	b.waitFor("the web app", onLogin)
	if got := eval[int](b, `(function(){var x=new XMLHttpRequest();x.open('GET','/System/Info/Public',false);x.send();return x.status;})()`); got != 200 {
		t.Fatalf("a plain XMLHttpRequest through the wrapper got %d", got)
	}
	if !eval[bool](b, `new XMLHttpRequest() instanceof XMLHttpRequest && XMLHttpRequest.DONE === 4`) {
		t.Error("the wrapped XMLHttpRequest does not look like XMLHttpRequest")
	}

	for _, useXHR := range []bool{true, false} {
		b.navigate(st.URL + "/web/")
		b.waitFor("the web app", onLogin)
		eval[bool](b, `sessionStorage.clear() || true`)
		eval[bool](b, fmt.Sprintf(signInScript, alicePassword, useXHR))
		b.waitFor("the challenge page", onChallenge)
		b.visible("#code-totp")
		if handled := eval[string](b, `sessionStorage.getItem('handled') || ''`); handled != "" {
			t.Errorf("XHR=%v: the app's handlers ran on the challenge answer: %s", useXHR, handled)
		}
	}

	var pairings int
	st.Main.Projector().Read(func(s *projections.State) {
		if u := s.Users[st.Alice.ID]; u != nil {
			pairings = len(u.Pairings)
		}
	})
	if pairings != 0 {
		t.Errorf("%d device pairings recorded: a sign-in went without the browser marker", pairings)
	}
}
