package gateway

import (
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/domain"
)

// jellyfinOperations reads Jellyfin's OpenAPI document (the stand-in's copy) as
// "METHOD /Path" rows, and the rows whose security names an elevation policy.
func jellyfinOperations(t *testing.T) (all, elevated []string) {
	t.Helper()
	f, err := os.Open("../test/jellyfin/testdata/openapi-stable.json.gz")
	if err != nil {
		t.Fatalf("Jellyfin's OpenAPI document: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("Jellyfin's OpenAPI document: %v", err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		t.Fatalf("Jellyfin's OpenAPI document: %v", err)
	}
	for p, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Security []map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // not an operation (parameters shared by the path)
			}
			row := strings.ToUpper(method) + " " + p
			all = append(all, row)
			for _, req := range op.Security {
				for _, policies := range req {
					if slices.ContainsFunc(policies, func(p string) bool { return strings.HasSuffix(p, "RequiresElevation") }) {
						elevated = append(elevated, row)
					}
				}
			}
		}
	}
	return all, elevated
}

// byPath orders "METHOD /Path" rows as jellyfinElevatedRoutes is written: by path
// ignoring case, then method.
func byPath(rows []string) []string {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b string) int {
		am, ap, _ := strings.Cut(a, " ")
		bm, bp, _ := strings.Cut(b, " ")
		if c := strings.Compare(strings.ToLower(ap), strings.ToLower(bp)); c != 0 {
			return c
		}
		return strings.Compare(am, bm)
	})
	return slices.Compact(rows)
}

// TestGuardedRoutesFollowJellyfinsOpenAPI: the administrators' routes the gate
// guards are exactly those Jellyfin's document marks as needing elevation; when the
// document changes, the test prints the list to paste into guarded_routes.go.
func TestGuardedRoutesFollowJellyfinsOpenAPI(t *testing.T) {
	t.Parallel()
	_, elevated := jellyfinOperations(t)
	want := byPath(elevated)
	if got := byPath(jellyfinElevatedRoutes); !slices.Equal(got, want) {
		var b strings.Builder
		for _, row := range want {
			b.WriteString("\t\"" + row + "\",\n")
		}
		t.Fatalf("jellyfinElevatedRoutes differs from Jellyfin's OpenAPI document; paste:\n%s", b.String())
	}
	if len(want) < 50 {
		t.Fatalf("only %d elevated operations in the document: is it Jellyfin's?", len(want))
	}
}

// TestEveryJellyfinOperationIsGuardedAsItShouldBe: every operation of Jellyfin's
// document, its parameters filled in, is matched by the gate as the tables say:
// an administrators' route, an account route, or neither. This catches a guarded
// pattern that would swallow a route Jellyfin routes elsewhere (a literal segment
// where the pattern has a parameter), and one that misses its route.
func TestEveryJellyfinOperationIsGuardedAsItShouldBe(t *testing.T) {
	t.Parallel()
	all, elevated := jellyfinOperations(t)
	param := regexp.MustCompile(`\{[^}/]+\}`)
	for _, row := range all {
		method, p, _ := strings.Cut(row, " ")
		want := domain.Action("")
		switch {
		case slices.Contains(elevated, row), strings.HasPrefix(p, "/Auth/Keys"):
			want = domain.ActionJellyfinAdmin
		case slices.Contains(jellyfinAccountRoutes, row):
			want = domain.ActionJellyfinAccount
		}
		filled := param.ReplaceAllString(p, "0123456789abcdef0123456789abcdef")
		if got := guardedAction(httptest.NewRequest(method, filled, nil)); got != want {
			t.Errorf("%s %s: action %q, want %q", method, filled, got, want)
		}
	}
}

// TestGuardedActionMatchesAsJellyfinRoutes: the spellings Jellyfin's router takes
// for a guarded route are guarded too (case, a base path, a trailing slash, dot
// segments, .NET's case folding), and the routes that only look alike are not.
func TestGuardedActionMatchesAsJellyfinRoutes(t *testing.T) {
	t.Parallel()
	const id = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		method, target string
		want           domain.Action
	}{
		{"GET", "/Auth/Keys", domain.ActionJellyfinAdmin},
		{"get", "/auth/keys", domain.ActionJellyfinAdmin},
		{"HEAD", "/Auth/Keys", domain.ActionJellyfinAdmin},
		{"PUT", "/Auth/Keys", domain.ActionJellyfinAdmin},
		{"POST", "/Auth/Keys?app=x", domain.ActionJellyfinAdmin},
		{"DELETE", "/Auth/Keys/" + id, domain.ActionJellyfinAdmin},
		{"GET", "/Auth/Keys/", domain.ActionJellyfinAdmin},
		{"GET", "/jellyfin/Auth/Keys", domain.ActionJellyfinAdmin},
		{"GET", "/emby/Auth/Keys", domain.ActionJellyfinAdmin},
		{"GET", "/Auth/./Keys", domain.ActionJellyfinAdmin},
		{"GET", "/Items/../Auth/Keys", domain.ActionJellyfinAdmin},
		{"GET", "//Auth//Keys", domain.ActionJellyfinAdmin},
		{"GET", "/Auth/Keys%2f", domain.ActionJellyfinAdmin},
		{"GET", "/auth/kEYS", domain.ActionJellyfinAdmin},
		{"POST", "/Users/New", domain.ActionJellyfinAdmin},
		{"POST", "/users/" + id + "/policy", domain.ActionJellyfinAdmin},
		{"DELETE", "/Users/" + id, domain.ActionJellyfinAdmin},
		{"POST", "/System/Configuration", domain.ActionJellyfinAdmin},
		{"POST", "/System/Conf\u0131guration", domain.ActionJellyfinAdmin}, // a dotless i is Jellyfin's I
		{"POST", "/Plugins/" + id + "/1.0.0/Enable", domain.ActionJellyfinAdmin},
		{"POST", "/Users/Password?userId=" + id, domain.ActionJellyfinAccount},
		{"POST", "/Users/" + id + "/Password", domain.ActionJellyfinAccount},
		{"post", "/USERS/" + id + "/PASSWORD/", domain.ActionJellyfinAccount},
		{"POST", "/Users?userId=" + id, domain.ActionJellyfinAccount},
		{"POST", "/Users/" + id, domain.ActionJellyfinAccount},
		{"POST", "/Users/Configuration", ""},
		{"POST", "/Users/ForgotPassword", ""},
		{"GET", "/Users/" + id, ""},
		{"GET", "/Items/" + id, ""},
		{"GET", "/Videos/" + id + "/stream", ""},
		{"GET", "/System/Configuration", ""},
		{"GET", "/Auth/Keyss", ""},
		{"GET", "/Auth", ""},
		{"POST", "/QuickConnect/Authorize", ""}, // intercepted
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Method = tc.method
		r.URL.Path, r.URL.RawQuery, _ = strings.Cut(tc.target, "?")
		if tc.target == "/Auth/Keys%2f" {
			r.URL.Path = "/Auth/Keys/"
		}
		if got := guardedAction(r); got != tc.want {
			t.Errorf("%s %s: action %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}
