package jellyfin

import (
	"net/http"
	"testing"
)

// TestRemoveDotSegments checks the path normalization Kestrel applies before
// Jellyfin's routing sees a path.
func TestRemoveDotSegments(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/Users/Me":                     "/Users/Me",
		"/Users/./Me":                   "/Users/Me",
		"/Users/Me/.":                   "/Users/Me/",
		"/Users/x/../Me":                "/Users/Me",
		"/Users/Me/..":                  "/Users/",
		"/..":                           "/",
		"/../Users/Me":                  "/Users/Me",
		"/Users//Me":                    "/Users//Me",
		"/Users/.hidden/Me":             "/Users/.hidden/Me",
		"/Users/AuthenticateByName/./.": "/Users/AuthenticateByName/",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDotSegmentsReachTheRoute checks that a request whose path has dot
// segments (raw or percent-encoded) reaches the route it names, as in
// Jellyfin.
func TestDotSegmentsReachTheRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	res := f.call(t, http.MethodPost, "/Users/AuthenticateByName/%2E",
		map[string]string{"Username": "alice", "Pw": alicePassword},
		"Authorization", clientHeader("Jellyfin Web", "Chrome", "dots", "12.0.0", ""))
	if res.status != http.StatusOK {
		t.Fatalf("sign-in at a path with a dot segment: status %d: %s", res.status, res.body)
	}
	var a authResultView
	res.json(t, &a)
	if res := f.call(t, http.MethodGet, "/Users/x/../Me", nil, "Authorization", tokenHeader(a.AccessToken)); res.status != http.StatusOK {
		t.Errorf("GET /Users/x/../Me: status %d", res.status)
	}
}

// TestMethodsMatchIgnoringCase checks that a method reaches its route whatever its
// case, as in ASP.NET Core, whose HttpMethods.Equals ignores case: a gateway that
// matched only "POST" would let "post" through to Jellyfin's sign-in.
func TestMethodsMatchIgnoringCase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	for _, method := range []string{"post", "pOsT", "Post"} {
		res := f.call(t, method, "/Users/AuthenticateByName",
			map[string]string{"Username": "alice", "Pw": alicePassword},
			"Authorization", clientHeader("Jellyfin Web", "Chrome", "case-"+method, "12.0.0", ""))
		if res.status != http.StatusOK {
			t.Errorf("%s /Users/AuthenticateByName: status %d: %s", method, res.status, res.body)
		}
	}
	if res := f.call(t, "get", "/System/Info/Public", nil); res.status != http.StatusOK {
		t.Errorf("get /System/Info/Public: status %d", res.status)
	}
	if res := f.call(t, "get", "/web/", nil); res.status != http.StatusOK {
		t.Errorf("get /web/: status %d", res.status)
	}
	if res := f.call(t, "delete", "/Users/AuthenticateByName", nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("delete /Users/AuthenticateByName: status %d, want 405", res.status)
	}
}
