package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/projections/usecase"
)

// forwardedPassword is the password check of a sign-in request: the request, with
// its body, goes to Jellyfin through the proxy (which forwards the client address
// resolveClient put in its context), and Jellyfin's whole answer comes back to the
// sign-in use case.
type forwardedPassword struct {
	s    *Server
	req  *http.Request
	body []byte
}

var _ usecase.PasswordCheck = forwardedPassword{}

// CheckPassword forwards the request and returns Jellyfin's answer.
func (p forwardedPassword) CheckPassword(ctx context.Context) (usecase.PasswordAnswer, error) {
	ans, err := p.s.forwardRequest(p.req.WithContext(ctx), p.body)
	if err != nil {
		return usecase.PasswordAnswer{}, err
	}
	return usecase.PasswordAnswer{Status: ans.status, Header: ans.header, Body: ans.body}, nil
}

// upstreamAnswer is a buffered answer from Jellyfin to a sign-in.
type upstreamAnswer struct {
	status int
	header http.Header
	body   []byte
}

// errJellyfinUnreachable: the proxy got no answer from Jellyfin.
var errJellyfinUnreachable = errors.New("jellyfin unreachable")

// forwardBuffered sends a request to Jellyfin with the given body and reads the whole
// answer (sign-in answers are small).
func (s *Server) forwardBuffered(c *gin.Context, body []byte) (*upstreamAnswer, error) {
	return s.forwardRequest(c.Request, body)
}

// forwardRequest is forwardBuffered for a request of jfguard's own making.
func (s *Server) forwardRequest(r *http.Request, body []byte) (*upstreamAnswer, error) {
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Set("Accept-Encoding", "identity")
	rec := &bufferingWriter{header: http.Header{}, status: http.StatusOK}
	s.proxy.ServeHTTP(rec, out)
	if rec.status == http.StatusBadGateway && rec.buf.Len() == 0 {
		return nil, errJellyfinUnreachable
	}
	return &upstreamAnswer{status: rec.status, header: rec.header, body: rec.buf.Bytes()}, nil
}

// bufferingWriter captures a proxied answer.
type bufferingWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
	wrote  bool
}

func (b *bufferingWriter) Header() http.Header { return b.header }
func (b *bufferingWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferingWriter) Write(p []byte) (int, error) {
	b.wrote = true
	if b.buf.Len()+len(p) > 8<<20 {
		return 0, errors.New("answer too large")
	}
	return b.buf.Write(p)
}

// write sends a buffered answer to the client unchanged.
func (a *upstreamAnswer) write(w http.ResponseWriter) {
	for k, v := range a.header {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// relayPassword sends Jellyfin's answer to a password to the client unchanged.
func relayPassword(w http.ResponseWriter, a usecase.PasswordAnswer) {
	(&upstreamAnswer{status: a.Status, header: a.Header, body: a.Body}).write(w)
}
