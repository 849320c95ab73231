package jellyfin

import (
	"net/http"
	"sync"
)

// RecordedRequest is a copy of what a request looked like when it reached
// the stand-in.
type RecordedRequest struct {
	Method     string
	Path       string
	RawQuery   string
	Header     http.Header
	RemoteAddr string
}

// RequestLog keeps copies of the requests a server received, for tests that
// check what a proxy forwarded. Register it with
// server.OnRequest(log.Record). It grows without bound, so use it in tests,
// not in long-running processes.
type RequestLog struct {
	mu       sync.Mutex
	requests []RecordedRequest
}

// Record keeps a copy of r. It is safe for concurrent use.
func (l *RequestLog) Record(r *http.Request) {
	rec := RecordedRequest{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
		RemoteAddr: r.RemoteAddr,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, rec)
}

// Requests returns the recorded requests in the order they arrived.
func (l *RequestLog) Requests() []RecordedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RecordedRequest(nil), l.requests...)
}

// Find returns the recorded requests with the given method and path.
func (l *RequestLog) Find(method, path string) []RecordedRequest {
	var out []RecordedRequest
	for _, rec := range l.Requests() {
		if rec.Method == method && rec.Path == path {
			out = append(out, rec)
		}
	}
	return out
}
