package smuggle

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// outcome is what comes of a raw request: the statuses of the answers the client
// reads before the connection ends, and the requests that reached the upstream.
type outcome struct {
	statuses []int
	forwards []forwarded
	// cut: the upstream may have read a head whose body was cut short when the
	// front found a malformed chunk after it had started forwarding.
	cut bool
}

// refused is a request answered with status and nothing forwarded.
func refused(status int) outcome { return outcome{statuses: []int{status}} }

// cutShort is a request found malformed in its chunked body while it was being
// forwarded: the proxy fails (502) and the upstream sees the body end early.
func cutShort() outcome { return outcome{statuses: []int{http.StatusBadGateway}, cut: true} }

// passed is a request answered 200 per forwarded request.
func passed(f ...forwarded) outcome {
	o := outcome{forwards: f}
	for range f {
		o.statuses = append(o.statuses, http.StatusOK)
	}
	return o
}

// smuggleCase is one raw request. Its bytes use {ok} for a token the gate passes
// and {bad} for one it refuses. want is the outcome through a strict front (and
// jfguard); bare is what a fasthttp server without wire.CheckRequest does with it,
// so the table also documents which gaps the check closes.
type smuggleCase struct {
	name string
	raw  string
	want outcome
	bare outcome
}

// auth is the header that carries the token the gate passes.
const auth = `Authorization: MediaBrowser Token="{ok}"`

// head joins a request line and header lines with CRLF and ends the block.
func head(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// get and post are the requests the upstream should read.
func get(target string) forwarded { return forwarded{Method: "GET", Target: target} }
func post(target, body string) forwarded {
	return forwarded{Method: "POST", Target: target, Body: body}
}

// cases is the suite: issue 14's list, each as the bytes an attacker would send.
var cases = []smuggleCase{
	// Well-formed requests pass, so a refusal below is about the one flaw it holds.
	{name: "plain GET", raw: head("GET /Items?x=1 HTTP/1.1", "Host: jf", auth),
		want: passed(get("/Items?x=1")), bare: passed(get("/Items?x=1"))},
	{name: "POST with Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: 5") + "hello",
		want: passed(post("/Items", "hello")), bare: passed(post("/Items", "hello"))},
	{name: "POST chunked", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n",
		want: passed(post("/Items", "hello")), bare: passed(post("/Items", "hello"))},
	{name: "chunked in odd case", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: ChUnKeD") + "5\r\nhello\r\n0\r\n\r\n",
		want: passed(post("/Items", "hello")), bare: passed(post("/Items", "hello"))},
	{name: "valid chunk extension", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "5;name=value\r\nhello\r\n0\r\n\r\n",
		want: passed(post("/Items", "hello")), bare: passed(post("/Items", "hello"))},
	{name: "HT inside a value", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Note: a\tb"),
		want: passed(get("/Items")), bare: passed(get("/Items"))},
	{name: "HTTP/1.0 without body", raw: head("GET /Items HTTP/1.0", "Host: jf", auth),
		want: passed(get("/Items")), bare: passed(get("/Items"))},
	{name: "dot segments and escapes pass as sent", raw: head("GET /web/../Items%2Fx/%2e%2e/y?q=%41&q=b HTTP/1.1", "Host: jf", auth),
		want: passed(get("/web/../Items%2Fx/%2e%2e/y?q=%41&q=b")), bare: passed(get("/web/../Items%2Fx/%2e%2e/y?q=%41&q=b"))},
	{name: "lower-case method passes as sent", raw: head("get /Items HTTP/1.1", "Host: jf", auth),
		want: passed(forwarded{Method: "get", Target: "/Items"}), bare: passed(forwarded{Method: "get", Target: "/Items"})},
	// RFC 9112 section 2.2: a server should ignore an empty line before the
	// request line; the front writes its own request upstream.
	{name: "empty line before the request line", raw: "\r\n" + head("GET /Items HTTP/1.1", "Host: jf", auth),
		want: passed(get("/Items")), bare: passed(get("/Items"))},
	{name: "keep-alive pipeline", raw: head("GET /a HTTP/1.1", "Host: jf", auth) + head("GET /b HTTP/1.1", "Host: jf", auth),
		want: passed(get("/a"), get("/b")), bare: passed(get("/a"), get("/b"))},
	{name: "GET body that looks like a request", raw: head("GET /a HTTP/1.1", "Host: jf", auth, "Content-Length: 29") + "GET /b HTTP/1.1\r\nHost: jf\r\n\r\n",
		want: passed(forwarded{"GET", "/a", "GET /b HTTP/1.1\r\nHost: jf\r\n\r\n"}), bare: passed(forwarded{"GET", "/a", "GET /b HTTP/1.1\r\nHost: jf\r\n\r\n"})},

	// Framing: exactly one of Content-Length or Transfer-Encoding: chunked.
	{name: "Content-Length and Transfer-Encoding", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: 4", "Transfer-Encoding: chunked") + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: jf\r\n\r\n",
		want: refused(400), bare: passed(post("/Items", ""))},
	{name: "Transfer-Encoding and Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked", "Content-Length: 40") + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: jf\r\n\r\n",
		want: refused(400), bare: passed(post("/Items", ""))},
	{name: "duplicate equal Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: 5", "Content-Length: 5") + "hello",
		want: refused(400), bare: refused(400)},
	{name: "duplicate different Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: 5", "Content-Length: 0") + "hello",
		want: refused(400), bare: refused(400)},
	{name: "comma-listed Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: 5, 5") + "hello",
		want: refused(400), bare: refused(400)},
	{name: "signed Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: +5") + "hello",
		want: refused(400), bare: refused(400)},
	{name: "empty Content-Length", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Content-Length: ") + "hello",
		want: refused(400), bare: refused(400)},
	{name: "Transfer-Encoding list", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked, identity") + "5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: refused(400)},
	{name: "Transfer-Encoding identity", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: identity", "Content-Length: 5") + "hello",
		want: refused(400), bare: passed(post("/Items", "hello"))},
	{name: "Transfer-Encoding identity alone", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: identity") + "GET /smuggled HTTP/1.1\r\nHost: jf\r\n\r\n",
		want: refused(400), bare: passed(post("/Items", ""), get("/smuggled"))},
	{name: "duplicate Transfer-Encoding", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: refused(400)},
	{name: "Transfer-Encoding with a vertical tab", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: \x0bchunked") + "5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: refused(400)},
	{name: "Transfer-Encoding with a word before", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: x chunked") + "5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: refused(400)},
	{name: "space before the colon of Transfer-Encoding", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding : chunked", "Content-Length: 5") + "hello",
		want: refused(400), bare: refused(400)},
	{name: "folded Transfer-Encoding", raw: head("POST /Items HTTP/1.1", "Host: jf", auth, "Transfer-Encoding:", " chunked") + "5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: passed(post("/Items", "hello"))},
	{name: "HTTP/1.0 with Content-Length body", raw: head("POST /Items HTTP/1.0", "Host: jf", auth, "Content-Length: 5") + "hello",
		want: refused(400), bare: passed(post("/Items", "hello"))},
	{name: "HTTP/1.0 chunked", raw: head("POST /Items HTTP/1.0", "Host: jf", auth, "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: refused(400)},

	// Chunked bodies.
	{name: "chunk size not hex", raw: head("POST /Chunks/1 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "zz\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: cutShort()},
	{name: "chunk size with 0x", raw: head("POST /Chunks/2 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "0x5\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: cutShort()},
	{name: "chunk size overflow", raw: head("POST /Chunks/3 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "10000000000000005\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: cutShort()},
	{name: "chunk size with a space before the extension", raw: head("POST /Chunks/4 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "5 ;x\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: cutShort()},
	// fasthttp skips chunk extensions unread and the proxy re-encodes the body,
	// so an extension never reaches Jellyfin and cannot be read two ways there.
	{name: "chunk extension with a NUL", raw: head("POST /Chunks/5 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "5;a\x00b\r\nhello\r\n0\r\n\r\n",
		want: passed(post("/Chunks/5", "hello")), bare: passed(post("/Chunks/5", "hello"))},
	{name: "chunk line ended by bare LF", raw: head("POST /Chunks/6 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "5\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: cutShort()},
	{name: "chunk data longer than its size", raw: head("POST /Chunks/7 HTTP/1.1", "Host: jf", auth, "Transfer-Encoding: chunked") + "3\r\nhello\r\n0\r\n\r\n",
		want: refused(400), bare: cutShort()},

	// Header lines.
	{name: "obs-fold", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Note: a", " b"),
		want: refused(400), bare: passed(get("/Items"))},
	// fasthttp reads a request line ended by a bare LF and keeps no trace of it
	// for the handler, so no check can refuse it. net/http reads it the same way,
	// and the front writes its own request line upstream: nothing else reads it.
	{name: "bare LF ending the request line", raw: "GET /Items HTTP/1.1\nHost: jf\r\n" + auth + "\r\n\r\n",
		want: passed(get("/Items")), bare: passed(get("/Items"))},
	{name: "bare LF between headers", raw: "GET /Items HTTP/1.1\r\nHost: jf\n" + auth + "\r\n\r\n",
		want: refused(400), bare: passed(get("/Items"))},
	{name: "bare LF ending the head", raw: "GET /a HTTP/1.1\r\nHost: jf\r\n" + auth + "\n\n" + head("GET /b HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: passed(get("/a"), get("/b"))},
	{name: "header name with a space", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X Note: a"),
		want: refused(400), bare: passed(get("/Items"))},
	{name: "header name with a control byte", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X\x01Note: a"),
		want: refused(400), bare: refused(400)},
	{name: "header name with a non-token byte", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X(Note): a"),
		want: refused(400), bare: refused(400)},
	{name: "space before the colon", raw: head("GET /Items HTTP/1.1", "Host : jf", auth),
		want: refused(400), bare: refused(400)},
	{name: "NUL in a value", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Note: a\x00b"),
		want: refused(400), bare: refused(400)},
	{name: "control byte in a value", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Note: a\x01b"),
		want: refused(400), bare: refused(400)},
	{name: "DEL in a value", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Note: a\x7fb"),
		want: refused(400), bare: refused(400)},
	{name: "CR in a value", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Note: a\rb"),
		want: refused(400), bare: refused(400)},
	{name: "oversized head", raw: head("GET /Items HTTP/1.1", "Host: jf", auth, "X-Pad: "+strings.Repeat("a", 20<<10)),
		want: refused(431), bare: refused(431)},

	// Request line and target.
	{name: "absolute-form target", raw: head("GET http://jf/Items HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: passed(get("/Items"))},
	{name: "asterisk-form target", raw: head("OPTIONS * HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: passed(forwarded{Method: "OPTIONS", Target: "*"})},
	{name: "CONNECT", raw: head("CONNECT jf:443 HTTP/1.1", "Host: jf:443", auth),
		want: refused(400), bare: passed(forwarded{Method: "CONNECT", Target: "jf:443"})},
	{name: "HTTP/1.2", raw: head("GET /Items HTTP/1.2", "Host: jf", auth),
		want: refused(400), bare: passed(get("/Items"))},
	{name: "HTTP/2.0 in an HTTP/1 line", raw: head("GET /Items HTTP/2.0", "Host: jf", auth),
		want: refused(400), bare: passed(get("/Items"))},
	{name: "lower-case version", raw: head("GET /Items http/1.1", "Host: jf", auth),
		want: refused(400), bare: refused(400)},
	{name: "missing Host", raw: head("GET /Items HTTP/1.1", auth),
		want: refused(400), bare: refused(400)},
	{name: "two Host headers", raw: head("GET /Items HTTP/1.1", "Host: jf", "Host: other", auth),
		want: refused(400), bare: refused(400)},
	{name: "space in the target", raw: head("GET /It ems HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: refused(400)},
	{name: "control byte in the target", raw: head("GET /It\x01ems HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: refused(400)},
	{name: "fragment in the target", raw: head("GET /Items#x HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: passed(get("/Items"))},
	{name: "target without a leading slash", raw: head("GET Items HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: refused(400)},
	{name: "target starting with //", raw: head("GET //evil/Items HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: passed(get("//evil/Items"))},

	// Pipelining: a second request is only forwarded after passing the gate.
	{name: "Connection: close then a pipelined request", raw: head("GET /a HTTP/1.1", "Host: jf", auth, "Connection: close") + head("GET /b HTTP/1.1", "Host: jf", auth),
		want: passed(get("/a")), bare: passed(get("/a"))},
	{name: "HTTP/1.0 then a pipelined request", raw: head("GET /a HTTP/1.0", "Host: jf", auth) + head("GET /b HTTP/1.1", "Host: jf", auth),
		want: passed(get("/a")), bare: passed(get("/a"))},
	{name: "pipelined request with a refused token", raw: head("GET /a HTTP/1.1", "Host: jf", auth) + head("GET /b HTTP/1.1", "Host: jf", `Authorization: MediaBrowser Token="{bad}"`),
		want: outcome{statuses: []int{200, 401}, forwards: []forwarded{get("/a")}}, bare: outcome{statuses: []int{200, 401}, forwards: []forwarded{get("/a")}}},
	// Credentials: Jellyfin reads header names in any case, so the gate must too.
	{name: "lower-case Authorization with a refused token", raw: head("GET /a HTTP/1.1", "Host: jf", `authorization: MediaBrowser Token="{bad}"`),
		want: refused(401), bare: refused(401)},
	{name: "upper-case X-Emby-Token with a refused token", raw: head("GET /a HTTP/1.1", "Host: jf", `X-EMBY-TOKEN: {bad}`),
		want: refused(401), bare: refused(401)},
	{name: "second Authorization in other case with a refused token", raw: head("GET /a HTTP/1.1", "Host: jf", auth, `AUTHORIZATION: MediaBrowser Token="{bad}"`),
		want: refused(401), bare: refused(401)},
	{name: "refused request then a pipelined one", raw: head("POST /a HTTP/1.1", "Host: jf", auth, "Content-Length: 5", "Content-Length: 5") + "hello" + head("GET /b HTTP/1.1", "Host: jf", auth),
		want: refused(400), bare: refused(400)},
}

// target is what the suite runs against: an address to send requests to, the
// recording upstream behind it, and the tokens its gate passes and refuses.
type target struct {
	addr      string
	upstream  *recorder
	ok, bad   string
	expecting func(smuggleCase) outcome
	// gate, when the target can show it, lists the requests its gate passed:
	// they must be exactly the requests the upstream read.
	gate *passLog
}

// passLog is the list of requests a gate passed, as it read them.
type passLog struct {
	mu   sync.Mutex
	reqs []forwarded
}

// add logs a request the gate passed.
func (l *passLog) add(f forwarded) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, f)
}

// take returns and forgets what was logged since the last take.
func (l *passLog) take() []forwarded {
	l.mu.Lock()
	defer l.mu.Unlock()
	reqs := l.reqs
	l.reqs = nil
	return reqs
}

// runSuite sends every case on a fresh connection, one after the other, and
// compares what the client read and what reached the upstream with the case's
// outcome: the same number of requests, each with the method, target and body the
// client sent, all readable by net/http.
func runSuite(t *testing.T, tg target) {
	// A body cut short may be reported after its case ended: it is matched to
	// the cases that allow it by its target, not by when it arrives.
	cut := map[string]bool{}
	for _, c := range cases {
		if tg.expecting(c).cut {
			cut[requestTarget(c.raw)] = true
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := strings.NewReplacer("{ok}", tg.ok, "{bad}", tg.bad).Replace(c.raw)
			want := tg.expecting(c)
			statuses, err := exchange(tg.addr, raw, len(want.statuses))
			if err != nil {
				t.Fatal(err)
			}
			reqs, errs := tg.upstream.take()
			for _, e := range errs {
				if !cut[e.target] {
					t.Errorf("upstream could not read what it was sent: %s", e)
				}
			}
			if !slices.Equal(statuses, want.statuses) {
				t.Errorf("answers %v, want %v", statuses, want.statuses)
			}
			if !slices.Equal(reqs, want.forwards) {
				t.Errorf("forwarded %v, want %v", reqs, want.forwards)
			}
			if tg.gate != nil {
				if passed := tg.gate.take(); !slices.Equal(passed, reqs) {
					t.Errorf("the gate passed %v, the upstream read %v", passed, reqs)
				}
			}
		})
	}
}

// requestTarget is the target in the request line of raw.
func requestTarget(raw string) string {
	line, _, _ := strings.Cut(raw, "\n")
	if f := strings.Fields(line); len(f) > 1 {
		return f[1]
	}
	return ""
}

// exchange writes raw on a new connection and returns the statuses of the answers
// read. It reads the expected number of answers first, then closes its sending
// side and reads whatever else comes until the server closes: a half-closed
// connection makes net/http cancel the requests in flight, so the close waits until
// the expected answers are in. The deadline only bounds a server that waits for
// bytes that never come; nothing is timed.
func exchange(addr, raw string, expect int) ([]int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return nil, err
	}
	// A server may answer and close before reading everything: a failed write
	// then is part of the outcome, not an error of the suite.
	_, _ = io.WriteString(conn, raw)
	br := bufio.NewReader(conn)
	var out []int
	for len(out) < expect {
		status, err := readAnswer(br)
		if err != nil {
			return out, nil
		}
		out = append(out, status)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	for {
		status, err := readAnswer(br)
		if err != nil {
			return out, nil
		}
		out = append(out, status)
	}
}

// readAnswer reads one answer and its body and returns its status.
func readAnswer(br *bufio.Reader) (int, error) {
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}
