package wire_test

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/jfguard/jfguard/http/wire"
	"github.com/valyala/fasthttp"
)

// A front calls CheckRequest first in its handler and answers 400, closing the
// connection, when it returns a reason.
func ExampleCheckRequest() {
	for _, raw := range []string{
		"GET /Users/Me HTTP/1.1\r\nHost: jf\r\n\r\n",
		"GET /Users/Me HTTP/1.1\r\nHost: jf\r\nX-Note: a\r\n folded\r\n\r\n",
		"POST /Items HTTP/1.1\r\nHost: jf\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		var req fasthttp.Request
		req.Header.DisableNormalizing()
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			fmt.Println("fasthttp refuses:", err)
			continue
		}
		fmt.Println(wire.CheckRequest(&req))
	}
	// Output:
	// <nil>
	// obsolete line folding
	// both Content-Length and Transfer-Encoding
}
