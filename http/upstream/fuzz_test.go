package upstream_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/jfguard/jfguard/http/upstream"
)

// The fuzz tests compare the gate with a model of how Jellyfin (10.10 to 12.0,
// Jellyfin.Server.Implementations/Security/AuthorizationContext.cs) reads a request.
// The property that matters: whenever Jellyfin would authenticate a request with a
// token, ExtractCredentials returns that same token or refuses the request.

// jellyfinUrlDecode models .NET's WebUtility.UrlDecode: '+' is a space, %XX with two
// hex digits is a byte, anything else stays, and the bytes are read as UTF-8 with
// replacement characters.
func jellyfinUrlDecode(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' {
			b = append(b, ' ')
			continue
		}
		if c == '%' && i+2 < len(s) {
			hi, okHi := fromHex(s[i+1])
			lo, okLo := fromHex(s[i+2])
			if okHi && okLo {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// jellyfinGetParts models AuthorizationContext.GetParts: every quote toggles the
// quoted state, ',' outside quotes ends a value, '=' outside quotes ends a key, a
// value is stored only when it is not empty (so the key stays pending otherwise),
// keys are trimmed of whitespace, values only of quotes, and the last value wins.
func jellyfinGetParts(s string) map[string]string {
	result := map[string]string{}
	escaped := false
	start := 0
	key := ""
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			escaped = !escaped
		case c == ',' && !escaped:
			if start < i {
				result[key] = jellyfinUrlDecode(strings.Trim(s[start:i], `"`))
				key = ""
			}
			start = i + 1
		case c == '=' && !escaped:
			key = strings.TrimFunc(s[start:i], unicode.IsSpace)
			start = i + 1
		}
	}
	if start < len(s) {
		result[key] = jellyfinUrlDecode(strings.Trim(s[start:], `"`))
	}
	return result
}

// jellyfinAuthorization models AuthorizationContext.GetAuthorization: the scheme is
// the text before the first space, and only MediaBrowser and Emby are read.
func jellyfinAuthorization(value string) map[string]string {
	scheme, rest, ok := strings.Cut(value, " ")
	if !ok || !(strings.EqualFold(scheme, "MediaBrowser") || strings.EqualFold(scheme, "Emby")) {
		return nil
	}
	return jellyfinGetParts(rest)
}

// stringValues models ASP.NET's StringValues turned into a string: repeated values are
// joined with commas, empty ones included. Jellyfin then looks up a token such as
// "a,a" or "," that no session has, since Jellyfin issues only hexadecimal tokens;
// the gate reads "a" or nothing instead. That difference only makes the gate
// stricter, so a value repeated (or alongside empty ones) is folded to itself here.
func stringValues(values []string) string {
	var distinct []string
	for _, v := range values {
		if v != "" && !slices.Contains(distinct, v) {
			distinct = append(distinct, v)
		}
	}
	switch len(distinct) {
	case 0:
		return ""
	case 1:
		return distinct[0]
	}
	return strings.Join(values, ",")
}

// aspNetQuery models ASP.NET Core's query collection: pairs split on '&', name and
// value on the first '=', both decoded, names compared case-insensitively.
func aspNetQuery(raw, name string) []string {
	var values []string
	for pair := range strings.SplitSeq(raw, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if strings.EqualFold(jellyfinUrlDecode(k), name) {
			values = append(values, jellyfinUrlDecode(v))
		}
	}
	return values
}

// jellyfinToken models the token Jellyfin reads from a request, with legacy forms on,
// for both header precedences Jellyfin has had: 12.0 reads Authorization before
// X-Emby-Authorization, older releases the other way round.
func jellyfinToken(h http.Header, rawQuery string, embyFirst bool) string {
	first, second := "Authorization", "X-Emby-Authorization"
	if embyFirst {
		first, second = second, first
	}
	auth := h[first]
	if strings.Join(auth, ",") == "" {
		auth = h[second]
	}
	var token string
	if len(auth) > 0 {
		token = jellyfinAuthorization(auth[0])["Token"]
	}
	for _, next := range []func() string{
		func() string { return stringValues(h["X-Emby-Token"]) },
		func() string { return stringValues(h["X-Mediabrowser-Token"]) },
		func() string { return stringValues(aspNetQuery(rawQuery, "ApiKey")) },
		func() string { return stringValues(aspNetQuery(rawQuery, "api_key")) },
	} {
		if token == "" {
			token = next()
		}
	}
	return token
}

func jellyfinBlank(s string) bool {
	return strings.TrimFunc(s, unicode.IsSpace) == ""
}

func checkTokenChars(t *testing.T, token string) {
	t.Helper()
	if !utf8.ValidString(token) {
		t.Fatalf("token %q is not valid UTF-8", token)
	}
	for _, r := range token {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			t.Fatalf("token %q contains %U", token, r)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{
		webHeader, web1011Header, kotlinHeader, swiftfinHeader, kodiHeader, rokuHeader, vueHeader,
		streamyfinQC, streamyfinHand, jellyseerrAuth, seerrAuth,
		`Emby Token=abc`, `MediaBrowser Token=,abc`, `MediaBrowser X=Token=abc`, `MediaBrowser Client="x, Token=abc`,
		`MediaBrowser Token="a"b"c"`, `MediaBrowser Token=a%2`, `MediaBrowser Token=%E2%80%A8`, "MediaBrowser Token=a\tb",
		"Basic dXNlcjpwYXNz", "Bearer abc", "MediaBrowser,Token=abc", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		scheme, params, err := upstream.ParseAuthorization(value)
		if err != nil {
			if !errors.Is(err, upstream.ErrMalformedCredentials) {
				t.Fatalf("error %v is not ErrMalformedCredentials", err)
			}
			if scheme != "" || params != nil {
				t.Fatalf("returned %q %v with error %v", scheme, params, err)
			}
			return
		}
		model := jellyfinAuthorization(value)
		if params == nil {
			if jfToken := model["Token"]; !jellyfinBlank(jfToken) {
				t.Fatalf("%q: the gate ignored a header Jellyfin reads token %q from", value, jfToken)
			}
			return
		}
		for k, v := range params {
			if k == "" {
				t.Fatalf("empty key in %q", value)
			}
			for _, r := range v {
				if unicode.IsControl(r) {
					t.Fatalf("value %q of %s contains %U", v, k, r)
				}
			}
		}
		token, ok := params["Token"]
		if ok {
			checkTokenChars(t, token)
		}
		jfToken := model["Token"]
		if !jellyfinBlank(jfToken) && token != jfToken {
			t.Fatalf("%q: gate token %q, Jellyfin token %q", value, token, jfToken)
		}
		if token != "" && token != jfToken {
			t.Fatalf("%q: gate token %q, Jellyfin token %q", value, token, jfToken)
		}
	})
}

func FuzzExtractCredentials(f *testing.F) {
	f.Add(webHeader, "", "", "", "")
	f.Add(webHeader, "", "", "", "Static=true&ApiKey=4f2a9c0e8b7d4e6f9a1b2c3d4e5f6a7b")
	f.Add(kotlinHeader, "", "", "", "")
	f.Add(swiftfinHeader, "", "", "", "")
	f.Add(kodiHeader, "", "", "", "static=true&ApiKey=fedcba9876543210fedcba9876543210")
	f.Add(rokuHeader, "", "", "", "")
	f.Add(vueHeader, "", "", "", "")
	f.Add(streamyfinHand, "", "", "", "api_key=aaaabbbbccccddddeeeeffff00001111")
	f.Add("", jellyseerrAuth, "", "", "")
	f.Add(seerrAuth, "", "", "", "")
	f.Add("", "", "", "c0ffee00c0ffee00c0ffee00c0ffee00", "")
	f.Add("", "", "abc\nabc", "", "")
	f.Add("Basic dXNlcjpwYXNz", web1011Header, "", "", "")
	f.Add("Bearer abc", "", "", "", "apikey=abc&API_KEY=abc")
	f.Add("MediaBrowser Token=a\nMediaBrowser Token=b", "", "", "", "")
	f.Add("", "", "", "", "%41pi%4Bey=abc&x=%zz")
	f.Fuzz(func(t *testing.T, authorization, embyAuthorization, embyToken, mediaBrowserToken, rawQuery string) {
		h := http.Header{}
		for name, lines := range map[string]string{
			"Authorization":        authorization,
			"X-Emby-Authorization": embyAuthorization,
			"X-Emby-Token":         embyToken,
			"X-Mediabrowser-Token": mediaBrowserToken,
		} {
			if lines != "" {
				h[name] = strings.Split(lines, "\n")
			}
		}
		r := &http.Request{Header: h, URL: &url.URL{Path: "/Items", RawQuery: rawQuery}}
		c, err := upstream.ExtractCredentials(r)
		if err != nil {
			if !errors.Is(err, upstream.ErrMalformedCredentials) && !errors.Is(err, upstream.ErrAmbiguousCredentials) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if c != (upstream.Credentials{}) {
				t.Fatalf("credentials %+v returned with error %v", c, err)
			}
			return
		}
		checkTokenChars(t, c.Token)
		if (c.Token == "") != (c.Source == upstream.NoToken) {
			t.Fatalf("token %q with source %v", c.Token, c.Source)
		}
		for _, embyFirst := range []bool{false, true} {
			if jf := jellyfinToken(h, rawQuery, embyFirst); !jellyfinBlank(jf) && jf != c.Token {
				t.Fatalf("gate token %q, Jellyfin token %q (X-Emby-Authorization first: %v)", c.Token, jf, embyFirst)
			}
		}
	})
}
