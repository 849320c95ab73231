package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// nginxConf is nginx as a self-hoster's reverse proxy in front of Jellyfin: a
// keep-alive pool to the upstream, HTTP/1.1 to it, no access log, buffering off for
// media so a stream flows as it arrives. With forward-auth, every request is first
// sent (without its body) to the auth responder, as auth_request to Authelia or
// Authentik is. A location that sets any proxy_set_header inherits none from the
// server, so /_auth repeats Connection "" to keep its upstream connections alive.
const nginxConf = `daemon off;
worker_processes auto;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    upstream jellyfin {
        server {{upstream}};
        keepalive 64;
    }
{{authUpstream}}
    server {
        listen {{listen}};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location = /nginx-ready {
            return 204;
        }
        location / {
{{authRequest}}
            proxy_pass http://jellyfin;
        }
        location /Videos/ {
{{authRequest}}
            proxy_pass http://jellyfin;
            proxy_buffering off;
        }
{{authLocation}}
    }
}
`

// The parts of nginxConf that only forward-auth has: the responder's keep-alive
// pool, the auth_request in front of each location, and the internal location
// that asks the responder.
const (
	authUpstream = `    upstream auth {
        server {{auth}};
        keepalive 64;
    }`
	authRequest  = `            auth_request /_auth;`
	authLocation = `        location = /_auth {
            internal;
            proxy_pass http://auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header Connection "";
        }`
)

// nginxProxy is one nginx run in the foreground from a generated configuration in a
// directory of its own.
type nginxProxy struct {
	addr string
	*process
}

// startNginx runs nginx in front of upstream on a free loopback port; a non-empty
// auth puts the forward-auth responder at that address in front of every request.
func startNginx(ctx context.Context, dir, upstream, auth string) (*nginxProxy, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	repl := []string{"{{authUpstream}}", "", "{{authRequest}}", "", "{{authLocation}}", ""}
	if auth != "" {
		repl = []string{"{{authUpstream}}", authUpstream, "{{authRequest}}", authRequest, "{{authLocation}}", authLocation}
	}
	conf := strings.NewReplacer(repl...).Replace(nginxConf)
	conf = strings.NewReplacer("{{dir}}", dir, "{{upstream}}", upstream, "{{auth}}", auth, "{{listen}}", listen).Replace(conf)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "nginx", "-t", "-p", dir, "-e", "stderr", "-c", file).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t refuses the generated configuration %s: %w\n%s", file, err, out)
	}
	p, err := startProcess(exec.Command("nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", file), filepath.Join(dir, "nginx.out"))
	if err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	if err := p.waitHTTP(ctx, "http://"+listen+"/nginx-ready", false); err != nil {
		p.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return nil, fmt.Errorf("nginx on %s: %w\n%s%s", listen, err, p.output(), log)
	}
	return &nginxProxy{addr: listen, process: p}, nil
}

// url is where nginx listens.
func (n *nginxProxy) url() string { return "http://" + n.addr }

// pids are the master and its workers: nginx's memory is theirs together.
func (n *nginxProxy) pids() []int {
	return append([]int{n.pid()}, childrenOf(n.pid())...)
}
