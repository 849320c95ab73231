package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events"
)

// TestJellyfinRoute: the gate recognises the routes it intercepts the way Jellyfin's
// router does, methods included: ASP.NET Core matches methods ignoring case, and Go's
// server hands "post" on as "post", so a case-sensitive match would let a lowercase
// sign-in reach Jellyfin without its second factor.
func TestJellyfinRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path string
		want         route
	}{
		{"POST", "/Users/AuthenticateByName", routePasswordStep},
		{"post", "/Users/AuthenticateByName", routePasswordStep},
		{"pOsT", "/users/authenticatebyname", routePasswordStep},
		{"Post", "/jellyfin/Users/AuthenticateByName/.", routePasswordStep},
		{"post", "/Users/0123456789abcdef0123456789abcdef/Authenticate", routePasswordStep},
		{"post", "/Users/AuthenticateWithQuickConnect", routeQuickConnectAuth},
		{"post", "/QuickConnect/Initiate", routeQuickConnectInitiate},
		{"pOsT", "/QuickConnect/Authorize", routeQuickConnectAuthorize},
		{"post", "/Sessions/Logout", routeLogout},
		{"GET", "/Users/AuthenticateByName", routeOther},
		{"get", "/QuickConnect/Authorize", routeOther},
		{"PUT", "/Users/AuthenticateByName", routeOther},
		{"POSTX", "/Users/AuthenticateByName", routeOther},
		{"POST", "/Users/Me", routeOther},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Method = tc.method
		if got := jellyfinRoute(r); got != tc.want {
			t.Errorf("%s %s: route %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestInterceptedRoutesAreComplete: every row of routes.go's table that the gate
// hands over has a handler and says why, and the web index rows, which the proxy
// rewrites, have none: the table is the whole of what jfguard intercepts.
func TestInterceptedRoutesAreComplete(t *testing.T) {
	t.Parallel()
	for _, ir := range interceptedRoutes {
		if (ir.handle == nil) != (ir.when == inProxy) || ir.why == "" || len(ir.methods) == 0 || ir.route == routeOther {
			t.Errorf("%v %s: handler %v, interception %d, why %q", ir.methods, ir.path, ir.handle != nil, ir.when, ir.why)
		}
	}
}

// TestWebIndexMethods: the web app's index page is recognised for GET and HEAD in
// any case, as Jellyfin's static files middleware serves it.
func TestWebIndexMethods(t *testing.T) {
	t.Parallel()
	for method, want := range map[string]bool{"GET": true, "get": true, "Head": true, "POST": false, "post": false} {
		r := httptest.NewRequest("GET", "/web/", nil)
		r.Method = method
		if got := isWebIndex(r); got != want {
			t.Errorf("%s /web/: %v, want %v", method, got, want)
		}
	}
}

// TestPathUserID: the older password sign-in names the user in its path.
func TestPathUserID(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]string{
		"/Users/0123456789ABCDEF0123456789abcdef/Authenticate":               "0123456789abcdef0123456789abcdef",
		"/jellyfin/users/01234567-89ab-cdef-0123-456789abcdef/authenticate/": "0123456789abcdef0123456789abcdef",
		"/Users/AuthenticateByName":                                          "",
		"/Users/x/Authenticate/y":                                            "",
		"/Authenticate":                                                      "",
	} {
		if got := pathUserID(p); got != want {
			t.Errorf("pathUserID(%q) = %q, want %q", p, got, want)
		}
	}
}

// FuzzPathUserID: whatever path a client sends, the id read from it is a GUID in
// Jellyfin's form, or nothing.
func FuzzPathUserID(f *testing.F) {
	for _, p := range []string{"/Users/0123456789abcdef0123456789abcdef/Authenticate", "/users/01234567-89AB-cdef-0123-456789abcdef/authenticate", "/Users//Authenticate", "/../Users/a/Authenticate", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id := pathUserID(p)
		if id == "" {
			return
		}
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || !events.ValidAggregateID(id) {
			t.Fatalf("pathUserID(%q) = %q", p, id)
		}
	})
}
