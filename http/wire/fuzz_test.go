package wire

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// typical is a request of Jellyfin's web app, as the benchmark and fuzz seed.
const typical = "GET /Users/Me?fields=Policy HTTP/1.1\r\nHost: jellyfin.example.org\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: application/json\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Authorization: MediaBrowser Client=\"Jellyfin Web\", Device=\"Firefox\", DeviceId=\"TW96aWxsYQ\", Version=\"10.10.0\", Token=\"0123456789abcdef0123456789abcdef\"\r\n" +
	"Connection: keep-alive\r\nReferer: https://jellyfin.example.org/web/\r\nSec-Fetch-Dest: empty\r\n\r\n"

// BenchmarkCheckRequest checks a typical request; run with -benchmem: the check
// must allocate nothing.
func BenchmarkCheckRequest(b *testing.B) {
	req, err := parse(typical)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckRequestAllocs holds the benchmark's promise in a test: no allocation
// on the path of a valid request.
func TestCheckRequestAllocs(t *testing.T) {
	req, err := parse(typical)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = CheckRequest(req) }); n != 0 {
		t.Errorf("CheckRequest allocates %v times per request", n)
	}
}

// FuzzCheckRequest parses arbitrary bytes with fasthttp as the front does and runs
// the check: it must never panic, and whatever it accepts must read the same with
// net/http (the stand-in Jellyfin's parser): the same method, target, host, header
// values and body.
func FuzzCheckRequest(f *testing.F) {
	for _, seed := range []string{
		typical,
		"POST /Items HTTP/1.1\r\nHost: jf\r\nContent-Length: 5\r\n\r\nhello",
		"POST /Items HTTP/1.1\r\nHost: jf\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"GET / HTTP/1.0\r\nCookie: a=b; c=d\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: jf\r\nX: a\r\n b\r\n\r\n",
		"GET http://jf/ HTTP/1.1\r\nHost: jf\r\n\r\n",
		// Refused shapes, for the fuzzer to mutate towards what the check misses.
		"POST / HTTP/1.1\r\nHost: jf\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: jf\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\nHost: jf\nX: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: jf\r\nX Y: 1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := &fasthttp.Request{}
		req.Header.DisableNormalizing()
		if err := req.ReadLimitBody(bufio.NewReader(bytes.NewReader(raw)), 1<<20); err != nil {
			return
		}
		if CheckRequest(req) != nil {
			return
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("accepted, but net/http cannot read it: %v\n%q", err, raw)
		}
		body, err := io.ReadAll(std.Body)
		if err != nil {
			t.Fatalf("accepted, but net/http cannot read its body: %v\n%q", err, raw)
		}
		same(t, raw, req, std, body)
	})
}

// same fails the test where net/http read raw differently from fasthttp.
func same(t *testing.T, raw []byte, req *fasthttp.Request, std *http.Request, body []byte) {
	t.Helper()
	if string(req.Header.Method()) != std.Method || string(req.Header.RequestURI()) != std.RequestURI {
		t.Fatalf("request line: fasthttp %s %s, net/http %s %s\n%q", req.Header.Method(), req.Header.RequestURI(), std.Method, std.RequestURI, raw)
	}
	if string(req.Header.Host()) != std.Host {
		t.Fatalf("host: fasthttp %q, net/http %q\n%q", req.Header.Host(), std.Host, raw)
	}
	if !bytes.Equal(req.Body(), body) {
		t.Fatalf("body: fasthttp %q, net/http %q\n%q", req.Body(), body, raw)
	}
	fast, slow := fields(req), stdFields(std)
	if !slices.Equal(fast, slow) {
		t.Fatalf("headers: fasthttp %q, net/http %q\n%q", fast, slow, raw)
	}
}

// framingFields are the headers both parsers keep apart from the others (or drop):
// their meaning is compared through the host and the body instead.
var framingFields = []string{"host", "content-length", "transfer-encoding", "connection", "cookie", "trailer"}

// fields lists fasthttp's header fields as "name: value", names in lower case,
// sorted.
func fields(req *fasthttp.Request) []string {
	var out []string
	for k, v := range req.Header.All() {
		if name := strings.ToLower(string(k)); !slices.Contains(framingFields, name) {
			out = append(out, name+": "+string(v))
		}
	}
	slices.Sort(out)
	return out
}

// stdFields lists net/http's header fields the same way.
func stdFields(r *http.Request) []string {
	var out []string
	for k, vs := range r.Header {
		if name := strings.ToLower(k); !slices.Contains(framingFields, name) {
			for _, v := range vs {
				out = append(out, name+": "+v)
			}
		}
	}
	slices.Sort(out)
	return out
}
