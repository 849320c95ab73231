package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkFrontProxy sends keep-alive GETs with a passing token through the front
// to an upstream on loopback: the whole fast path per request, for its allocations
// (-benchmem counts the upstream's and the client's too; a memory profile tells
// them apart).
func BenchmarkFrontProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		_, _ = io.WriteString(w, "{}")
	}))
	defer up.Close()
	s, addr := startFront(b, up.URL)
	const key = "0123456789abcdef0123456789abcdef"
	s.apiKeys.mu.Lock()
	s.apiKeys.keys[tokenHash(key)] = true
	s.apiKeys.mu.Unlock()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	request := []byte("GET /Items?Limit=5 HTTP/1.1\r\nHost: h\r\nAuthorization: MediaBrowser Client=\"Jellyfin Web\", Token=\"" + key + "\"\r\n\r\n")
	get := &http.Request{Method: http.MethodGet}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(request); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, get)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}
