package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TokenSource names the place in a request a token was read from. The gate records
// it so that audit events and metrics can tell legacy forms (which Jellyfin 12.0
// ignores by default) from current ones.
type TokenSource uint8

// The places Jellyfin reads a token from, in the order Jellyfin 12.0 consults them.
const (
	NoToken                 TokenSource = iota // the request carries no token
	AuthorizationHeader                        // Token= in Authorization: MediaBrowser …
	EmbyAuthorizationHeader                    // Token= in X-Emby-Authorization: MediaBrowser …
	EmbyTokenHeader                            // X-Emby-Token
	MediaBrowserTokenHeader                    // X-MediaBrowser-Token
	QueryApiKey                                // ?ApiKey=
	QueryLegacyApiKey                          // ?api_key=
)

// String returns the header or query parameter name, as it would appear in a log.
func (s TokenSource) String() string {
	switch s {
	case AuthorizationHeader:
		return "Authorization"
	case EmbyAuthorizationHeader:
		return "X-Emby-Authorization"
	case EmbyTokenHeader:
		return "X-Emby-Token"
	case MediaBrowserTokenHeader:
		return "X-MediaBrowser-Token"
	case QueryApiKey:
		return "ApiKey"
	case QueryLegacyApiKey:
		return "api_key"
	default:
		return "none"
	}
}

// Credentials is what a request presents to Jellyfin: the token Jellyfin would
// authenticate it with, and the client identity from the MediaBrowser authorization
// header. The gate classifies the request by Token alone; the identity fields are
// claims the client makes about itself, kept for pairing and the audit log.
type Credentials struct {
	Token  string      // the access token or API key, "" when none
	Source TokenSource // where Token came from; NoToken when Token is ""
	// Client, Device, DeviceID and Version come from the first MediaBrowser/Emby
	// authorization header, URL-decoded the way Jellyfin decodes them.
	Client, Device, DeviceID, Version string
	// HasAuthHeader is true when the request carried an Authorization or
	// X-Emby-Authorization header with the MediaBrowser or Emby scheme.
	HasAuthHeader bool
}

// ErrAmbiguousCredentials means a request carries two different tokens. Jellyfin
// picks one of them by a precedence that changed between versions (and joins repeated
// headers and query values with commas), so the gate cannot know which one Jellyfin
// would use: it refuses the request rather than guess.
var ErrAmbiguousCredentials = errors.New("ambiguous credentials: the request carries different tokens")

// ErrMalformedCredentials means a MediaBrowser/Emby authorization header, or a token,
// is in a form the gate will not interpret. Jellyfin's parser accepts almost any text
// and reads it in surprising ways (a bare word after "Token=," becomes the token), so
// the gate accepts only the forms real clients send and refuses the rest.
var ErrMalformedCredentials = errors.New("malformed credentials")

// Canonical header names: net/http canonicalizes every incoming header name (HTTP/1
// and HTTP/2 alike), so looking these up directly is a case-insensitive match.
const (
	headerAuthorization     = "Authorization"
	headerEmbyAuthorization = "X-Emby-Authorization"
	headerEmbyToken         = "X-Emby-Token"
	headerMediaBrowserToken = "X-Mediabrowser-Token"
)

// The authorization schemes Jellyfin reads; Emby is the legacy one.
const (
	jellyfinSchemeName       = "MediaBrowser"
	jellyfinLegacySchemeName = "Emby"
)

// maxParamsOnStack covers every real client's header (Kodi sends six parameters), so
// parsing one allocates nothing for the list of parameters.
const maxParamsOnStack = 8

// ExtractCredentials reads the credentials of r from every place Jellyfin reads them:
// Token= in the Authorization and X-Emby-Authorization headers (scheme MediaBrowser
// or Emby), the X-Emby-Token and X-MediaBrowser-Token headers, and the ApiKey and
// api_key query parameters. It reads the legacy forms whatever Jellyfin's
// EnableLegacyAuthorization setting, because the gate cannot see that setting and a
// token Jellyfin might honour must never pass unexamined.
//
// It fails closed: two different tokens yield ErrAmbiguousCredentials, and a
// MediaBrowser/Emby header or token it cannot read unambiguously yields
// ErrMalformedCredentials. On error the returned Credentials are empty, so a caller
// can never act on a token from a request it should refuse.
//
// An Authorization header with any other scheme (Basic, Bearer, …) is not a
// credential: Jellyfin's AuthorizationContext returns no authorization for a scheme
// other than MediaBrowser or Emby, and a TLS proxy in front of jfguard may use Basic
// authentication of its own. Such a header is ignored; Jellyfin never reads a token
// from it, so ignoring it cannot let a token past the gate.
//
// Header names are looked up in their canonical form, which is how net/http stores
// the headers of every request it reads, whatever case the client used; a Header
// built by hand must be filled with Set or Add.
func ExtractCredentials(r *http.Request) (Credentials, error) {
	rawQuery := ""
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	return ExtractCredentialsFrom(func(name string, i int) (string, bool) {
		if vals := r.Header[name]; i < len(vals) {
			return vals[i], true
		}
		return "", false
	}, rawQuery)
}

// HeaderValues gives the i-th value of a header, looked up by its canonical name
// whatever case the client used, and false past the last. One value at a time, so
// that ExtractCredentialsFrom hands no buffer to it.
type HeaderValues func(canonicalName string, i int) (string, bool)

// ExtractCredentialsFrom is ExtractCredentials for a request whose headers are not
// an http.Header (the front's fasthttp requests): values gives the header values,
// and rawQuery is the request's query string as sent. It allocates nothing for a
// request real clients send.
func ExtractCredentialsFrom(values HeaderValues, rawQuery string) (Credentials, error) {
	var c Credentials
	for _, h := range [...]struct {
		name   string
		source TokenSource
	}{
		{headerAuthorization, AuthorizationHeader},
		{headerEmbyAuthorization, EmbyAuthorizationHeader},
	} {
		for i := 0; ; i++ {
			v, ok := values(h.name, i)
			if !ok {
				break
			}
			rest, ok, err := splitJellyfinScheme(v)
			if err != nil {
				return Credentials{}, fmt.Errorf("%s header: %w", h.source, err)
			}
			if !ok {
				continue
			}
			var buf [maxParamsOnStack]authParam
			params, err := parseAuthParams(rest, buf[:0])
			if err != nil {
				return Credentials{}, fmt.Errorf("%s header: %w", h.source, err)
			}
			var token string
			for _, p := range params {
				if p.key == "Token" {
					token = p.value
				}
				if c.HasAuthHeader {
					continue
				}
				switch p.key {
				case "Client":
					c.Client = p.value
				case "Device":
					c.Device = p.value
				case "DeviceId":
					c.DeviceID = p.value
				case "Version":
					c.Version = p.value
				}
			}
			c.HasAuthHeader = true
			if err := c.addToken(token, h.source); err != nil {
				return Credentials{}, err
			}
		}
	}
	for _, h := range [...]struct {
		name   string
		source TokenSource
	}{
		{headerEmbyToken, EmbyTokenHeader},
		{headerMediaBrowserToken, MediaBrowserTokenHeader},
	} {
		for i := 0; ; i++ {
			token, ok := values(h.name, i)
			if !ok {
				break
			}
			// Not trimmed: Jellyfin would keep any whitespace in the token, and
			// tokenProblem refuses it.
			if problem := tokenProblem(token); problem != "" {
				return Credentials{}, fmt.Errorf("%s header: %w: %s", h.source, ErrMalformedCredentials, problem)
			}
			if err := c.addToken(token, h.source); err != nil {
				return Credentials{}, err
			}
		}
	}
	if err := c.addQueryTokens(rawQuery); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// addToken records token as the request's token, or reports that the request
// already carries a different one.
func (c *Credentials) addToken(token string, source TokenSource) error {
	switch {
	case token == "":
		return nil
	case c.Token == "":
		c.Token, c.Source = token, source
		return nil
	case c.Token == token:
		return nil
	default:
		return fmt.Errorf("%w (%s and %s)", ErrAmbiguousCredentials, c.Source, source)
	}
}

// addQueryTokens reads ApiKey and api_key from a raw query string the way ASP.NET
// Core does: pairs split on '&' only, name and value split on the first '=', both
// percent-decoded with '+' as a space, names compared case-insensitively, every value
// of a repeated name kept. net/url is not used because it drops a whole pair on a bad
// escape where ASP.NET keeps it, and a dropped pair would be a token the gate missed.
func (c *Credentials) addQueryTokens(rawQuery string) error {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		name, value, _ := strings.Cut(pair, "=")
		if len(name) < len("apikey") {
			continue
		}
		if classifyBytes(name)&classEncoded != 0 {
			name = urlDecode(name)
		}
		var source TokenSource
		switch {
		case netEqualFold(name, "ApiKey"):
			source = QueryApiKey
		case netEqualFold(name, "api_key"):
			source = QueryLegacyApiKey
		default:
			continue
		}
		token := urlDecode(value)
		if problem := tokenProblem(token); problem != "" {
			return fmt.Errorf("%s query parameter: %w: %s", source, ErrMalformedCredentials, problem)
		}
		if err := c.addToken(token, source); err != nil {
			return err
		}
	}
	return nil
}

// ParseAuthorization parses the value of an Authorization or X-Emby-Authorization
// header. For the MediaBrowser and Emby schemes (matched case-insensitively, as
// Jellyfin does) it returns the parameters with their values unquoted and URL-decoded;
// for any other scheme it returns the scheme and nil parameters, because Jellyfin does
// not read them.
//
// The parameters are split exactly where Jellyfin's AuthorizationContext.GetParts
// splits them (on ',' and '=' outside double quotes), and every reading that Jellyfin
// would make differently from a plain key=value reader is refused with
// ErrMalformedCredentials: an unterminated quote, a parameter without '=', a second
// '=' outside quotes, a quote inside a value, an empty or invalid key, a key given
// twice with different values, control characters, and a Token that is not valid
// UTF-8, contains whitespace, or has whitespace around it.
func ParseAuthorization(value string) (scheme string, params map[string]string, err error) {
	rest, ok, err := splitJellyfinScheme(value)
	if err != nil {
		return "", nil, err
	}
	scheme, _, _ = strings.Cut(value, " ")
	if !ok {
		return scheme, nil, nil
	}
	var buf [maxParamsOnStack]authParam
	list, err := parseAuthParams(rest, buf[:0])
	if err != nil {
		return "", nil, err
	}
	params = make(map[string]string, len(list))
	for _, p := range list {
		params[p.key] = p.value
	}
	return scheme, params, nil
}

// splitJellyfinScheme splits an authorization header value at its first space, as
// Jellyfin does, and reports whether the scheme is MediaBrowser or Emby. A value that
// starts with one of those names but runs into other characters ("MediaBrowser,Token=…",
// a tab instead of the space) is refused: Jellyfin ignores it, but another reader
// might not, and no real client sends it.
func splitJellyfinScheme(value string) (rest string, ok bool, err error) {
	scheme, rest, _ := strings.Cut(value, " ")
	if netEqualFold(scheme, jellyfinSchemeName) || netEqualFold(scheme, jellyfinLegacySchemeName) {
		return rest, true, nil
	}
	if (hasPrefixFold(scheme, jellyfinSchemeName) || hasPrefixFold(scheme, jellyfinLegacySchemeName)) && !isHTTPToken(scheme) {
		return "", false, fmt.Errorf("%w: scheme not followed by a space", ErrMalformedCredentials)
	}
	return "", false, nil
}

// authParam is one key=value pair of a MediaBrowser authorization header, the value
// already unquoted and decoded.
type authParam struct {
	key, value string
}

// parseAuthParams parses the parameters after the scheme, appending them to dst so
// that the caller can keep them on its stack. See ParseAuthorization for the rules.
func parseAuthParams(s string, dst []authParam) ([]authParam, error) {
	start, eq := 0, -1
	var err error
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			// Like Jellyfin, every quote opens or closes a quoted stretch wherever it
			// stands, and ',' and '=' inside one are text; a quote that is not around
			// a whole value is refused in parseAuthParam.
			closing := strings.IndexByte(s[i+1:], '"')
			if closing < 0 {
				return nil, malformedCredentials("unterminated quote")
			}
			i += 1 + closing
		case '=':
			if eq >= 0 {
				// Jellyfin would take the text between the two signs as the key.
				return nil, malformedCredentials("second '=' in a parameter")
			}
			eq = i - start
		case ',':
			if dst, err = appendAuthParam(dst, s[start:i], eq); err != nil {
				return nil, err
			}
			start, eq = i+1, -1
		}
	}
	return appendAuthParam(dst, s[start:], eq)
}

// appendAuthParam appends the parameter seg, whose first '=' outside quotes is at eq
// (-1 when there is none), unless it is blank or repeats a parameter already in dst.
func appendAuthParam(dst []authParam, seg string, eq int) ([]authParam, error) {
	if eq < 0 {
		if trimOWS(seg) == "" {
			// Nothing between two commas, or a trailing comma: Jellyfin skips it too.
			return dst, nil
		}
		// Jellyfin would file this text under the previous key when that key's
		// value was empty: "Token=,abc" is the token "abc" to Jellyfin.
		return nil, malformedCredentials("parameter without '='")
	}
	p, err := parseAuthParam(seg[:eq], seg[eq+1:])
	if err != nil {
		return nil, err
	}
	for _, q := range dst {
		if q.key != p.key {
			continue
		}
		if q.value != p.value {
			return nil, malformedCredentials("parameter " + p.key + " given twice with different values")
		}
		return dst, nil
	}
	return append(dst, p), nil
}

// parseAuthParam checks and decodes one parameter. Whitespace around keys and values
// is dropped, as Jellyfin drops it around keys; around a Token it is refused, because
// Jellyfin keeps it in the value and would look up a different token. Control
// characters are looked for after decoding, which also finds raw ones.
func parseAuthParam(rawKey, rawValue string) (authParam, error) {
	key := trimOWS(rawKey)
	if !isHTTPToken(key) {
		return authParam{}, malformedCredentials("invalid parameter name")
	}
	value := trimOWS(rawValue)
	isTokenKey := key == "Token"
	if isTokenKey && len(value) != len(rawValue) {
		return authParam{}, malformedCredentials("whitespace around the token")
	}
	class := classifyBytes(value)
	if class&classQuote != 0 {
		if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' ||
			strings.IndexByte(value[1:len(value)-1], '"') >= 0 {
			return authParam{}, malformedCredentials("quote inside a value")
		}
		value = value[1 : len(value)-1]
	}
	if class&classEncoded != 0 {
		value = urlDecode(value)
		class = classifyBytes(value)
	}
	if isTokenKey {
		if problem := tokenProblem(value); problem != "" {
			return authParam{}, malformedCredentials(problem)
		}
		return authParam{key, value}, nil
	}
	if class&(classControl|classNonASCII) != 0 {
		problem, valid := scanValue(value)
		if problem != "" {
			return authParam{}, malformedCredentials(problem + " in " + key)
		}
		if !valid {
			// WebUtility.UrlDecode reads the bytes as UTF-8 with replacement characters.
			value = strings.ToValidUTF8(value, "\uFFFD")
		}
	}
	return authParam{key, value}, nil
}

// Byte classes, so that one quick pass over a value tells which slower checks it
// needs; most values need none.
const (
	classQuote    uint8 = 1 << iota // '"'
	classEncoded                    // '%' or '+', which urlDecode changes
	classControl                    // C0 controls and DEL
	classSpace                      // ' '
	classNonASCII                   // a byte of a multi-byte UTF-8 sequence, or invalid UTF-8
	classTchar                      // a character of an RFC 9110 token
)

var byteClasses = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < 0x20 || c == 0x7f:
			t[c] = classControl
		case c >= 0x80:
			t[c] = classNonASCII
		case c == ' ':
			t[c] = classSpace
		case c == '"':
			t[c] = classQuote
		}
		if c == '%' || c == '+' {
			t[c] |= classEncoded
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			t[c] |= classTchar
		}
	}
	return t
}()

// classifyBytes returns the union of the classes of the bytes of s.
func classifyBytes(s string) uint8 {
	var class uint8
	for i := 0; i < len(s); i++ {
		class |= byteClasses[s[i]]
	}
	return class
}

func malformedCredentials(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformedCredentials, reason)
}

// tokenProblem returns why token cannot be a Jellyfin token, or "" when it can be.
// Jellyfin's tokens and API keys are hexadecimal; a token with whitespace, control
// characters or invalid UTF-8 is at best a client bug and at worst an attempt to make
// the gate and Jellyfin read different tokens.
func tokenProblem(token string) string {
	if classifyBytes(token)&(classControl|classSpace|classNonASCII) == 0 {
		return ""
	}
	for i := 0; i < len(token); {
		c := token[i]
		if c < utf8.RuneSelf {
			switch {
			case isControlByte(c):
				return "control character in the token"
			case c == ' ':
				return "whitespace in the token"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(token[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return "token is not valid UTF-8"
		case unicode.IsControl(r):
			return "control character in the token"
		case unicode.IsSpace(r):
			return "whitespace in the token"
		}
		i += size
	}
	return ""
}

// scanValue returns why a decoded parameter value is refused ("" when it is
// accepted) and whether it is valid UTF-8. Control characters, raw or
// percent-encoded, have no place in a client name, device name, device id or
// version, and would end up in logs and pages.
func scanValue(value string) (problem string, validUTF8 bool) {
	validUTF8 = true
	for i := 0; i < len(value); {
		c := value[i]
		if c < utf8.RuneSelf {
			if isControlByte(c) {
				return "control character", validUTF8
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(value[i:])
		if r == utf8.RuneError && size == 1 {
			validUTF8 = false
		} else if unicode.IsControl(r) {
			return "control character", validUTF8
		}
		i += size
	}
	return "", validUTF8
}

// urlDecode decodes s like .NET's WebUtility.UrlDecode, which Jellyfin applies to
// every authorization parameter: '+' becomes a space, %XX with two hex digits becomes
// that byte, and any other '%' stays as it is (it never fails). It allocates only when
// s contains something to decode.
func urlDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]):
			b.WriteByte(hexDigitValue(s[i+1])<<4 | hexDigitValue(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexDigitValue(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	default:
		return c - '0'
	}
}

func isControlByte(c byte) bool {
	return c < 0x20 || c == 0x7f
}

// isHTTPToken reports whether s is an RFC 9110 token, the syntax of a scheme or a
// parameter name.
func isHTTPToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if byteClasses[s[i]]&classTchar == 0 {
			return false
		}
	}
	return s != ""
}

// trimOWS drops the optional whitespace of HTTP (spaces and tabs) around s.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// netEqualFold reports whether s matches the ASCII name under Go's case folding OR
// under .NET's OrdinalIgnoreCase (which upper-cases each character: 'ı' matches 'i'
// and 'ſ' matches 's', where Go's folding says no). The gate must see every name
// Jellyfin would accept, so it takes the union and fails closed.
func netEqualFold(s, name string) bool {
	if strings.EqualFold(s, name) {
		return true
	}
	if len(s) == len(name) {
		return false // the .NET-only matches all involve a multi-byte character
	}
	// Not strings.EqualFold: .NET upper-cases each character, which matches pairs
	// (ı and I) that Unicode simple folding keeps apart.
	upper, want := strings.ToUpper(s), strings.ToUpper(name)
	return upper == want
}
