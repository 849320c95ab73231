package deploy

import (
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

	"github.com/coder/websocket"
	"github.com/jfguard/jfguard/events"
)

// The proxy tests run the recipes from deploy/proxy (which docs/operations.md
// shows) in front of the real jfguard, configured with the example settings'
// trusted proxies. The client connects from 127.0.0.2, which no setting trusts,
// and forges X-Forwarded-For and X-Real-IP: jfguard must record 127.0.0.2, the
// address the proxy saw, never the forged one nor the proxy's own 127.0.0.1.
const (
	clientAddr = "127.0.0.2"
	forgedAddr = "203.0.113.9"
)

// TestNginxRecipe starts nginx with deploy/proxy/nginx.conf, changed only in its
// ports, certificate and jfguard's address.
func TestNginxRecipe(t *testing.T) {
	t.Parallel()
	nginx := needCommand(t, "nginx", "nginx")
	svc := startService(t)
	dir := t.TempDir()
	cert := selfSignedCertificate(t, dir)
	httpsPort, httpPort := freePort(t), freePort(t)

	site := readRepoFile(t, "deploy/proxy/nginx.conf")
	site = replaceOnce(t, site, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort))
	site = replaceOnce(t, site, "listen [::]:80;", "")
	site = replaceOnce(t, site, "listen 443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", httpsPort))
	site = replaceOnce(t, site, "listen [::]:443 ssl http2;", "")
	site = replaceOnce(t, site, "/etc/letsencrypt/live/jellyfin.example.com/fullchain.pem", cert.certFile)
	site = replaceOnce(t, site, "/etc/letsencrypt/live/jellyfin.example.com/privkey.pem", cert.keyFile)
	site = replaceOnce(t, site, "server 127.0.0.1:8097;", "server "+svc.addr()+";")
	writeFile(t, filepath.Join(dir, "site.conf"), site)
	// The main configuration a Debian nginx has, reduced to what runs in a test
	// directory: one process in the foreground, every file under dir.
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	writeFile(t, filepath.Join(dir, "nginx.conf"), main)
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the recipe: %v\n%s", err, out)
	}
	p := startProcess(t, nil, nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return p.out.String() + string(b)
	}
	proxy := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort))
	waitForPort(t, proxy, p.exited, logs)

	checkThroughProxy(t, svc, proxy, cert)

	// Plain HTTP is sent to https.
	res := doFrom(t, plainClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))), http.MethodGet, "http://"+publicHost+"/web/", nil, nil)
	if res.status != http.StatusMovedPermanently || res.header.Get("Location") != "https://"+publicHost+"/web/" {
		t.Errorf("http://%s/web/ answered %d, Location %q; want 301 to https", publicHost, res.status, res.header.Get("Location"))
	}
}

// TestCaddyRecipe starts Caddy with deploy/proxy/Caddyfile, changed only in its
// port and certificate (Caddy would otherwise ask Let's Encrypt for one).
func TestCaddyRecipe(t *testing.T) {
	t.Parallel()
	caddy := needCommand(t, "caddy", "caddy")
	svc := startService(t)
	dir := t.TempDir()
	cert := selfSignedCertificate(t, dir)
	port := freePort(t)

	site := readRepoFile(t, "deploy/proxy/Caddyfile")
	site = replaceOnce(t, site, publicHost+" {", fmt.Sprintf("https://%s:%d {\n\tbind 127.0.0.1\n\ttls %s %s", publicHost, port, cert.certFile, cert.keyFile))
	site = replaceOnce(t, site, "reverse_proxy 127.0.0.1:8097 {", "reverse_proxy "+svc.addr()+" {")
	// Global options for a test directory: no admin endpoint, no HTTP listener for
	// redirects, no storage outside dir.
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system %s\n}\n\n", filepath.Join(dir, "storage"))
	config := filepath.Join(dir, "Caddyfile")
	writeFile(t, config, global+site)
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
	validate := exec.Command(caddy, "validate", "--config", config, "--adapter", "caddyfile")
	validate.Env = append(os.Environ(), env...)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate refuses the recipe: %v\n%s", err, out)
	}
	p := startProcess(t, env, caddy, "run", "--config", config, "--adapter", "caddyfile")
	proxy := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitForPort(t, proxy, p.exited, p.out.String)

	checkThroughProxy(t, svc, proxy, cert)
}

// checkThroughProxy signs in through the proxy and checks the address jfguard
// recorded, then that the WebSocket and a ranged stream pass.
func checkThroughProxy(t *testing.T, svc *service, proxy string, cert certificate) {
	t.Helper()
	client := tlsClient(proxy, cert)
	base := "https://" + publicHost

	res := doFrom(t, client, http.MethodPost, base+"/Users/AuthenticateByName",
		strings.NewReader(fmt.Sprintf(`{"Username":"bob","Pw":%q}`, svc.bobPass)),
		map[string]string{
			"Content-Type":    "application/json",
			"Authorization":   `MediaBrowser Client="deploy-test", Device="Go", DeviceId="deploy-test", Version="1"`,
			"X-Forwarded-For": forgedAddr,
			"X-Real-IP":       forgedAddr,
		})
	if res.status != http.StatusOK {
		t.Fatalf("sign-in through the proxy: %d %s", res.status, res.body)
	}
	var auth struct{ AccessToken string }
	if err := json.Unmarshal(res.body, &auth); err != nil || auth.AccessToken == "" {
		t.Fatalf("sign-in through the proxy answered %s (%v)", res.body, err)
	}
	var seen []string
	for _, e := range svc.eventsOf(t, events.TypeSessionVerified) {
		if e.AggregateID == svc.bob.ID {
			seen = append(seen, e.IP)
		}
	}
	if len(seen) != 1 || seen[0] != clientAddr {
		t.Fatalf("jfguard recorded bob's sign-in from %q; want [%s] (the proxy is 127.0.0.1, the forged header said %s)", seen, clientAddr, forgedAddr)
	}

	// Jellyfin's WebSocket, through the proxy's upgrade handling.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "wss://"+publicHost+"/socket", &websocket.DialOptions{
		HTTPClient: tlsClient(proxy, cert),
		HTTPHeader: http.Header{"Authorization": {`MediaBrowser Token="` + auth.AccessToken + `"`}},
	})
	if err != nil {
		t.Fatalf("WebSocket /socket through the proxy: %v", err)
	}
	defer conn.CloseNow()
	if _, msg, err := conn.Read(ctx); err != nil || !strings.Contains(string(msg), `"ForceKeepAlive"`) {
		t.Fatalf("first WebSocket message %q, %v; want ForceKeepAlive", msg, err)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"MessageType":"KeepAlive"}`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := conn.Read(ctx); err != nil || !strings.Contains(string(msg), `"KeepAlive"`) {
		t.Fatalf("WebSocket answer %q, %v; want KeepAlive", msg, err)
	}
	conn.Close(websocket.StatusNormalClosure, "")

	// A ranged video request, as players seek.
	res = doFrom(t, client, http.MethodGet, base+"/Videos/"+svc.jf.MediaItemID()+"/stream?static=true", nil, map[string]string{
		"Authorization": `MediaBrowser Token="` + auth.AccessToken + `"`,
		"Range":         "bytes=100-199",
	})
	if res.status != http.StatusPartialContent || len(res.body) != 100 {
		t.Fatalf("ranged stream through the proxy: %d with %d bytes; want 206 with 100", res.status, len(res.body))
	}
}

// tlsClient sends every request to the proxy at addr over TLS for publicHost,
// from clientAddr.
func tlsClient(addr string, cert certificate) *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: dialFromClient(addr), TLSClientConfig: cert.clientTLS()},
		// The proxy's answer is what is checked, not where it points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// plainClient sends every request to addr over plain HTTP, from clientAddr.
func plainClient(addr string) *http.Client {
	return &http.Client{
		Transport:     &http.Transport{DialContext: dialFromClient(addr)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// dialFromClient connects to addr whatever the request's host, from clientAddr.
func dialFromClient(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientAddr)}, Timeout: 10 * time.Second}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

// reply is a finished exchange.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func doFrom(t *testing.T, client *http.Client, method, url string, body io.Reader, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// TestDocsShowTheRecipes: the operations guide shows the tested recipes verbatim,
// so what a self-hoster copies is what the proxy tests run.
func TestDocsShowTheRecipes(t *testing.T) {
	t.Parallel()
	guide := readRepoFile(t, "docs/operations.md")
	for _, recipe := range []string{"deploy/proxy/nginx.conf", "deploy/proxy/Caddyfile"} {
		if !strings.Contains(guide, "\n"+readRepoFile(t, recipe)+"```\n") {
			t.Errorf("docs/operations.md does not show %s verbatim in a code block", recipe)
		}
	}
}
