package jellyfin

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestReadCredentials reads every credential form real clients send
// (../shared/jellyfin/clients.md) with legacy authorization off, as Jellyfin
// 12.0 ships, and on, as 10.11 shipped.
func TestReadCredentials(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123456789abcdef"
	type want struct {
		client, device, deviceID, version, token, source string
	}
	tests := []struct {
		name   string
		header http.Header
		query  string
		// off is what Jellyfin 12.0 reads by default; on is what it reads
		// with legacy authorization on, when that differs.
		off want
		on  want
	}{
		{
			name: "Swiftfin: unquoted, unencoded, any order",
			header: http.Header{"Authorization": {
				"MediaBrowser Version=1.4.0, Token=" + token + ", Client=Swiftfin iOS, DeviceId=iOS_4F1C2D3E-0000-4000-8000-00000000AB12, Device=JanesiPhone",
			}},
			off: want{"Swiftfin iOS", "JanesiPhone", "iOS_4F1C2D3E-0000-4000-8000-00000000AB12", "1.4.0", token, "Authorization"},
		},
		{
			name: "Kodi: unquoted, percent-encoded, with UserId",
			header: http.Header{"Authorization": {
				"MediaBrowser Client=Kodi, Device=Living%20Room%20%28Kodi%29, DeviceId=6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b, Version=1.1.0, UserId=aa, Token=" + token,
			}},
			off: want{"Kodi", "Living Room (Kodi)", "6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "1.1.0", token, "Authorization"},
		},
		{
			name: "web app since 2026: quoted and encodeURIComponent-encoded",
			header: http.Header{"Authorization": {
				`MediaBrowser Client="Jellyfin%20Web", Device="Chrome", DeviceId="TW96aWxs%2BYS81%2FLjA1", Version="12.0.0", Token="` + token + `"`,
			}},
			off: want{"Jellyfin Web", "Chrome", "TW96aWxs+YS81/LjA1", "12.0.0", token, "Authorization"},
		},
		{
			name: "older web app: quoted, not encoded, so '+' in DeviceId becomes a space",
			header: http.Header{"Authorization": {
				`MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="TW96aWxs+YS81/LjA1", Version="10.10.7", Token="` + token + `"`,
			}},
			off: want{"Jellyfin Web", "Firefox", "TW96aWxs YS81/LjA1", "10.10.7", token, "Authorization"},
		},
		{
			name: "Roku: quoted, raw, UserId before DeviceId",
			header: http.Header{"Authorization": {
				`MediaBrowser Client="Jellyfin Roku", Device="Roku Ultra (4800X)", Version="2.2.5", UserId="bb", DeviceId="6c4f2a9e0d3balice", Token="` + token + `"`,
			}},
			off: want{"Jellyfin Roku", "Roku Ultra (4800X)", "6c4f2a9e0d3balice", "2.2.5", token, "Authorization"},
		},
		{
			name: "Kotlin SDK order: Client, Version, DeviceId, Device",
			header: http.Header{"Authorization": {
				`MediaBrowser Client="Jellyfin%20for%20Android%20TV", Version="0.18.0", DeviceId="0b1c2d3e4f", Device="SHIELD%20Android%20TV", Token="` + token + `"`,
			}},
			off: want{"Jellyfin for Android TV", "SHIELD Android TV", "0b1c2d3e4f", "0.18.0", token, "Authorization"},
		},
		{
			name: "Jellyfin Vue sends an empty Token before sign-in",
			header: http.Header{"Authorization": {
				`MediaBrowser Client="Jellyfin%20Web%20(Vue)", Device="Firefox", DeviceId="5b2d", Version="0.3.1", Token=""`,
			}},
			off: want{"Jellyfin Web (Vue)", "Firefox", "5b2d", "0.3.1", "", ""},
		},
		{
			name:   "Sonarr: X-MediaBrowser-Token only",
			header: http.Header{"X-Mediabrowser-Token": {token}},
			off:    want{},
			on:     want{token: token, source: "X-MediaBrowser-Token"},
		},
		{
			name: "old Jellyseerr: X-Emby-Authorization",
			header: http.Header{"X-Emby-Authorization": {
				`MediaBrowser Client="Jellyseerr", Device="Jellyseerr", DeviceId="Qk9UX2plbGx5c2VlcnI=", Version="2.3.0", Token="` + token + `"`,
			}},
			off: want{},
			on:  want{"Jellyseerr", "Jellyseerr", "Qk9UX2plbGx5c2VlcnI=", "2.3.0", token, "X-Emby-Authorization"},
		},
		{
			name:   "Emby scheme",
			header: http.Header{"Authorization": {`Emby Client="Emby Theater", Device="PC", DeviceId="e1", Version="3.0", Token="` + token + `"`}},
			off:    want{},
			on:     want{"Emby Theater", "PC", "e1", "3.0", token, "Authorization"},
		},
		{
			name:   "X-Emby-Token",
			header: http.Header{"X-Emby-Token": {token}},
			off:    want{},
			on:     want{token: token, source: "X-Emby-Token"},
		},
		{
			name:  "api_key query (Streamyfin streams and WebSocket)",
			query: "api_key=" + token + "&deviceId=abc",
			off:   want{},
			on:    want{token: token, source: "api_key"},
		},
		{
			name:  "ApiKey query (web app streams, Kodi)",
			query: "static=true&ApiKey=" + token,
			off:   want{token: token, source: "ApiKey"},
		},
		{
			name:  "query names ignore case",
			query: "APIKEY=" + token,
			off:   want{token: token, source: "ApiKey"},
		},
		{
			name:  "query names ignore case the .NET way: dotless i matches i",
			query: "Ap%C4%B1Key=" + token,
			off:   want{token: token, source: "ApiKey"},
		},
		{
			name:  "the Kelvin sign does not match k",
			query: "Api%E2%84%AAey=" + token,
			off:   want{},
		},
		{
			name:  "repeated query parameters are joined with commas",
			query: "ApiKey=a&apikey=b",
			off:   want{token: "a,b", source: "ApiKey"},
		},
		{
			name:   "the Authorization token wins over the query",
			header: http.Header{"Authorization": {`MediaBrowser Token="` + token + `"`}},
			query:  "ApiKey=other",
			off:    want{token: token, source: "Authorization"},
		},
		{
			name:   "a header without a token falls back to the query",
			header: http.Header{"Authorization": {`MediaBrowser Client="c", Device="d", DeviceId="i", Version="v"`}},
			query:  "ApiKey=" + token,
			off:    want{"c", "d", "i", "v", token, "ApiKey"},
		},
		{
			name:   "another scheme is no credential, but the query still is",
			header: http.Header{"Authorization": {"Bearer " + token}},
			query:  "ApiKey=q",
			off:    want{token: "q", source: "ApiKey"},
		},
		{
			name:   "X-Emby-Authorization is not read when Authorization is present",
			header: http.Header{"Authorization": {"Bearer x"}, "X-Emby-Authorization": {`MediaBrowser Token="` + token + `"`}},
			off:    want{},
			on:     want{},
		},
		{
			name:   "the scheme ignores case",
			header: http.Header{"Authorization": {`mediabrowser Token="` + token + `"`}},
			off:    want{token: token, source: "Authorization"},
		},
		{
			name:   "keys are case-sensitive",
			header: http.Header{"Authorization": {`MediaBrowser token="` + token + `", client="c"`}},
			off:    want{},
		},
		{
			name:   "only the first Authorization header is read",
			header: http.Header{"Authorization": {`MediaBrowser Token="first"`, `MediaBrowser Token="second"`}},
			off:    want{token: "first", source: "Authorization"},
		},
		{
			name:   "an unquoted value with '=' swallows the parameter",
			header: http.Header{"Authorization": {"MediaBrowser DeviceId=abc=, Token=" + token}},
			off:    want{token: token, source: "Authorization"},
		},
	}
	for _, tt := range tests {
		for _, legacy := range []bool{false, true} {
			w := tt.off
			if legacy && tt.on != (want{}) {
				w = tt.on
			}
			name := tt.name + map[bool]string{false: " (12.0 default)", true: " (legacy on)"}[legacy]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := httptest.NewRequest(http.MethodGet, "/Users/Me?"+tt.query, nil)
				maps.Copy(r.Header, tt.header)
				c := ReadCredentials(r, legacy)
				got := want{c.Client, c.Device, c.DeviceID, c.Version, c.Token, c.TokenSource}
				if got != w {
					t.Errorf("got  %+v\nwant %+v", got, w)
				}
			})
		}
	}
}

// TestParseAuthorizationParameters pins the quirks of Jellyfin's GetParts.
func TestParseAuthorizationParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want map[string]string
	}{
		{`Client="a", Device="b"`, map[string]string{"Client": "a", "Device": "b"}},
		{`Device="Living room, left"`, map[string]string{"Device": "Living room, left"}},
		{`Device="a=b"`, map[string]string{"Device": "a=b"}},
		{`Token=,Client=c`, map[string]string{"Client": "c"}},
		{`Token=""`, map[string]string{"Token": ""}},
		{`Client = "x"`, map[string]string{"Client": ` "x`}},
		{`Client=a, Client=b`, map[string]string{"Client": "b"}},
		{`Client=a+b%20c`, map[string]string{"Client": "a b c"}},
		{`Client=""quoted""`, map[string]string{"Client": "quoted"}},
		{`lonely`, map[string]string{"": "lonely"}},
		{``, map[string]string{}},
	}
	for _, tt := range tests {
		got := ParseAuthorizationParameters(tt.in)
		if !maps.Equal(got, tt.want) {
			t.Errorf("ParseAuthorizationParameters(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestURLDecode(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain":         "plain",
		"a+b":           "a b",
		"a%20b":         "a b",
		"%2B":           "+",
		"%zz":           "%zz",
		"%2":            "%2",
		"100%":          "100%",
		"%C3%A9t%C3%A9": "été",
		"%FF":           "\uFFFD",
	}
	for in, want := range tests {
		if got := urlDecode(in); got != want {
			t.Errorf("urlDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEqualFoldOrdinal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"MediaBrowser", "mediabrowser", true},
		{"Medıabrowser", "MediaBrowser", true}, // dotless i upper-cases to I
		{"MediaBrowſer", "MediaBrowser", true}, // long s upper-cases to S
		{"\u212Aey", "key", false},             // the Kelvin sign upper-cases to itself
		{"Emby", "Emb", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := equalFoldOrdinal(tt.a, tt.b); got != tt.want {
			t.Errorf("equalFoldOrdinal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzParseAuthorizationParameters checks that the parser never panics, that
// keys come out trimmed, and that quoted, percent-encoded values (what the
// web app and the SDKs send) always read back as they were written.
func FuzzParseAuthorizationParameters(f *testing.F) {
	f.Add(`Client="Jellyfin%20Web", Token="abc"`, "Jellyfin Web", "0123")
	f.Add(`DeviceId=a=b, Token=,`, "Kodi", "x,y")
	f.Add(`"unterminated, Client=x`, "a\"b", "=")
	f.Fuzz(func(t *testing.T, raw, client, token string) {
		for k := range ParseAuthorizationParameters(raw) {
			if k != strings.TrimSpace(k) {
				t.Fatalf("key %q is not trimmed", k)
			}
		}
		if !utf8.ValidString(client) || !utf8.ValidString(token) {
			return
		}
		header := `Client="` + url.QueryEscape(client) + `", Token="` + url.QueryEscape(token) + `"`
		got := ParseAuthorizationParameters(header)
		if got["Client"] != client || got["Token"] != token {
			t.Fatalf("%q parsed as %q", header, got)
		}
	})
}

// FuzzURLDecode checks that decoding never yields invalid UTF-8 and agrees
// with Go's query unescaping wherever that accepts the input.
func FuzzURLDecode(f *testing.F) {
	for _, seed := range []string{"a+b", "%41%zz", "%", "%C3%A9", "%FF%FE", "100%25"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := urlDecode(s)
		if !utf8.ValidString(got) {
			t.Fatalf("urlDecode(%q) = %q is not UTF-8", s, got)
		}
		if want, err := url.QueryUnescape(s); err == nil && utf8.ValidString(want) && got != want {
			t.Fatalf("urlDecode(%q) = %q, url.QueryUnescape = %q", s, got, want)
		}
	})
}
