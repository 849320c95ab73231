//go:build slow

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/test/testkit"
)

// skipOrFail skips a test whose tool is missing, or fails it under
// JFGUARD_TEST_REQUIRE_ALL (see testkit.SkipOrFail).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	testkit.SkipOrFail(t, format, args...)
}

// upstreamHeader names, on every answer of the balancer, the node that served it.
const upstreamHeader = "X-Upstream"

// balancer is nginx spreading requests round robin over the gateway nodes, the way
// docs/operations.md's recipe passes them to one: the client's address in
// X-Forwarded-For, replacing whatever the client sent. Nothing is sticky: no
// keep-alive pool to the nodes, and a request that fails on its node is not tried
// on another (proxy_next_upstream off), so each lands where round robin sends it.
type balancer struct {
	url string
	out *lockedBuffer
}

// startBalancer runs nginx in the foreground in a temporary directory, as the test
// user, until the test ends. Without nginx the test is skipped (or fails under
// JFGUARD_TEST_REQUIRE_ALL).
func startBalancer(t *testing.T, nodes []string) *balancer {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		skipOrFail(t, "nginx is not installed: install the Debian package nginx to run the load-balanced cluster tests")
	}
	dir := t.TempDir()
	port := freePort(t)
	var servers strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&servers, "        server %s;\n", n)
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream jfguard {
%[2]s    }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://jfguard;
            proxy_http_version 1.1;
            proxy_set_header Host              $host;
            proxy_set_header X-Forwarded-For   $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Real-IP         $remote_addr;
            proxy_set_header Connection        "";
            proxy_next_upstream off;
            proxy_buffering off;
            proxy_read_timeout 120s;
            add_header %[4]s $upstream_addr always;
        }
    }
}
`, dir, servers.String(), port, upstreamHeader)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-e", "stderr", "-c", confFile).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the balancer's configuration: %v\n%s", err, out)
	}
	b := &balancer{url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &lockedBuffer{}}
	cmd := exec.Command(nginx, "-p", dir, "-e", "stderr", "-c", confFile)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if out := b.out.String(); t.Failed() && out != "" {
			t.Logf("nginx output:\n%s", out)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("nginx exited before listening on %s:\n%s", addr, b.out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s after 15 s:\n%s", addr, b.out.String())
		}
	}
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer = testkit.Output

// clientFrom is an HTTP client whose connections leave from a loopback address of
// its own (any of 127.0.0.0/8 is this machine on Linux): the balancer sees, and
// forwards, that address as the client's.
func clientFrom(addr string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8},
		Timeout:   60 * time.Second,
	}
}

// reply is an HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// node is the gateway node that served a reply through the balancer.
func (r reply) node() string { return r.header.Get(upstreamHeader) }

// errorCode is the "error" of a JSON error answer.
func (r reply) errorCode() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// send sends a request and reads the answer; in is sent as it is when it is a string
// or bytes, as JSON otherwise. header holds name, value pairs. It returns an error
// rather than failing the test, so goroutines may call it.
func send(c *http.Client, method, url string, in any, header ...string) (reply, error) {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return reply{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}, nil
}

// must is send for the test's own goroutine: a request that gets no answer fails
// the test.
func must(t *testing.T, c *http.Client, method, url string, in any, header ...string) reply {
	t.Helper()
	r, err := send(c, method, url, in, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// eventually polls cond until it holds, for at most bound; it returns how long that
// took and fails the test naming what never happened.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("after %s: %s never happened", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// rpcCall calls a node's control API with its admin token and decodes the result.
func rpcCall(t *testing.T, nodeURL, token, method string, params, out any) {
	t.Helper()
	res := must(t, http.DefaultClient, http.MethodPost, nodeURL+"/jfguard/rpc",
		map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, "Authorization", "Bearer "+token)
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, &r) != nil || r.Error != nil {
		t.Fatalf("rpc %s on %s: %d %s", method, nodeURL, res.status, res.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			t.Fatalf("rpc %s result %s: %v", method, r.Result, err)
		}
	}
}
