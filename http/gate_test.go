package http

import (
	"net/http/httptest"
	"testing"
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
