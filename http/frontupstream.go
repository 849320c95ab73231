package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"time"

	"github.com/valyala/fasthttp"
)

// upstreamClient is the front's client of a plain-HTTP Jellyfin for the fast path:
// keep-alive connections in a pool, one request at a time on each, the answer read
// in the goroutine serving the client (no goroutine hand-offs per request), and a
// large body of known length moved from Jellyfin's socket to the client's by the
// kernel (splice) instead of through jfguard's memory.
type upstreamClient struct {
	addr   string
	dialer net.Dialer
	idle   chan *upstreamConn
}

// upstreamConn is one pooled connection to Jellyfin.
type upstreamConn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

const (
	// upstreamIdleConns is how many idle connections the pool keeps.
	upstreamIdleConns = 256
	// upstreamIdleFor is how long an idle connection is reused; Kestrel closes
	// its own after 130 s.
	upstreamIdleFor = 60 * time.Second
	// spliceFrom is the smallest body moved by the kernel; smaller ones are read
	// into the answer, which frees the connection at once.
	spliceFrom = 64 << 10
)

func newUpstreamClient(addr string) *upstreamClient {
	return &upstreamClient{
		addr:   addr,
		dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second},
		idle:   make(chan *upstreamConn, upstreamIdleConns),
	}
}

// get is an idle connection, or a new one; reused says which.
func (u *upstreamClient) get() (uc *upstreamConn, reused bool, err error) {
	for {
		select {
		case uc := <-u.idle:
			if time.Since(uc.lastUsed) > upstreamIdleFor {
				uc.c.Close()
				continue
			}
			return uc, true, nil
		default:
		}
		c, err := u.dialer.Dial("tcp", u.addr)
		if err != nil {
			return nil, false, err
		}
		return &upstreamConn{c: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, 16<<10)}, false, nil
	}
}

// put returns a connection whose last answer was read whole to the pool.
func (u *upstreamClient) put(uc *upstreamConn) {
	uc.lastUsed = time.Now()
	select {
	case u.idle <- uc:
	default:
		uc.c.Close()
	}
}

// errUpstreamAnswer is an answer from Jellyfin that cannot be read.
var errUpstreamAnswer = errors.New("unreadable answer from the upstream")

// do sends ctx's request to Jellyfin and makes its answer ctx's, the body streamed
// as it arrives. A connection from the pool that turns out closed is replaced once,
// when the request can be sent again (its body is in memory).
func (u *upstreamClient) do(ctx *fasthttp.RequestCtx) error {
	req := &ctx.Request
	resp := &ctx.Response
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.get()
		if err != nil {
			return err
		}
		err = req.Write(uc.bw)
		if err == nil {
			err = uc.bw.Flush()
		}
		if err == nil {
			err = resp.Header.Read(uc.br)
		}
		if err != nil {
			uc.c.Close()
			if reused && attempt == 0 && !req.IsBodyStream() {
				resp.Header.Reset()
				continue
			}
			return err
		}
		return u.body(ctx, uc)
	}
}

// body arranges the answer's body by its framing (RFC 9112 §6.3): none for HEAD,
// 1xx, 204 and 304; a small body of known length read whole; a larger one streamed
// (spliced when it can be); a chunked one decoded and streamed; one that ends with
// the connection read to its end.
func (u *upstreamClient) body(ctx *fasthttp.RequestCtx, uc *upstreamConn) error {
	resp := &ctx.Response
	keep := !resp.Header.ConnectionClose() && !ctx.Request.Header.ConnectionClose()
	status := resp.StatusCode()
	size := resp.Header.ContentLength()
	switch {
	case status < 200:
		// jfguard sends no Expect and no Upgrade on this path: an interim answer
		// is not one the client asked for.
		uc.c.Close()
		return fmt.Errorf("%w: status %d", errUpstreamAnswer, status)
	case ctx.IsHead() || status == 204 || status == 304:
		resp.SkipBody = true
		u.release(uc, keep)
		return nil
	case size >= 0 && size < spliceFrom:
		if err := readAnswerBody(resp, uc.br, size); err != nil {
			uc.c.Close()
			return fmt.Errorf("%w: %v", errUpstreamAnswer, err)
		}
		u.release(uc, keep)
		return nil
	case size >= 0:
		resp.SetBodyStream(&splicedBody{u: u, uc: uc, left: int64(size), keep: keep}, size)
		return nil
	case size == -1:
		resp.SetBodyStream(&endingBody{uc: uc, r: httputil.NewChunkedReader(uc.br)}, -1)
		return nil
	default:
		resp.SetBodyStream(&endingBody{uc: uc, r: uc.br}, -1)
		return nil
	}
}

// readAnswerBody reads a body of size bytes into resp, through the reader's own buffer:
// no copy buffer to allocate per answer.
func readAnswerBody(resp *fasthttp.Response, br *bufio.Reader, size int) error {
	resp.ResetBody()
	for size > 0 {
		p, err := br.Peek(min(size, br.Size()))
		resp.AppendBody(p)
		_, _ = br.Discard(len(p))
		size -= len(p)
		if err != nil && size > 0 {
			return err
		}
	}
	return nil
}

// release returns a connection to the pool when it may carry another request.
func (u *upstreamClient) release(uc *upstreamConn, keep bool) {
	if keep {
		u.put(uc)
		return
	}
	uc.c.Close()
}

// splicedBody is a body of known length on its way from Jellyfin's connection to
// the client's.
type splicedBody struct {
	u    *upstreamClient
	uc   *upstreamConn
	left int64
	keep bool
	done bool
}

// Read serves a server that reads the body itself.
func (b *splicedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.uc.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTo writes the body to the client: what the reader holds already, then the
// rest straight from the socket. The server's writer hands a reader limited to the
// length down to the client's TCPConn.ReadFrom, which splices from a TCP
// connection: the bytes never enter jfguard's memory.
func (b *splicedBody) WriteTo(w io.Writer) (int64, error) {
	var written int64
	if buffered := min(int64(b.uc.br.Buffered()), b.left); buffered > 0 {
		n, err := io.CopyN(w, b.uc.br, buffered)
		written += n
		b.left -= n
		if err != nil {
			return written, err
		}
	}
	rest := &io.LimitedReader{R: b.uc.c, N: b.left}
	var n int64
	var err error
	if rf, ok := w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(rest)
	} else {
		n, err = io.Copy(w, rest)
	}
	written += n
	b.left -= n
	if err == nil && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return written, err
}

// CloseWithError ends the body: a connection whose answer was read whole goes
// back to the pool, any other is closed rather than read to its end.
func (b *splicedBody) CloseWithError(error) error {
	if b.done {
		return nil
	}
	b.done = true
	b.u.release(b.uc, b.keep && b.left == 0)
	return nil
}

// endingBody is a body whose end Jellyfin's connection does not outlive for jfguard
// (chunked, or until the connection closes): the connection is closed after it.
type endingBody struct {
	uc   *upstreamConn
	r    io.Reader
	done bool
}

func (b *endingBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *endingBody) CloseWithError(error) error {
	if b.done {
		return nil
	}
	b.done = true
	return b.uc.c.Close()
}

// closeIdle closes the pool's idle connections.
func (u *upstreamClient) closeIdle() {
	for {
		select {
		case uc := <-u.idle:
			uc.c.Close()
		default:
			return
		}
	}
}
