package jellyfin

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Credentials are what Jellyfin reads from a request to identify the client
// and its token. Jellyfin reads them from several places; keeping the same
// rules here lets tests compare a gateway's reading of a request with
// Jellyfin's.
type Credentials struct {
	Client   string
	Device   string
	DeviceID string
	Version  string
	Token    string
	// TokenSource names where Token was found: "Authorization",
	// "X-Emby-Authorization", "X-Emby-Token", "X-MediaBrowser-Token",
	// "ApiKey" or "api_key". It is empty when there is no token.
	TokenSource string
}

// HasToken reports whether the request carried a token, using Jellyfin's
// rule that a token made only of white space is no token.
func (c Credentials) HasToken() bool {
	return strings.TrimSpace(c.Token) != ""
}

// ReadCredentials reads a request's credentials the way Jellyfin 12.0 does
// (Jellyfin.Server.Implementations/Security/AuthorizationContext.cs).
//
// The Authorization header comes first; with legacy on, X-Emby-Authorization
// is read when Authorization is absent. The first value of the chosen header
// is parsed by ParseAuthorization. The token is the header's Token parameter,
// else (legacy only) X-Emby-Token, else (legacy only) X-MediaBrowser-Token,
// else the ApiKey query parameter, else (legacy only) the api_key query
// parameter. Query parameter names match ignoring case, the way ASP.NET Core
// compares them, and repeated parameters are joined with commas.
//
// legacy is Jellyfin's EnableLegacyAuthorization setting, which is on by
// default in 10.11 and off by default in 12.0.
func ReadCredentials(r *http.Request, legacy bool) Credentials {
	var c Credentials
	source := "Authorization"
	if legacy && joinedHeader(r.Header, source) == "" {
		source = "X-Emby-Authorization"
	}
	if values := r.Header.Values(source); len(values) > 0 {
		if params, ok := ParseAuthorization(values[0], legacy); ok {
			c.Client = params["Client"]
			c.Device = params["Device"]
			c.DeviceID = params["DeviceId"]
			c.Version = params["Version"]
			if token := params["Token"]; token != "" {
				c.Token, c.TokenSource = token, source
			}
		}
	}
	if c.Token == "" && legacy {
		c.Token, c.TokenSource = joinedHeader(r.Header, "X-Emby-Token"), "X-Emby-Token"
	}
	if c.Token == "" && legacy {
		c.Token, c.TokenSource = joinedHeader(r.Header, "X-MediaBrowser-Token"), "X-MediaBrowser-Token"
	}
	if c.Token == "" {
		c.Token, c.TokenSource = strings.Join(queryValues(r.URL.RawQuery, "ApiKey"), ","), "ApiKey"
	}
	if c.Token == "" && legacy {
		c.Token, c.TokenSource = strings.Join(queryValues(r.URL.RawQuery, "api_key"), ","), "api_key"
	}
	if c.Token == "" {
		c.TokenSource = ""
	}
	return c
}

// ParseAuthorization splits an Authorization header value into its scheme
// and parameters. It accepts the scheme MediaBrowser, and Emby too when
// legacy is on, compared ignoring case; the scheme ends at the first space.
// It reports false for any other scheme or a value without a space, which
// Jellyfin treats as no parameters at all.
func ParseAuthorization(header string, legacy bool) (map[string]string, bool) {
	space := strings.IndexByte(header, ' ')
	if space < 0 {
		return nil, false
	}
	scheme := header[:space]
	if !equalFoldOrdinal(scheme, "MediaBrowser") && !(legacy && equalFoldOrdinal(scheme, "Emby")) {
		return nil, false
	}
	return ParseAuthorizationParameters(header[space+1:]), true
}

// ParseAuthorizationParameters parses the part of an Authorization header
// after the scheme exactly as Jellyfin's GetParts does, quirks included:
//
//   - parameters are separated by commas outside double quotes, and a key
//     ends at an equals sign outside double quotes;
//   - keys are trimmed of white space and are case-sensitive;
//   - values keep surrounding white space, lose any leading and trailing
//     double quotes, and are then URL-decoded with '+' read as a space;
//   - a later parameter with the same key replaces an earlier one, and an
//     empty value (Key=,) is not recorded at all.
func ParseAuthorizationParameters(s string) map[string]string {
	result := map[string]string{}
	quoted := false
	start := 0
	key := ""
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if quoted {
				continue
			}
			if start < i {
				result[key] = urlDecode(strings.Trim(s[start:i], `"`))
				key = ""
			}
			start = i + 1
		case '=':
			if quoted {
				continue
			}
			key = strings.TrimSpace(s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		result[key] = urlDecode(strings.Trim(s[start:], `"`))
	}
	return result
}

// urlDecode decodes like .NET's WebUtility.UrlDecode: '+' becomes a space,
// '%' followed by two hex digits becomes that byte, anything else (including
// a malformed escape) is kept, and the bytes are read as UTF-8 with invalid
// bytes replaced by U+FFFD.
func urlDecode(s string) string {
	if !strings.ContainsAny(s, "+%") && utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			out = append(out, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	if utf8.Valid(out) {
		return string(out)
	}
	var b strings.Builder
	for len(out) > 0 {
		r, size := utf8.DecodeRune(out)
		b.WriteRune(r)
		out = out[size:]
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// joinedHeader returns a header the way ASP.NET Core turns a header's values
// into one string: absent is empty, one value is itself, several are joined
// with commas.
func joinedHeader(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
}

// queryValues returns the values of every query parameter whose name equals
// name ignoring case, in the order they appear, decoded like ASP.NET Core
// decodes a query string. A malformed escape is kept as it is.
func queryValues(rawQuery, name string) []string {
	var values []string
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !equalFoldOrdinal(queryUnescape(k), name) {
			continue
		}
		values = append(values, queryUnescape(v))
	}
	return values
}

// queryValue returns the first value of a query parameter, or "" and false.
func queryValue(r *http.Request, name string) (string, bool) {
	values := queryValues(r.URL.RawQuery, name)
	if len(values) == 0 {
		return "", false
	}
	return strings.Join(values, ","), true
}

func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return urlDecode(s)
}

// equalFoldOrdinal compares like .NET's StringComparison.OrdinalIgnoreCase,
// which ASP.NET Core uses for routes, query names and the auth scheme: each
// character is compared by its simple upper-case mapping. This differs from
// strings.EqualFold: "ı" (dotless i) equals "i" here but not there, and the
// Kelvin sign equals "k" there but not here.
func equalFoldOrdinal(a, b string) bool {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb && unicode.ToUpper(ra) != unicode.ToUpper(rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b == ""
}
