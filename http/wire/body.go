package wire

import (
	"errors"
	"io"

	"github.com/valyala/fasthttp"
)

// Why a chunked body is refused.
var (
	ErrChunked  = errors.New("the chunked body is malformed")
	ErrTooLarge = errors.New("the chunked body is larger than the front reads")
)

// BufferChunked reads a chunked request body whole, up to limit bytes, before
// anything is forwarded. With StreamRequestBody set, fasthttp reads a body of known
// length before the handler runs but hands a chunked one over as a stream, and only
// finds a malformed chunk line (a size that is not hex, an overflow, a bare LF, data
// longer than its size) while the proxy is already sending the request upstream:
// Jellyfin would then see a request whose body is cut short. Read here, the body is
// refused with 400 (ErrChunked) or 413 (ErrTooLarge) and forwarded with a
// Content-Length. Requests of known length are left alone and cost nothing.
func BufferChunked(req *fasthttp.Request, limit int) error {
	if req.Header.ContentLength() != -1 || !req.IsBodyStream() {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(req.BodyStream(), int64(limit)+1))
	if err != nil {
		return ErrChunked
	}
	if len(body) > limit {
		return ErrTooLarge
	}
	req.SetBody(body)
	return nil
}
