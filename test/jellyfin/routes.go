package jellyfin

import (
	"net/http"
	"strings"
)

// access is what a route requires of its caller, mirroring Jellyfin's
// authorization policies.
type access int

const (
	anonymous access = iota // [AllowAnonymous] or no [Authorize]
	signedIn                // [Authorize] (DefaultAuthorization)
	elevated                // RequiresElevation: administrators and API keys
	stream                  // signedIn unless Options.AnonymousStreams
)

// route is one endpoint. Patterns use Jellyfin's route templates; a segment
// may be a literal, a {parameter}, or a literal prefix and a parameter
// ("stream.{container}").
type route struct {
	method  string
	pattern string
	access  access
	handle  func(w http.ResponseWriter, r *http.Request, req *request)
}

// request carries what the dispatcher worked out for a handler.
type request struct {
	caller caller
	params map[string]string
}

// routeTable lists every endpoint the stand-in serves, in one place.
func (s *Server) routeTable() []route {
	return []route{
		{http.MethodGet, "/System/Info/Public", anonymous, s.handlePublicSystemInfo},
		{http.MethodGet, "/System/Ping", anonymous, s.handlePing},
		{http.MethodPost, "/System/Ping", anonymous, s.handlePing},

		{http.MethodPost, "/Users/AuthenticateByName", anonymous, s.handleAuthenticateByName},
		{http.MethodPost, "/Users/AuthenticateWithQuickConnect", anonymous, s.handleAuthenticateWithQuickConnect},
		{http.MethodGet, "/Users/Me", signedIn, s.handleCurrentUser},
		{http.MethodGet, "/Users", signedIn, s.handleUsers},
		{http.MethodGet, "/Users/Public", anonymous, s.handlePublicUsers},
		{http.MethodGet, "/Users/{userId}", signedIn, s.handleUserByID},
		{http.MethodPost, "/Users/{userId}/Policy", elevated, s.handleUpdateUserPolicy},
		{http.MethodPost, "/Users/Password", signedIn, s.handleUpdatePassword},
		{http.MethodPost, "/Users/{userId}/Password", signedIn, s.handleUpdatePassword},
		{http.MethodPost, "/Sessions/Logout", signedIn, s.handleLogout},

		{http.MethodGet, "/QuickConnect/Enabled", anonymous, s.handleQuickConnectEnabled},
		{http.MethodPost, "/QuickConnect/Initiate", anonymous, s.handleQuickConnectInitiate},
		{http.MethodGet, "/QuickConnect/Connect", anonymous, s.handleQuickConnectConnect},
		{http.MethodPost, "/QuickConnect/Authorize", signedIn, s.handleQuickConnectAuthorize},

		{http.MethodGet, "/Auth/Keys", elevated, s.handleGetKeys},
		{http.MethodPost, "/Auth/Keys", elevated, s.handleCreateKey},
		{http.MethodDelete, "/Auth/Keys/{key}", elevated, s.handleRevokeKey},

		{http.MethodGet, "/Devices", elevated, s.handleDevices},

		{http.MethodGet, "/Items/{itemId}", signedIn, s.handleItem},
		{http.MethodGet, "/Videos/{itemId}/stream", stream, s.handleStream},
		{http.MethodHead, "/Videos/{itemId}/stream", stream, s.handleStream},
		{http.MethodGet, "/Videos/{itemId}/stream.{container}", stream, s.handleStream},
		{http.MethodHead, "/Videos/{itemId}/stream.{container}", stream, s.handleStream},

		{http.MethodGet, "/socket", anonymous, s.handleSocket},
	}
}

// dispatch routes a request the way ASP.NET Core's endpoint routing does for
// Jellyfin: methods and literal segments match ignoring case (HttpMethods.Equals is
// an ordinal ignore-case comparison, so "post" reaches a POST endpoint), a trailing
// slash is
// ignored, a route with more literal segments wins over one with
// parameters, a known path with the wrong method is 405, and authorization
// runs only once a route is found.
//
// Paths that no route serves answer 401 without a valid token and 404 with
// one: most of Jellyfin's API requires a token, so a request that passes a
// gateway without one is refused by Jellyfin whether or not the stand-in
// implements that endpoint.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "" || path == "/" {
		http.Redirect(w, r, "/web/", http.StatusFound)
		return
	}
	if equalFoldOrdinal(path, "/web") || hasPrefixFold(path, "/web/") {
		s.handleWeb(w, r)
		return
	}
	segments := splitPath(path)
	var best *route
	var bestParams map[string]string
	bestScore := -1
	var allowed []string
	for i := range s.routes {
		rt := &s.routes[i]
		params, score, ok := matchPattern(rt.pattern, segments)
		if !ok {
			continue
		}
		if !strings.EqualFold(rt.method, r.Method) {
			allowed = append(allowed, rt.method)
			continue
		}
		if score > bestScore {
			best, bestParams, bestScore = rt, params, score
		}
	}
	req := &request{params: bestParams}
	if best == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeEmpty(w, http.StatusMethodNotAllowed)
			return
		}
		writeUnknownPath(w, s.identify(r))
		return
	}
	req.caller = s.identify(r)
	need := best.access
	if need == stream {
		need = signedIn
		if s.anonStream {
			need = anonymous
		}
	}
	if need != anonymous && !req.caller.authenticated() {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	if need == elevated && !req.caller.admin() {
		writeEmpty(w, http.StatusForbidden)
		return
	}
	best.handle(w, r, req)
}

// writeUnknownPath answers a path no route serves: 401 without a valid
// token, 404 with one (see dispatch).
func writeUnknownPath(w http.ResponseWriter, c caller) {
	if c.authenticated() {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	writeEmpty(w, http.StatusUnauthorized)
}

// withoutDotSegments returns r with "." and ".." segments removed from its
// path, as Kestrel removes them (after percent-decoding) before Jellyfin routes
// a request: "/Users/./AuthenticateByName" and "/Users/AuthenticateByName/."
// reach the sign-in endpoint.
func withoutDotSegments(r *http.Request) *http.Request {
	p := removeDotSegments(r.URL.Path)
	if p == r.URL.Path {
		return r
	}
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2 := *r
	r2.URL = &u
	return &r2
}

// removeDotSegments is RFC 3986's remove_dot_segments for an absolute path:
// "." segments go, ".." removes the segment before it, and either one at the
// end leaves a trailing slash. Empty segments stay, as in Kestrel.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	segments := strings.Split(p, "/")[1:]
	out := make([]string, 0, len(segments))
	for i, seg := range segments {
		last := i == len(segments)-1
		switch seg {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// splitPath splits a path into its segments, ignoring a trailing slash.
func splitPath(path string) []string {
	path = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// matchPattern matches path segments against a route pattern. score counts
// the literal segments, so more specific routes win.
func matchPattern(pattern string, segments []string) (map[string]string, int, bool) {
	parts := splitPath(pattern)
	if len(parts) != len(segments) {
		return nil, 0, false
	}
	params := map[string]string{}
	score := 0
	for i, part := range parts {
		open := strings.IndexByte(part, '{')
		if open < 0 {
			if !equalFoldOrdinal(part, segments[i]) {
				return nil, 0, false
			}
			score++
			continue
		}
		prefix, name := part[:open], strings.TrimSuffix(part[open+1:], "}")
		value, ok := cutPrefixFold(segments[i], prefix)
		if !ok || value == "" {
			return nil, 0, false
		}
		params[name] = value
	}
	return params, score, true
}

// hasPrefixFold is strings.HasPrefix with .NET's ordinal ignore-case
// comparison.
func hasPrefixFold(s, prefix string) bool {
	_, ok := cutPrefixFold(s, prefix)
	return ok
}

// cutPrefixFold is strings.CutPrefix with .NET's ordinal ignore-case
// comparison. The matched prefix may differ from prefix in byte length
// ("ı" is two bytes and matches "i").
func cutPrefixFold(s, prefix string) (string, bool) {
	for i := range s {
		if equalFoldOrdinal(s[:i], prefix) {
			return s[i:], true
		}
	}
	if equalFoldOrdinal(s, prefix) {
		return "", true
	}
	return "", false
}
