package wire

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parse reads raw the way the front's server does: header names as received.
func parse(raw string) (*fasthttp.Request, error) {
	req := &fasthttp.Request{}
	req.Header.DisableNormalizing()
	err := req.ReadLimitBody(bufio.NewReader(strings.NewReader(raw)), 4<<20)
	return req, err
}

// TestCheckRequest holds one request per reason, each of which fasthttp parses
// without complaint: without the check it would be proxied.
func TestCheckRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		want      error
	}{
		{"typical", "GET /Users/Me?x=1 HTTP/1.1\r\nHost: jf:8096\r\nAuthorization: MediaBrowser Token=\"t\"\r\nX-Note: a\tb\r\n\r\n", nil},
		{"post", "POST /Items HTTP/1.1\r\nHost: jf\r\nContent-Length: 5\r\n\r\nhello", nil},
		{"chunked", "POST /Items HTTP/1.1\r\nHost: jf\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nil},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", nil},
		{"CONNECT", "CONNECT jf:443 HTTP/1.1\r\nHost: jf:443\r\n\r\n", ErrMethod},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: jf\r\n\r\n", ErrVersion},
		{"absolute form", "GET http://jf/ HTTP/1.1\r\nHost: jf\r\n\r\n", ErrTarget},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: jf\r\n\r\n", ErrTarget},
		{"double slash", "GET //jf/ HTTP/1.1\r\nHost: jf\r\n\r\n", ErrTarget},
		{"non-ASCII target", "GET /\xff HTTP/1.1\r\nHost: jf\r\n\r\n", ErrTargetByte},
		{"bare LF", "GET / HTTP/1.1\r\nHost: jf\nX: 1\r\n\r\n", ErrLineEnd},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: jf\r\nX: 1\r\n 2\r\n\r\n", ErrFolded},
		{"space in a name", "GET / HTTP/1.1\r\nHost: jf\r\nX Y: 1\r\n\r\n", ErrHeaderName},
		{"both framings", "POST / HTTP/1.1\r\nHost: jf\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", ErrLengthAndEncoding},
		{"identity", "POST / HTTP/1.1\r\nHost: jf\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", ErrTransferEncoding},
		{"HTTP/1.0 body", "POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", ErrBodyOnHTTP10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parse(tc.raw)
			if err != nil {
				t.Fatalf("fasthttp refuses it already: %v", err)
			}
			if got := CheckRequest(req); !errors.Is(got, tc.want) {
				t.Errorf("CheckRequest = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestScanHeaders covers what fasthttp refuses before any handler runs, for a
// check that must not depend on it: the raw block alone decides.
func TestScanHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want error
	}{
		{"Host: a\r\nHost: b\r\n\r\n", nil},
		{"Content-Length: 1\r\nContent-Length: 1\r\n\r\n", nil},
		{"X: a\x00b\r\n\r\n", ErrHeaderValue},
		{"X\x01: a\r\n\r\n", ErrHeaderName},
		{"X : a\r\n\r\n", ErrHeaderName},
		{": a\r\n\r\n", ErrHeaderName},
		{"Content-Length: 1, 1\r\n\r\n", ErrContentLength},
		{"Content-Length: 1234567890123456789\r\n\r\n", ErrContentLength},
		{"Transfer-Encoding: chunked, identity\r\n\r\n", ErrTransferEncoding},
		{"Host: a b\r\n\r\n", ErrHost},
		{"X: a\r\n\r\nY: b\r\n", ErrLineEnd},
		{"X: a\r\n", nil},
	} {
		f, err := scanHeaders([]byte(tc.raw))
		if !errors.Is(err, tc.want) {
			t.Errorf("scanHeaders(%q) = %v, want %v", tc.raw, err, tc.want)
		}
		if tc.want == nil && strings.HasPrefix(tc.raw, "Host") && f.check(false) != ErrHost {
			t.Errorf("two Host headers pass")
		}
		if tc.want == nil && strings.HasPrefix(tc.raw, "Content-Length") && f.check(false) != ErrContentLength {
			t.Errorf("two Content-Length headers pass")
		}
	}
}

// TestBufferChunked: a malformed chunked body is refused before forwarding, a good
// one is read whole, and one past the limit is refused.
func TestBufferChunked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want error
	}{
		{"5\r\nhello\r\n0\r\n\r\n", nil},
		{"zz\r\nhello\r\n0\r\n\r\n", ErrChunked},
		{"3\r\nhello\r\n0\r\n\r\n", ErrChunked},
		{"5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n", ErrTooLarge},
	} {
		br := bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: jf\r\nTransfer-Encoding: chunked\r\n\r\n" + tc.body))
		req := &fasthttp.Request{}
		if err := req.Header.Read(br); err != nil {
			t.Fatal(err)
		}
		// As the front's server reads it: StreamRequestBody hands a chunked body
		// over as a stream.
		if err := req.ContinueReadBodyStream(br, 4<<20); err != nil {
			t.Fatal(err)
		}
		err := BufferChunked(req, 7)
		if err == nil && string(req.Body()) != "hello" {
			t.Errorf("BufferChunked read %q", req.Body())
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("BufferChunked(%q) = %v, want %v", tc.body, err, tc.want)
		}
	}
}
