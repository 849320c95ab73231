package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestLowercaseMethodsAreIntercepted: Jellyfin (ASP.NET Core) routes methods
// ignoring case and Go's server passes "post" on as written, so the gate must
// recognise "post" and "pOsT" as the POST of the routes it intercepts. A sign-in
// with a lowercase method is held for the second factor like any other, and a Quick
// Connect code approved with one still lets the television in.
func TestLowercaseMethodsAreIntercepted(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)

	for _, method := range []string{"post", "pOsT"} {
		res := g.do(t, method, "/Users/AuthenticateByName", map[string]string{"Username": "alice", "Pw": alicePassword},
			"Authorization", clientHeader("alice-"+method, ""))
		if strings.Contains(string(res.body), "AccessToken") {
			t.Fatalf("%s /Users/AuthenticateByName released a token without the second factor: %s", method, res.body)
		}
		if _, ok := g.challengeOf(t, res); !ok {
			t.Errorf("%s /Users/AuthenticateByName: status %d, want a challenge: %s", method, res.status, res.body)
		}
	}

	tvHeader := `MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="tv-case", Version="0.18.0"`
	res := g.do(t, http.MethodPost, "/QuickConnect/Initiate", nil, "Authorization", tvHeader)
	var qc struct{ Secret, Code string }
	res.json(t, &qc)
	if res.status != http.StatusOK || qc.Code == "" {
		t.Fatalf("initiate Quick Connect: status %d: %s", res.status, res.body)
	}
	// The session from before enrolment must step up first: the lowercase method is
	// held to that rule too.
	if res := g.do(t, "pOsT", "/QuickConnect/Authorize?code="+qc.Code, nil, "Authorization", clientHeader("alice-setup", f.token)); res.status != http.StatusForbidden || res.errorCode() != "step_up_required" {
		t.Fatalf("pOsT /QuickConnect/Authorize from a session without a recent factor: status %d: %s", res.status, res.body)
	}
	g.stepUp(t, f.token, f.secret)
	if res := g.do(t, "pOsT", "/QuickConnect/Authorize?code="+qc.Code, nil, "Authorization", clientHeader("alice-setup", f.token)); res.status != http.StatusOK {
		t.Fatalf("pOsT /QuickConnect/Authorize: status %d: %s", res.status, res.body)
	}
	res = g.do(t, http.MethodPost, "/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": qc.Secret}, "Authorization", tvHeader)
	var auth authResult
	if res.status == http.StatusOK {
		res.json(t, &auth)
	}
	if auth.AccessToken == "" {
		t.Fatalf("the code approved with pOsT did not let the television in: status %d: %s", res.status, res.body)
	}
	if res := g.do(t, http.MethodGet, "/Users/Me", nil, "Authorization", tvHeader+`, Token="`+auth.AccessToken+`"`); res.status != http.StatusOK {
		t.Errorf("the television's token: status %d: %s", res.status, res.body)
	}
}
