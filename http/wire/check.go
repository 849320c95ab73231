// Package wire decides whether a request, as the front's fasthttp server parsed it,
// could be read in only one way by Jellyfin's server (Kestrel) behind jfguard. A
// gateway that frames or reads a request differently from the server behind it can
// be smuggled past: the request it checked is not the one that server acts on. So
// every request whose bytes allow a second reading is refused, even where fasthttp
// has settled on one reading of its own (it joins folded lines, reads bare LF line
// ends, drops spaces around names).
package wire

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"
)

// The reasons a request is refused. They are short, for the 400 answer and the log;
// the front closes the connection after answering any of them.
var (
	ErrMethod            = errors.New("CONNECT is not served")
	ErrVersion           = errors.New("only HTTP/1.1 and HTTP/1.0 are served")
	ErrTarget            = errors.New("the request target must be a path starting with a single /")
	ErrTargetByte        = errors.New("the request target holds a space, control byte, non-ASCII byte or #")
	ErrLineEnd           = errors.New("a header line does not end in CRLF")
	ErrFolded            = errors.New("obsolete line folding")
	ErrHeaderName        = errors.New("a header name is empty or holds a byte that is not a token character")
	ErrHeaderValue       = errors.New("a header value holds a control byte")
	ErrContentLength     = errors.New("Content-Length is repeated, listed or not a number")
	ErrTransferEncoding  = errors.New("Transfer-Encoding must be exactly one chunked")
	ErrLengthAndEncoding = errors.New("both Content-Length and Transfer-Encoding")
	ErrHost              = errors.New("exactly one valid Host header is needed")
	ErrBodyOnHTTP10      = errors.New("an HTTP/1.0 request cannot carry a body")
)

// maxLengthDigits bounds Content-Length so the value cannot overflow any parser's
// integer: 18 digits are under 2^63, and far above the 4 MiB the front reads.
const maxLengthDigits = 18

// CheckRequest returns why req is refused, or nil when its request line and raw
// header block can be read in one way only. It reads req.Header.RawHeaders(), the
// header block as received, so it must run in the server's handler before the
// request is changed. It allocates nothing.
func CheckRequest(req *fasthttp.Request) error {
	h := &req.Header
	if bytes.Equal(h.Method(), []byte("CONNECT")) {
		return ErrMethod
	}
	http10, err := version(h.Protocol())
	if err != nil {
		return err
	}
	if err := checkTarget(h.RequestURI()); err != nil {
		return err
	}
	f, err := scanHeaders(h.RawHeaders())
	if err != nil {
		return err
	}
	return f.check(http10)
}

// version accepts the two versions Kestrel and net/http both speak over one
// connection; fasthttp itself lets any HTTP/d.d through.
func version(proto []byte) (http10 bool, err error) {
	switch string(proto) {
	case "HTTP/1.1":
		return false, nil
	case "HTTP/1.0":
		return true, nil
	}
	return false, ErrVersion
}

// checkTarget accepts the origin form only. The absolute form (a proxy's) and the
// asterisk form (OPTIONS *) are never needed by a gateway; a target starting with
// // is a path to net/http and an authority to URL parsers, so it is refused too.
func checkTarget(t []byte) error {
	if len(t) == 0 || t[0] != '/' || (len(t) > 1 && t[1] == '/') {
		return ErrTarget
	}
	for _, c := range t {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return ErrTargetByte
		}
	}
	return nil
}

// framing is what the header block says about the request's framing and host.
type framing struct {
	lengths, encodings, hosts int
	length                    int64
}

// check applies the rules that need the whole block: one framing header at most,
// one Host (required on HTTP/1.1), and no body on HTTP/1.0, whose keep-alive
// framing older servers read differently.
func (f framing) check(http10 bool) error {
	switch {
	case f.lengths > 1:
		return ErrContentLength
	case f.encodings > 1:
		return ErrTransferEncoding
	case f.lengths == 1 && f.encodings == 1:
		return ErrLengthAndEncoding
	case f.hosts > 1 || (f.hosts == 0 && !http10):
		return ErrHost
	case http10 && (f.encodings > 0 || f.length > 0):
		return ErrBodyOnHTTP10
	}
	return nil
}

// scanHeaders walks the raw header block line by line: every line ends in CRLF,
// none is folded, every name is a token directly followed by the colon, and no
// value holds a control byte other than HT. An empty block (a request line
// without headers) is valid here; check decides whether Host was needed.
func scanHeaders(raw []byte) (framing, error) {
	var f framing
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 1 || raw[end-1] != '\r' {
			return f, ErrLineEnd
		}
		line := raw[:end-1]
		raw = raw[end+1:]
		if len(line) == 0 {
			if len(raw) != 0 {
				return f, ErrLineEnd
			}
			return f, nil
		}
		if err := f.field(line); err != nil {
			return f, err
		}
	}
	return f, nil
}

// field checks one header line and counts the headers that frame the request.
func (f *framing) field(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return ErrFolded
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 1 {
		return ErrHeaderName
	}
	name, value := line[:colon], trimOWS(line[colon+1:])
	for _, c := range name {
		if !isTokenByte(c) {
			return ErrHeaderName
		}
	}
	for _, c := range value {
		if !valueBytes[c] {
			return ErrHeaderValue
		}
	}
	switch {
	case EqualFold(name, "content-length"):
		f.lengths++
		n, ok := parseLength(value)
		if !ok {
			return ErrContentLength
		}
		f.length = n
	case EqualFold(name, "transfer-encoding"):
		f.encodings++
		if !EqualFold(value, "chunked") {
			return ErrTransferEncoding
		}
	case EqualFold(name, "host"):
		f.hosts++
		if !validHost(value) {
			return ErrHost
		}
	}
	return nil
}

// parseLength reads a Content-Length of digits only: no sign, no list, no spaces.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > maxLengthDigits {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHost accepts a host name or address with an optional port, in the bytes
// net/http's server accepts (RFC 3986 reg-name, IP literal and port), so Jellyfin
// and the front agree on the host too.
func validHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !hostBytes[c] {
			return false
		}
	}
	return true
}

// hostBytes is the set validHost accepts, as a table.
var hostBytes = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

// trimOWS drops the optional white space around a field value.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// EqualFold compares b with the lower-case ASCII s, ignoring the case of b: how
// HTTP compares methods, header names and tokens like "chunked" (the front uses it
// too).
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c may appear in an RFC 9110 token (a header name).
func isTokenByte(c byte) bool {
	return tokenBytes[c]
}

// valueBytes are the bytes a field value may hold: visible ASCII, SP, HT and
// obs-text, never another control byte or DEL.
var valueBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= ' ' && c != 0x7f
	}
	t['\t'] = true
	return t
}()

// tokenBytes is the RFC 9110 tchar set as a table, for a branch-free lookup.
var tokenBytes = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
