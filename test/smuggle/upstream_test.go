package smuggle

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// forwarded is one request as the upstream read it.
type forwarded struct {
	Method, Target, Body string
}

// recorder is a raw TCP upstream that reads requests with net/http's parser,
// records the ones a gateway forwards, and answers each with 200 and a
// Content-Length. Requests jfguard makes on its own account (device
// "jfguard-gateway") are answered but not recorded; the API key list lists apiKey.
type recorder struct {
	ln     net.Listener
	apiKey string

	mu       sync.Mutex
	requests []forwarded
	errs     []readError
	wg       sync.WaitGroup
}

// startRecorder listens on a loopback port until the test ends.
func startRecorder(t *testing.T, apiKey string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln, apiKey: apiKey}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		r.wg.Wait()
	})
	return r
}

// addr is the host:port the upstream listens on.
func (r *recorder) addr() string { return r.ln.Addr().String() }

// accept serves each connection until the listener closes, then closes them all
// and waits for their goroutines.
func (r *recorder) accept() {
	defer r.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	var open []net.Conn
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		open = append(open, c)
		conns.Add(1)
		go func() {
			defer conns.Done()
			r.serve(c)
		}()
	}
}

// serve reads requests off one connection until it ends or cannot be parsed.
func (r *recorder) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for r.exchange(c, br) {
	}
}

// exchange reads one request and answers it; it reports whether the connection
// stays open for another.
func (r *recorder) exchange(c net.Conn, br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			r.fail("", fmt.Errorf("read request: %w", err))
		}
		return false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.fail(req.RequestURI, fmt.Errorf("read body of %s %s: %w", req.Method, req.RequestURI, err))
		return false
	}
	status, answer := r.answer(req, body)
	if _, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), len(answer), answer); err != nil {
		return false
	}
	return !req.Close
}

// answer records a forwarded request and returns the status and JSON body to
// answer it with.
func (r *recorder) answer(req *http.Request, body []byte) (int, string) {
	own := strings.Contains(req.Header.Get("Authorization"), `DeviceId="jfguard-gateway"`)
	if !own {
		r.mu.Lock()
		r.requests = append(r.requests, forwarded{req.Method, req.RequestURI, string(body)})
		r.mu.Unlock()
		return http.StatusOK, "{}"
	}
	switch req.URL.Path {
	case "/Auth/Keys":
		return http.StatusOK, `{"Items":[{"AccessToken":"` + r.apiKey + `"}]}`
	case "/Users":
		return http.StatusOK, "[]"
	case "/Users/Me":
		// As Jellyfin answers an API key: a token it accepts that names no
		// user. The key list does not hold it, so the gate refuses it.
		return http.StatusBadRequest, "{}"
	}
	return http.StatusOK, "{}"
}

// readError is a request the upstream could not read, with its target when its
// head could be read.
type readError struct {
	target string
	err    error
}

func (e readError) String() string { return e.err.Error() }

// fail records that the upstream could not read what it was sent.
func (r *recorder) fail(target string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, readError{target, err})
}

// take returns and forgets what was recorded since the last take.
func (r *recorder) take() ([]forwarded, []readError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs, errs := r.requests, r.errs
	r.requests, r.errs = nil, nil
	return reqs, errs
}

// String shows recorded requests in a failure message.
func (f forwarded) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s", f.Method, f.Target)
	if f.Body != "" {
		fmt.Fprintf(&b, " body %q", f.Body)
	}
	return b.String()
}
