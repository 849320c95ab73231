package gateway

import (
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/jfguard/jfguard/domain"
)

// Jellyfin's routes that change an account or run the server. The gate lets a
// session take one only when the domain's step-up rule allows it (User.Authorize,
// with the action of the route): a device's session never, a session of an account
// with a second factor only once it proved that factor, an administrator's route
// only on an account that has one. A route is written "METHOD /Path" as Jellyfin
// spells it ("*" for any method); "{name}" stands for one path segment.

// jellyfinElevatedRoutes are the operations Jellyfin's OpenAPI document marks as
// needing an administrator (a security requirement naming RequiresElevation, or
// LocalAccessOrRequiresElevation). TestGuardedRoutesFollowJellyfinsOpenAPI holds
// the list to the document and prints the list to paste here when they differ.
var jellyfinElevatedRoutes = []string{
	"GET /Auth/Keys",
	"POST /Auth/Keys",
	"DELETE /Auth/Keys/{key}",
	"GET /Auth/PasswordResetProviders",
	"GET /Auth/Providers",
	"GET /Backup",
	"POST /Backup/Create",
	"GET /Backup/Manifest",
	"POST /Backup/Restore",
	"DELETE /Branding/Splashscreen",
	"POST /Branding/Splashscreen",
	"DELETE /Devices",
	"GET /Devices",
	"GET /Devices/Info",
	"GET /Devices/Options",
	"POST /Devices/Options",
	"POST /Items/RemoteSearch/Apply/{itemId}",
	"POST /Items/RemoteSearch/Person",
	"POST /Items/{itemId}",
	"POST /Items/{itemId}/ContentType",
	"GET /Items/{itemId}/ExternalIdInfos",
	"DELETE /Items/{itemId}/Images/{imageType}",
	"POST /Items/{itemId}/Images/{imageType}",
	"DELETE /Items/{itemId}/Images/{imageType}/{imageIndex}",
	"POST /Items/{itemId}/Images/{imageType}/{imageIndex}",
	"POST /Items/{itemId}/Images/{imageType}/{imageIndex}/Index",
	"GET /Items/{itemId}/MetadataEditor",
	"POST /Items/{itemId}/Refresh",
	"POST /Items/{itemId}/RemoteImages/Download",
	"GET /Library/MediaFolders",
	"GET /Library/PhysicalPaths",
	"POST /Library/Refresh",
	"GET /LiveTv/ChannelMappingOptions",
	"POST /LiveTv/ChannelMappings",
	"DELETE /LiveTv/ListingProviders",
	"POST /LiveTv/ListingProviders",
	"GET /LiveTv/ListingProviders/SchedulesDirect/Countries",
	"DELETE /LiveTv/TunerHosts",
	"POST /LiveTv/TunerHosts",
	"GET /LiveTv/Tuners/Discover",
	"GET /LiveTv/Tuners/Discvover",
	"POST /LiveTv/Tuners/{tunerId}/Reset",
	"GET /Packages",
	"POST /Packages/Installed/{name}",
	"DELETE /Packages/Installing/{packageId}",
	"GET /Packages/{name}",
	"GET /Plugins",
	"DELETE /Plugins/{pluginId}",
	"GET /Plugins/{pluginId}/Configuration",
	"POST /Plugins/{pluginId}/Configuration",
	"POST /Plugins/{pluginId}/Manifest",
	"DELETE /Plugins/{pluginId}/{version}",
	"POST /Plugins/{pluginId}/{version}/Disable",
	"POST /Plugins/{pluginId}/{version}/Enable",
	"GET /Plugins/{pluginId}/{version}/Image",
	"GET /Repositories",
	"POST /Repositories",
	"GET /ScheduledTasks",
	"DELETE /ScheduledTasks/Running/{taskId}",
	"POST /ScheduledTasks/Running/{taskId}",
	"GET /ScheduledTasks/{taskId}",
	"POST /ScheduledTasks/{taskId}/Triggers",
	"GET /System/ActivityLog/Entries",
	"POST /System/Configuration",
	"POST /System/Configuration/Branding",
	"GET /System/Configuration/MetadataOptions/Default",
	"POST /System/Configuration/{key}",
	"GET /System/Info/Storage",
	"GET /System/Logs",
	"GET /System/Logs/Log",
	"POST /System/Restart",
	"POST /System/Shutdown",
	"POST /Users/New",
	"DELETE /Users/{userId}",
	"POST /Users/{userId}/Policy",
	"POST /Videos/MergeVersions",
	"DELETE /Videos/{itemId}/AlternateSources",
	"DELETE /Videos/{itemId}/Subtitles/{index}",
	"GET /web/ConfigurationPages",
}

// jellyfinKeyRoutes are the API keys' routes, guarded whatever the method: a key is
// a whole administrator credential, and one minted here would pass the gate as an
// API key.
var jellyfinKeyRoutes = []string{
	"* /Auth/Keys",
	"* /Auth/Keys/{key}",
}

// jellyfinAccountRoutes change a user's password or profile. The two under
// /Users/{userId} are the older spellings Jellyfin still serves but leaves out of
// its document. A user's policy and deleting a user are administrators' routes
// (jellyfinElevatedRoutes); authorizing a Quick Connect code is intercepted
// (interceptedRoutes).
var jellyfinAccountRoutes = []string{
	"POST /Users",
	"POST /Users/Password",
	"POST /Users/{userId}",
	"POST /Users/{userId}/Password",
}

// jellyfinOtherRoutes are Jellyfin routes a guarded route would otherwise match: a
// literal segment where the guarded route has a parameter (Jellyfin's router prefers
// the literal: "POST /Users/Configuration" saves display settings, it does not
// update a user named "Configuration"), or a longer path that ends like one (a
// guarded route is matched by its end, for servers under a base path: a playlist's
// member is no user to delete). TestEveryJellyfinOperationIsGuardedAsItShouldBe
// finds the rows this list needs.
var jellyfinOtherRoutes = []string{
	"POST /Users/AuthenticateByName",
	"POST /Users/AuthenticateWithQuickConnect",
	"POST /Users/Configuration",
	"POST /Users/ForgotPassword",
	"POST /Playlists/{playlistId}/Users/{userId}",
	"DELETE /Playlists/{playlistId}/Users/{userId}",
}

// guardedRoute is a route of the tables above, read once.
type guardedRoute struct {
	method string // "" for any method
	// segments are the path's segments upper-cased as the gate folds paths; ""
	// stands for a parameter.
	segments []string
	// action is the route's action; "" for a row of jellyfinOtherRoutes.
	action domain.Action
}

// routeIndex finds the rows a path may be: each row is filed under its last literal
// segment and the number of parameters after it ("0KEYS" for /Auth/Keys,
// "1KEYS" for /Auth/Keys/{key}), so a request costs a few map look-ups whatever
// the length of the tables; the fast path asks it of every request.
type routeIndex map[string][]guardedRoute

// guardedRoutes are every row of the tables, indexed.
var guardedRoutes = newRouteIndex()

// maxTrailingParams and maxLiteral bound the index's keys: no route ends with
// more parameters, and no literal segment of one is longer.
const (
	maxTrailingParams = 2
	maxLiteral        = 31
)

func newRouteIndex() routeIndex {
	idx := routeIndex{}
	for _, t := range []struct {
		rows   []string
		action domain.Action
	}{
		{jellyfinElevatedRoutes, domain.ActionJellyfinAdmin},
		{jellyfinKeyRoutes, domain.ActionJellyfinAdmin},
		{jellyfinAccountRoutes, domain.ActionJellyfinAccount},
		{jellyfinOtherRoutes, ""},
	} {
		for _, row := range t.rows {
			r := readRoute(row, t.action)
			trailing := 0
			for trailing < len(r.segments) && r.segments[len(r.segments)-1-trailing] == "" {
				trailing++
			}
			literal := r.segments[len(r.segments)-1-trailing]
			if trailing > maxTrailingParams || len(literal) > maxLiteral || trailing == len(r.segments) {
				panic("guarded route " + row + ": outside the index's bounds")
			}
			key := strconv.Itoa(trailing) + literal
			idx[key] = append(idx[key], r)
		}
	}
	return idx
}

// readRoute reads a "METHOD /Path" row; a malformed row is a programming error.
func readRoute(row string, action domain.Action) guardedRoute {
	method, p, ok := strings.Cut(row, " ")
	if !ok || !strings.HasPrefix(p, "/") {
		panic("guarded route " + row + ": want \"METHOD /Path\"")
	}
	if method == "*" {
		method = ""
	}
	segments := strings.Split(strings.ToUpper(p[1:]), "/")
	for i, seg := range segments {
		if strings.HasPrefix(seg, "{") {
			segments[i] = ""
		}
	}
	return guardedRoute{method: method, segments: segments, action: action}
}

// guardedAction is the action a request to Jellyfin takes when its route is
// guarded, "" when it is not. The path is matched as interceptionOf matches it:
// cleaned (Kestrel removes dot segments) and upper-cased the .NET way.
func guardedAction(r *http.Request) domain.Action {
	return guardOf(r.Method, strings.ToUpper(path.Clean(r.URL.Path)))
}

// guardOf is guardedAction on a method and a path already folded: upper-cased, or
// plain ASCII (the fast path's), with no dot or empty segment but perhaps a trailing
// slash, which Jellyfin's router ignores. It allocates nothing, for the fast path.
// A HEAD is matched as a GET; a path under a base path (or Jellyfin's old /emby
// prefix) is matched by its end, as intercepted routes are; a row of
// jellyfinOtherRoutes that matches wins over a guarded one.
func guardOf(method, p string) domain.Action {
	p = strings.TrimSuffix(p, "/")
	var action domain.Action
	rest := p
	for trailing := 0; trailing <= maxTrailingParams; trailing++ {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			break
		}
		seg := rest[j+1:]
		rest = rest[:j]
		if len(seg) > maxLiteral {
			continue
		}
		var key [maxLiteral + 1]byte
		key[0] = byte('0' + trailing)
		for i := 0; i < len(seg); i++ {
			key[1+i] = upperASCII(seg[i])
		}
		for _, r := range guardedRoutes[string(key[:1+len(seg)])] {
			switch {
			case !r.matches(method, p):
			case r.action == "":
				return ""
			case action == "":
				action = r.action
			}
		}
	}
	return action
}

// matches reports whether a request of method for the folded path p is the route:
// the method compared as ASP.NET Core compares it (ignoring case), the path's last
// segments equal to the route's (ignoring ASCII case), a parameter standing for
// any segment that is not empty.
func (g *guardedRoute) matches(method, p string) bool {
	if g.method != "" && !sameMethod(method, g.method) && !(g.method == http.MethodGet && sameMethod(method, http.MethodHead)) {
		return false
	}
	for i := len(g.segments) - 1; i >= 0; i-- {
		j := strings.LastIndexByte(p, '/')
		if j < 0 {
			return false
		}
		seg := p[j+1:]
		if want := g.segments[i]; seg == "" || (want != "" && !equalUpperASCII(seg, want)) {
			return false
		}
		p = p[:j]
	}
	return true
}

// equalUpperASCII reports whether s is upper, an upper-case ASCII string, ignoring
// ASCII case.
func equalUpperASCII(s, upper string) bool {
	if len(s) != len(upper) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if upperASCII(s[i]) != upper[i] {
			return false
		}
	}
	return true
}

// upperASCII upper-cases an ASCII letter and leaves any other byte.
func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
