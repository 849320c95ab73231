package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// jfguardConf is what a benchmark changes from a fresh install: loopback addresses,
// the admin key jfguard lists Jellyfin's API keys with (the client's token is one of
// them, so it passes the gate), and no address bans or sign-in throttle, since every
// request comes from 127.0.0.1.
const jfguardConf = `listen: %q
upstream: %q
data_dir: %q
jellyfin:
  api_key: %q
security:
  ban_threshold: 0
  password_failures_per_ip_per_minute: 0
log:
  level: "warn"
`

// jfguardProxy is the real jfguard program, `jfguard serve`, as a child process.
type jfguardProxy struct {
	addr string
	*process
}

// buildJfguard builds ./cmd/jfguard of the module the current directory is in into
// dir.
func buildJfguard(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "/dev" {
		return "", fmt.Errorf("run from inside the jfguard module (go env GOMOD says %q), or pass -jfguard", strings.TrimSpace(string(gomod)))
	}
	bin := filepath.Join(dir, "jfguard")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jfguard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jfguard: %w\n%s", err, out)
	}
	return bin, nil
}

// startJfguard runs bin in front of upstream with its settings and data in dir, and
// waits until /jfguard/readyz answers 200.
func startJfguard(ctx context.Context, bin, dir, upstream, adminKey string) (*jfguardProxy, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "jfguard.yaml")
	body := fmt.Sprintf(jfguardConf, listen, upstream, filepath.Join(dir, "data"), adminKey)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	p, err := startProcess(exec.Command(bin, "serve", "--config", conf), filepath.Join(dir, "jfguard.out"))
	if err != nil {
		return nil, fmt.Errorf("start jfguard: %w", err)
	}
	if err := p.waitHTTP(ctx, "http://"+listen+"/jfguard/readyz", true); err != nil {
		p.stop()
		return nil, fmt.Errorf("jfguard on %s: %w\n%s", listen, err, p.output())
	}
	return &jfguardProxy{addr: listen, process: p}, nil
}

// url is where jfguard listens.
func (j *jfguardProxy) url() string { return "http://" + j.addr }

// pids is jfguard's one process: the binary itself, not a go run wrapper.
func (j *jfguardProxy) pids() []int { return []int{j.pid()} }
