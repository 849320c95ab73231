package upstream_test

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/http/upstream"
)

// The header values real clients send, as recorded in shared/jellyfin/clients.md.
const (
	webHeader = `MediaBrowser Client="Jellyfin%20Web", Device="Firefox", DeviceId="TW96aWxsYS81LjAgKFgxMTsgTGludXgpfDE3MjQwMDAwMDA1",` +
		` Version="12.0.0", Token="4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b"`
	web1011Header  = `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="TW96+aWxsYS/81LjA1", Version="10.11.5", Token="4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b"`
	kotlinHeader   = `MediaBrowser Client="Jellyfin%20for%20Android%20TV", Version="0.18.3", DeviceId="5d41402abc4b2a76b9719d911017c592", Device="Google%20Chromecast", Token="0123456789abcdef0123456789abcdef"`
	swiftfinHeader = `MediaBrowser DeviceId=iOS_3F2504E0-4F89-11D3-9A0C-0305E82C3301, Device=Anna'siPhone, Client=Swiftfin iOS, Version=1.4.0, Token=abcdef0123456789abcdef0123456789`
	kodiHeader     = `MediaBrowser Client=Kodi, Device=Living%20Room%20%28Kodi%29, DeviceId=7f0c1d2e-3a4b-5c6d-7e8f-901a2b3c4d5e, Version=1.1.0, UserId=9a8b7c6d5e4f, Token=fedcba9876543210fedcba9876543210`
	rokuHeader     = `MediaBrowser Client="Jellyfin Roku", Device="Living Room (Roku Ultra)", Version="2.2.5", UserId="9a8b7c6d5e4f", DeviceId="a1b2c3d4jane", Token="11112222333344445555666677778888"`
	vueHeader      = `MediaBrowser Client="Jellyfin%20Web%20(Vue)", Device="Firefox", DeviceId="0b6c8f5e-7d2a-4c1b-9e3f-5a6b7c8d9e0f", Version="0.3.1", Token=""`
	streamyfinQC   = `MediaBrowser Client="Streamyfin", Device=Android, DeviceId="3b241101-e2bb-4255-8caf-4136c566a962", Version="0.28.0"`
	streamyfinHand = `MediaBrowser DeviceId="3b241101-e2bb-4255-8caf-4136c566a962", Token="aaaabbbbccccddddeeeeffff00001111"`
	jellyseerrAuth = `MediaBrowser Client="Jellyseerr", Device="Jellyseerr", DeviceId="Qk9UX2plbGx5c2VlcnJfYWxpY2U=", Version="2.3.0", Token="99990000aaaabbbbccccddddeeeeffff"`
	seerrAuth      = `MediaBrowser Client="Seerr", Device="Seerr", DeviceId="Qk9UX3NlZXJyX2JvYg==", Version="3.0.0", Token="99990000aaaabbbbccccddddeeeeffff"`
)

func credRequest(target string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func TestExtractCredentials(t *testing.T) {
	tests := []struct {
		name    string
		req     *http.Request
		want    upstream.Credentials
		wantErr error
	}{
		{
			name: "Jellyfin Web 12.0, quoted and encoded",
			req:  credRequest("/Users/Me", "Authorization", webHeader),
			want: upstream.Credentials{Token: "4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b", Source: upstream.AuthorizationHeader,
				Client: "Jellyfin Web", Device: "Firefox", DeviceID: "TW96aWxsYS81LjAgKFgxMTsgTGludXgpfDE3MjQwMDAwMDA1", Version: "12.0.0", HasAuthHeader: true},
		},
		{
			name: "Jellyfin Web 10.11, raw device id whose + Jellyfin reads as a space",
			req:  credRequest("/Users/Me", "Authorization", web1011Header),
			want: upstream.Credentials{Token: "4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b", Source: upstream.AuthorizationHeader,
				Client: "Jellyfin Web", Device: "Chrome", DeviceID: "TW96 aWxsYS/81LjA1", Version: "10.11.5", HasAuthHeader: true},
		},
		{
			name: "Jellyfin Web stream, header and the same ApiKey",
			req:  credRequest("/Videos/1/stream?Static=true&ApiKey=4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b", "Authorization", webHeader),
			want: upstream.Credentials{Token: "4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b", Source: upstream.AuthorizationHeader,
				Client: "Jellyfin Web", Device: "Firefox", DeviceID: "TW96aWxsYS81LjAgKFgxMTsgTGludXgpfDE3MjQwMDAwMDA1", Version: "12.0.0", HasAuthHeader: true},
		},
		{
			name: "Jellyfin Web WebSocket, api_key in the query",
			req:  credRequest("/socket?api_key=4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b&deviceId=TW96aWxsYS81"),
			want: upstream.Credentials{Token: "4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b", Source: upstream.QueryLegacyApiKey},
		},
		{
			name: "Jellyfin Web with the 2021 apiclient, X-Emby-Authorization",
			req:  credRequest("/Users/Me", "X-Emby-Authorization", web1011Header),
			want: upstream.Credentials{Token: "4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b", Source: upstream.EmbyAuthorizationHeader,
				Client: "Jellyfin Web", Device: "Chrome", DeviceID: "TW96 aWxsYS/81LjA1", Version: "10.11.5", HasAuthHeader: true},
		},
		{
			name: "Kotlin SDK (Android TV, Findroid, Android native player)",
			req:  credRequest("/Items", "Authorization", kotlinHeader),
			want: upstream.Credentials{Token: "0123456789abcdef0123456789abcdef", Source: upstream.AuthorizationHeader,
				Client: "Jellyfin for Android TV", Device: "Google Chromecast", DeviceID: "5d41402abc4b2a76b9719d911017c592", Version: "0.18.3", HasAuthHeader: true},
		},
		{
			name: "Android Auto, ApiKey appended",
			req:  credRequest("/Audio/1/universal?UserId=u&ApiKey=0123456789abcdef0123456789abcdef"),
			want: upstream.Credentials{Token: "0123456789abcdef0123456789abcdef", Source: upstream.QueryApiKey},
		},
		{
			name: "Swiftfin, unquoted, unencoded, any order",
			req:  credRequest("/Users/Me", "Authorization", swiftfinHeader),
			want: upstream.Credentials{Token: "abcdef0123456789abcdef0123456789", Source: upstream.AuthorizationHeader,
				Client: "Swiftfin iOS", Device: "Anna'siPhone", DeviceID: "iOS_3F2504E0-4F89-11D3-9A0C-0305E82C3301", Version: "1.4.0", HasAuthHeader: true},
		},
		{
			name: "Swiftfin sign-in, no token yet",
			req:  credRequest("/Users/AuthenticateByName", "Authorization", "MediaBrowser Version=1.4.0, Client=Swiftfin tvOS, DeviceId=tvOS_X, Device=AppleTV"),
			want: upstream.Credentials{Client: "Swiftfin tvOS", Device: "AppleTV", DeviceID: "tvOS_X", Version: "1.4.0", HasAuthHeader: true},
		},
		{
			name: "Kodi, unquoted and percent-encoded",
			req:  credRequest("/Users/Me", "Authorization", kodiHeader),
			want: upstream.Credentials{Token: "fedcba9876543210fedcba9876543210", Source: upstream.AuthorizationHeader,
				Client: "Kodi", Device: "Living Room (Kodi)", DeviceID: "7f0c1d2e-3a4b-5c6d-7e8f-901a2b3c4d5e", Version: "1.1.0", HasAuthHeader: true},
		},
		{
			name: "Kodi stream, ApiKey only",
			req:  credRequest("/Videos/1/stream?static=true&ApiKey=fedcba9876543210fedcba9876543210"),
			want: upstream.Credentials{Token: "fedcba9876543210fedcba9876543210", Source: upstream.QueryApiKey},
		},
		{
			name: "Roku, quoted and raw with spaces and parentheses",
			req:  credRequest("/Users/Me", "Authorization", rokuHeader),
			want: upstream.Credentials{Token: "11112222333344445555666677778888", Source: upstream.AuthorizationHeader,
				Client: "Jellyfin Roku", Device: "Living Room (Roku Ultra)", DeviceID: "a1b2c3d4jane", Version: "2.2.5", HasAuthHeader: true},
		},
		{
			name: "Jellyfin Vue before sign-in, empty Token",
			req:  credRequest("/Users/AuthenticateByName", "Authorization", vueHeader),
			want: upstream.Credentials{Client: "Jellyfin Web (Vue)", Device: "Firefox", DeviceID: "0b6c8f5e-7d2a-4c1b-9e3f-5a6b7c8d9e0f", Version: "0.3.1", HasAuthHeader: true},
		},
		{
			name: "Streamyfin Quick Connect, mixed quoting",
			req:  credRequest("/QuickConnect/Initiate", "Authorization", streamyfinQC),
			want: upstream.Credentials{Client: "Streamyfin", Device: "Android", DeviceID: "3b241101-e2bb-4255-8caf-4136c566a962", Version: "0.28.0", HasAuthHeader: true},
		},
		{
			name: "Streamyfin hand-built header",
			req:  credRequest("/Items", "Authorization", streamyfinHand),
			want: upstream.Credentials{Token: "aaaabbbbccccddddeeeeffff00001111", Source: upstream.AuthorizationHeader,
				DeviceID: "3b241101-e2bb-4255-8caf-4136c566a962", HasAuthHeader: true},
		},
		{
			name: "Jellyseerr, X-Emby-Authorization with '=' inside a quoted device id",
			req:  credRequest("/Users/Me", "X-Emby-Authorization", jellyseerrAuth),
			want: upstream.Credentials{Token: "99990000aaaabbbbccccddddeeeeffff", Source: upstream.EmbyAuthorizationHeader,
				Client: "Jellyseerr", Device: "Jellyseerr", DeviceID: "Qk9UX2plbGx5c2VlcnJfYWxpY2U=", Version: "2.3.0", HasAuthHeader: true},
		},
		{
			name: "Seerr, Authorization",
			req:  credRequest("/Users/Me", "Authorization", seerrAuth),
			want: upstream.Credentials{Token: "99990000aaaabbbbccccddddeeeeffff", Source: upstream.AuthorizationHeader,
				Client: "Seerr", Device: "Seerr", DeviceID: "Qk9UX3NlZXJyX2JvYg==", Version: "3.0.0", HasAuthHeader: true},
		},
		{
			name: "Sonarr and Radarr, X-MediaBrowser-Token only",
			req:  credRequest("/Library/Media/Updated", "X-MediaBrowser-Token", "c0ffee00c0ffee00c0ffee00c0ffee00"),
			want: upstream.Credentials{Token: "c0ffee00c0ffee00c0ffee00c0ffee00", Source: upstream.MediaBrowserTokenHeader},
		},
		{
			name: "X-Emby-Token",
			req:  credRequest("/Items", "X-Emby-Token", "c0ffee00c0ffee00c0ffee00c0ffee00"),
			want: upstream.Credentials{Token: "c0ffee00c0ffee00c0ffee00c0ffee00", Source: upstream.EmbyTokenHeader},
		},
		{
			name: "Emby scheme",
			req:  credRequest("/Items", "Authorization", `Emby Client="Old", Token="abc"`),
			want: upstream.Credentials{Token: "abc", Source: upstream.AuthorizationHeader, Client: "Old", HasAuthHeader: true},
		},
		{
			name: "scheme matched case-insensitively",
			req:  credRequest("/Items", "Authorization", `mediabrowser Token="abc"`),
			want: upstream.Credentials{Token: "abc", Source: upstream.AuthorizationHeader, HasAuthHeader: true},
		},
		{
			name: "keys are case-sensitive: token is not Token",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Client="x", token="abc", TOKEN="def"`),
			want: upstream.Credentials{Client: "x", HasAuthHeader: true},
		},
		{
			name: "Bearer is not a Jellyfin credential",
			req:  credRequest("/Items", "Authorization", "Bearer abc"),
			want: upstream.Credentials{},
		},
		{
			name: "outer proxy Basic auth beside X-Emby-Authorization",
			req:  credRequest("/Items", "Authorization", "Basic dXNlcjpwYXNz", "X-Emby-Authorization", `MediaBrowser Client="c", Token="abc"`),
			want: upstream.Credentials{Token: "abc", Source: upstream.EmbyAuthorizationHeader, Client: "c", HasAuthHeader: true},
		},
		{
			name: "query names are case-insensitive",
			req:  credRequest("/Items?APIKEY=abc&apikey=abc&Api_Key=abc&API_KEY=abc"),
			want: upstream.Credentials{Token: "abc", Source: upstream.QueryApiKey},
		},
		{
			name: "percent-encoded query name",
			req:  credRequest("/Items?%41pi%4Bey=abc"),
			want: upstream.Credentials{Token: "abc", Source: upstream.QueryApiKey},
		},
		{
			name: "a bad escape elsewhere in the query does not hide the token",
			req:  credRequest("/Items?x=%zz&ApiKey=abc%4"),
			want: upstream.Credentials{Token: "abc%4", Source: upstream.QueryApiKey},
		},
		{
			name: "semicolons do not separate query parameters",
			req:  credRequest("/Items?x=1;ApiKey=abc"),
			want: upstream.Credentials{},
		},
		{
			name: "empty ApiKey is no token",
			req:  credRequest("/Items?ApiKey=&api_key"),
			want: upstream.Credentials{},
		},
		{
			name: "no credentials",
			req:  credRequest("/web/index.html"),
			want: upstream.Credentials{},
		},
		{
			name: "same token everywhere",
			req: credRequest("/Items?ApiKey=abc&api_key=abc", "Authorization", `MediaBrowser Token="abc"`,
				"X-Emby-Authorization", `Emby Token=abc`, "X-Emby-Token", "abc", "X-MediaBrowser-Token", "abc"),
			want: upstream.Credentials{Token: "abc", Source: upstream.AuthorizationHeader, HasAuthHeader: true},
		},
		{
			name: "identical repeated headers",
			req:  credRequest("/Items", "X-Emby-Token", "abc", "X-Emby-Token", "abc"),
			want: upstream.Credentials{Token: "abc", Source: upstream.EmbyTokenHeader},
		},
		{
			name: "identity from the first MediaBrowser header",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Client="a", Token="abc"`, "X-Emby-Authorization", `MediaBrowser Client="b", Token="abc"`),
			want: upstream.Credentials{Token: "abc", Source: upstream.AuthorizationHeader, Client: "a", HasAuthHeader: true},
		},
		{
			name: "bad percent sequences stay as they are, like WebUtility.UrlDecode",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Device=100%zz, Client=%, Version=1%4, DeviceId=a%2Bb%2`),
			want: upstream.Credentials{Device: "100%zz", Client: "%", Version: "1%4", DeviceID: "a+b%2", HasAuthHeader: true},
		},
		{
			name: "invalid UTF-8 in a device name becomes the replacement character",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Device=TV%FF`),
			want: upstream.Credentials{Device: "TV\uFFFD", HasAuthHeader: true},
		},
		{
			name: "trailing and repeated commas",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Client=a,, Token=abc,`),
			want: upstream.Credentials{Token: "abc", Source: upstream.AuthorizationHeader, Client: "a", HasAuthHeader: true},
		},
		{
			name: "duplicated key with the same value",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Token=abc, Token="abc"`),
			want: upstream.Credentials{Token: "abc", Source: upstream.AuthorizationHeader, HasAuthHeader: true},
		},
		{
			name: "percent-encoded token",
			req:  credRequest("/Items", "Authorization", `MediaBrowser Token="ab%2Bc"`),
			want: upstream.Credentials{Token: "ab+c", Source: upstream.AuthorizationHeader, HasAuthHeader: true},
		},

		{name: "two ApiKey values", req: credRequest("/Items?ApiKey=abc&ApiKey=def"), wantErr: upstream.ErrAmbiguousCredentials},
		{name: "ApiKey and apikey differ", req: credRequest("/Items?ApiKey=abc&apikey=def"), wantErr: upstream.ErrAmbiguousCredentials},
		{name: "ApiKey and api_key differ", req: credRequest("/Items?ApiKey=abc&api_key=def"), wantErr: upstream.ErrAmbiguousCredentials},
		{name: "header and query differ", req: credRequest("/Items?ApiKey=def", "Authorization", webHeader), wantErr: upstream.ErrAmbiguousCredentials},
		{
			name:    "Authorization and X-Emby-Authorization differ",
			req:     credRequest("/Items", "Authorization", `MediaBrowser Token=abc`, "X-Emby-Authorization", `MediaBrowser Token=def`),
			wantErr: upstream.ErrAmbiguousCredentials,
		},
		{name: "two Authorization headers differ", req: credRequest("/Items", "Authorization", `MediaBrowser Token=abc`, "Authorization", `MediaBrowser Token=def`), wantErr: upstream.ErrAmbiguousCredentials},
		{name: "repeated X-Emby-Token differ", req: credRequest("/Items", "X-Emby-Token", "abc", "X-Emby-Token", "def"), wantErr: upstream.ErrAmbiguousCredentials},
		{name: "X-Emby-Token and X-MediaBrowser-Token differ", req: credRequest("/Items", "X-Emby-Token", "abc", "X-MediaBrowser-Token", "def"), wantErr: upstream.ErrAmbiguousCredentials},
		{name: "header token and X-Emby-Token differ", req: credRequest("/Items", "Authorization", swiftfinHeader, "X-Emby-Token", "def"), wantErr: upstream.ErrAmbiguousCredentials},

		{name: "unterminated quote", req: credRequest("/Items", "Authorization", `MediaBrowser Client="x, Token=abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "duplicated key, different values", req: credRequest("/Items", "Authorization", `MediaBrowser Token=abc, Token=def`), wantErr: upstream.ErrMalformedCredentials},
		{name: "duplicated Client, different values", req: credRequest("/Items", "Authorization", `MediaBrowser Client=a, Client=b`), wantErr: upstream.ErrMalformedCredentials},
		{name: "bare word that Jellyfin reads as the token", req: credRequest("/Items", "Authorization", `MediaBrowser Token=,abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "parameter without '='", req: credRequest("/Items", "Authorization", `MediaBrowser Client=a, junk`), wantErr: upstream.ErrMalformedCredentials},
		{name: "second '=' that Jellyfin reads as a key", req: credRequest("/Items", "Authorization", `MediaBrowser X=Token=abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "missing comma between parameters", req: credRequest("/Items", "Authorization", `MediaBrowser Client=x Token=abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "quote inside a value", req: credRequest("/Items", "Authorization", `MediaBrowser Token=ab"c,d"`), wantErr: upstream.ErrMalformedCredentials},
		{name: "doubled quotes", req: credRequest("/Items", "Authorization", `MediaBrowser Token=""abc""`), wantErr: upstream.ErrMalformedCredentials},
		{name: "quoted key", req: credRequest("/Items", "Authorization", `MediaBrowser "Token"=abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "empty key", req: credRequest("/Items", "Authorization", `MediaBrowser =abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "raw control character", req: credRequest("/Items", "Authorization", "MediaBrowser Client=a\x01b"), wantErr: upstream.ErrMalformedCredentials},
		{name: "raw control character in quotes", req: credRequest("/Items", "Authorization", "MediaBrowser Client=\"a\x7fb\""), wantErr: upstream.ErrMalformedCredentials},
		{name: "encoded newline in Device", req: credRequest("/Items", "Authorization", `MediaBrowser Device=a%0Ab`), wantErr: upstream.ErrMalformedCredentials},
		{name: "encoded C1 control in Client", req: credRequest("/Items", "Authorization", `MediaBrowser Client=a%C2%85b`), wantErr: upstream.ErrMalformedCredentials},
		{name: "encoded NUL in Token", req: credRequest("/Items", "Authorization", `MediaBrowser Token=abc%00`), wantErr: upstream.ErrMalformedCredentials},
		{name: "plus in Token decodes to a space", req: credRequest("/Items", "Authorization", `MediaBrowser Token=a+b`), wantErr: upstream.ErrMalformedCredentials},
		{name: "encoded space in Token", req: credRequest("/Items", "Authorization", `MediaBrowser Token="a%20b"`), wantErr: upstream.ErrMalformedCredentials},
		{name: "encoded no-break space in Token", req: credRequest("/Items", "Authorization", `MediaBrowser Token=a%C2%A0b`), wantErr: upstream.ErrMalformedCredentials},
		{name: "space before the token", req: credRequest("/Items", "Authorization", `MediaBrowser Token= abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "space after the token", req: credRequest("/Items", "Authorization", `MediaBrowser Token=abc , Client=x`), wantErr: upstream.ErrMalformedCredentials},
		{name: "invalid UTF-8 in Token", req: credRequest("/Items", "Authorization", `MediaBrowser Token=abc%FF`), wantErr: upstream.ErrMalformedCredentials},
		{name: "scheme glued to a comma", req: credRequest("/Items", "Authorization", `MediaBrowser,Token=abc`), wantErr: upstream.ErrMalformedCredentials},
		{name: "scheme followed by a tab", req: credRequest("/Items", "X-Emby-Authorization", "Emby\tToken=abc"), wantErr: upstream.ErrMalformedCredentials},
		{name: "malformed X-Emby-Authorization beside a valid Authorization", req: credRequest("/Items", "Authorization", webHeader, "X-Emby-Authorization", `MediaBrowser Token="x`), wantErr: upstream.ErrMalformedCredentials},
		{name: "space inside X-Emby-Token", req: credRequest("/Items", "X-Emby-Token", "abc def"), wantErr: upstream.ErrMalformedCredentials},
		{name: "plus in ApiKey", req: credRequest("/Items?ApiKey=abc+def"), wantErr: upstream.ErrMalformedCredentials},
		{name: "encoded control character in api_key", req: credRequest("/Items?api_key=abc%0d"), wantErr: upstream.ErrMalformedCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := upstream.ExtractCredentials(tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if got != (upstream.Credentials{}) {
					t.Fatalf("credentials = %+v with an error, want none", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Header and query names are matched case-insensitively: net/http canonicalizes the
// header names of every request it reads, whatever case the client used.
func TestExtractCredentialsHeaderNameCase(t *testing.T) {
	for _, raw := range []string{
		"GET /Items HTTP/1.1\r\nHost: x\r\nauthorization: MediaBrowser Token=abc\r\n\r\n",
		"GET /Items HTTP/1.1\r\nHost: x\r\nx-emby-authorization: MediaBrowser Token=abc\r\n\r\n",
		"GET /Items HTTP/1.1\r\nHost: x\r\nX-EMBY-TOKEN: abc\r\n\r\n",
		"GET /Items HTTP/1.1\r\nHost: x\r\nx-mediabrowser-token: abc\r\n\r\n",
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := upstream.ExtractCredentials(r)
		if err != nil || c.Token != "abc" {
			t.Errorf("%q: got %+v, %v; want token abc", raw, c, err)
		}
	}
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		name       string
		value      string
		wantScheme string
		want       map[string]string
		wantErr    bool
	}{
		{name: "web", value: webHeader, wantScheme: "MediaBrowser", want: map[string]string{
			"Client": "Jellyfin Web", "Device": "Firefox", "DeviceId": "TW96aWxsYS81LjAgKFgxMTsgTGludXgpfDE3MjQwMDAwMDA1",
			"Version": "12.0.0", "Token": "4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b"}},
		{name: "kodi keeps unknown keys", value: kodiHeader, wantScheme: "MediaBrowser", want: map[string]string{
			"Client": "Kodi", "Device": "Living Room (Kodi)", "DeviceId": "7f0c1d2e-3a4b-5c6d-7e8f-901a2b3c4d5e",
			"Version": "1.1.0", "UserId": "9a8b7c6d5e4f", "Token": "fedcba9876543210fedcba9876543210"}},
		{name: "comma and equals inside quotes", value: `Emby Device="a, b=c", Client=x`, wantScheme: "Emby", want: map[string]string{"Device": "a, b=c", "Client": "x"}},
		{name: "whitespace around keys and values", value: "MediaBrowser  Client =\t\"x\" ,\tDevice= y ", wantScheme: "MediaBrowser", want: map[string]string{"Client": "x", "Device": "y"}},
		{name: "spaces inside quotes are kept", value: `MediaBrowser Device=" TV "`, wantScheme: "MediaBrowser", want: map[string]string{"Device": " TV "}},
		{name: "empty quoted value", value: `MediaBrowser Token=""`, wantScheme: "MediaBrowser", want: map[string]string{"Token": ""}},
		{name: "scheme alone", value: "MediaBrowser", wantScheme: "MediaBrowser", want: map[string]string{}},
		{name: "other scheme", value: "Basic dXNlcjpwYXNz", wantScheme: "Basic"},
		{name: "other scheme whose name starts like ours", value: "MediaBrowserX Token=abc", wantScheme: "MediaBrowserX"},
		{name: "empty value", value: "", wantScheme: ""},
		{name: "unterminated quote", value: `MediaBrowser Device="TV`, wantErr: true},
		{name: "param without equals", value: `MediaBrowser Device`, wantErr: true},
		{name: "duplicate key", value: `MediaBrowser Device=a, Device=b`, wantErr: true},
		{name: "decoded duplicate differs", value: `MediaBrowser Device=a%20b, Device=a+c`, wantErr: true},
		{name: "decoded duplicate agrees", value: `MediaBrowser Device=a%20b, Device=a+b`, wantScheme: "MediaBrowser", want: map[string]string{"Device": "a b"}},
		{name: "trailing whitespace after the token", value: "MediaBrowser Token=abc ", wantErr: true},
		{name: "tab inside a value", value: "MediaBrowser Device=a\tb", wantErr: true},
		{name: "key with a space", value: `MediaBrowser Dev ice=a`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme, params, err := upstream.ParseAuthorization(tt.value)
			if tt.wantErr {
				if !errors.Is(err, upstream.ErrMalformedCredentials) || params != nil {
					t.Fatalf("got %q %v, %v; want ErrMalformedCredentials and no params", scheme, params, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if scheme != tt.wantScheme || !maps.Equal(params, tt.want) || (tt.want == nil) != (params == nil) {
				t.Fatalf("got %q %v, want %q %v", scheme, params, tt.wantScheme, tt.want)
			}
		})
	}
}

func TestTokenSourceString(t *testing.T) {
	want := map[upstream.TokenSource]string{
		upstream.NoToken:                 "none",
		upstream.AuthorizationHeader:     "Authorization",
		upstream.EmbyAuthorizationHeader: "X-Emby-Authorization",
		upstream.EmbyTokenHeader:         "X-Emby-Token",
		upstream.MediaBrowserTokenHeader: "X-MediaBrowser-Token",
		upstream.QueryApiKey:             "ApiKey",
		upstream.QueryLegacyApiKey:       "api_key",
	}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), name)
		}
	}
}

func BenchmarkExtractCredentials(b *testing.B) {
	cases := []struct {
		name string
		req  *http.Request
	}{
		{"web", credRequest("/Users/Me?Fields=x", "Authorization", webHeader, "Accept", "application/json", "User-Agent", "Mozilla/5.0")},
		{"swiftfin", credRequest("/Users/Me", "Authorization", swiftfinHeader)},
		{"kodi", credRequest("/Users/Me", "Authorization", kodiHeader)},
		{"stream-apikey", credRequest("/Videos/1/stream?Static=true&mediaSourceId=abcdef&deviceId=x&ApiKey=0123456789abcdef0123456789abcdef")},
		{"sonarr-token-header", credRequest("/Library/Media/Updated", "X-MediaBrowser-Token", "c0ffee00c0ffee00c0ffee00c0ffee00")},
		{"anonymous", credRequest("/web/index.html", "Accept", "text/html")},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := upstream.ExtractCredentials(bc.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ExampleExtractCredentials() {
	r := httptest.NewRequest(http.MethodGet, "/Users/Me", nil)
	r.Header.Set("Authorization", `MediaBrowser Client="Jellyfin%20Web", Device="Firefox", DeviceId="TW96aWxsYS81", Version="12.0.0", Token="4f2a9c0e8b7d4e6f"`)
	c, err := upstream.ExtractCredentials(r)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Printf("token %s from %s, sent by %s %s on %s\n", c.Token, c.Source, c.Client, c.Version, c.Device)

	r = httptest.NewRequest(http.MethodGet, "/Videos/1/stream?ApiKey=4f2a9c0e8b7d4e6f&api_key=0000", nil)
	_, err = upstream.ExtractCredentials(r)
	fmt.Println(errors.Is(err, upstream.ErrAmbiguousCredentials))
	// Output:
	// token 4f2a9c0e8b7d4e6f from Authorization, sent by Jellyfin Web 12.0.0 on Firefox
	// true
}

func ExampleParseAuthorization() {
	scheme, params, err := upstream.ParseAuthorization(`MediaBrowser DeviceId=iOS_ABC, Device=iPhone, Client=Swiftfin iOS, Version=1.0, Token=abc`)
	fmt.Println(scheme, params, err)
	_, _, err = upstream.ParseAuthorization(`MediaBrowser Token=,abc`)
	fmt.Println(err)
	// Output:
	// MediaBrowser map[Client:Swiftfin iOS Device:iPhone DeviceId:iOS_ABC Token:abc Version:1.0] <nil>
	// malformed credentials: parameter without '='
}
