package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/test/jellyfin"
)

// Dev users and their passwords, as DESIGN promises.
const (
	DevAlicePassword = "alice-dev-password"
	DevAdminPassword = "admin-dev-password"
)

// DevCmd runs jfguard with a built-in stand-in Jellyfin. It listens on --listen
// (default 127.0.0.1:8097) and keeps data in --data-dir (default: a temporary
// directory removed on exit).
type DevCmd struct{}

// DevEnv is a running dev setup: the stand-in Jellyfin and jfguard in front of it.
type DevEnv struct {
	Main     *Main
	Jellyfin *jellyfin.Server
	APIKey   string
	server   *http.Server
	tmp      string
}

// StartDev starts the stand-in Jellyfin on a free loopback port and jfguard in front
// of it. configPath (optional) is applied on top of the dev settings.
func StartDev(ctx context.Context, g *Globals, listen, dataDir string) (*DevEnv, error) {
	env := &DevEnv{}
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "jfguard-dev-")
		if err != nil {
			return nil, err
		}
		env.tmp, dataDir = tmp, tmp
	}
	jf := jellyfin.New(jellyfin.Options{ServerName: "Jellyfin (jfguard dev)", QuickConnect: true, MediaSize: 64 << 20})
	jf.AddUser("alice", DevAlicePassword, false)
	jf.AddUser("admin", DevAdminPassword, true)
	env.Jellyfin = jf
	env.APIKey = jf.CreateAPIKey("jfguard")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		env.cleanup()
		return nil, err
	}
	env.server = &http.Server{Handler: jf, ReadHeaderTimeout: 10 * time.Second}
	go env.server.Serve(ln)

	over := map[string]string{}
	for k, v := range g.Set {
		over[k] = v
	}
	over["listen"] = listen
	over["upstream"] = "http://" + ln.Addr().String()
	over["data_dir"] = dataDir
	over["jellyfin.api_key"] = env.APIKey
	if _, ok := over["public_url"]; !ok {
		host := listen
		if strings.HasPrefix(host, "127.0.0.1:") {
			host = "localhost:" + strings.TrimPrefix(host, "127.0.0.1:")
		}
		over["public_url"] = "http://" + host
	}
	s, err := LoadSettings(g.Config, g.configSet, g.environ, over)
	if err != nil {
		env.cleanup()
		return nil, err
	}
	devPasskeys(s)
	// The plain API key is deliberate here: it belongs to the throwaway stand-in.
	r, err := s.Resolve()
	if err != nil {
		env.cleanup()
		return nil, err
	}
	r.Warnings = dropWarning(r.Warnings, "jellyfin.api_key is set in clear")
	env.Main = NewMain(r, g.logger(r))
	if err := env.Main.Run(ctx); err != nil {
		env.cleanup()
		return nil, err
	}
	return env, nil
}

// devPasskeys turns passkeys on for the dev URL when it is on localhost and no
// WebAuthn setting was given: http://localhost is a secure context browsers allow
// passkeys on, and "localhost" is a valid RP ID (127.0.0.1 is not: an RP ID is a
// domain name).
func devPasskeys(s *Settings) {
	if s.WebAuthn.RPID != "" || len(s.WebAuthn.Origins) > 0 {
		return
	}
	u, err := url.Parse(s.PublicURL)
	if err != nil || u.Hostname() != "localhost" {
		return
	}
	s.WebAuthn.RPID = "localhost"
	s.WebAuthn.Origins = []string{u.Scheme + "://" + u.Host}
}

func dropWarning(ws []string, prefix string) []string {
	var out []string
	for _, w := range ws {
		if !strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// Close stops jfguard and the stand-in and removes temporary data.
func (e *DevEnv) Close() error {
	var err error
	if e.Main != nil {
		err = e.Main.Close()
	}
	e.cleanup()
	return err
}

func (e *DevEnv) cleanup() {
	if e.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.server.Shutdown(ctx)
		cancel()
		e.Jellyfin.Close()
	}
	if e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

// Run starts the dev setup and prints how to use it.
func (c *DevCmd) Run(ctx context.Context, g *Globals) error {
	listen := g.Listen
	if listen == "" {
		listen = "127.0.0.1:8097"
	}
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, err := StartDev(ctx, g, listen, g.DataDir)
	if err != nil {
		return err
	}
	url := env.Main.Settings.PublicURL.String()
	fmt.Fprintf(g.stdout, `
jfguard dev is running.

  Jellyfin (through jfguard):  %s/web/
  Set up two-factor sign-in:   %s/jfguard/setup
  Admin page (as admin):       %s/jfguard/admin
  Passkeys:                    %s
  Users:                       alice / %s
                               admin / %s (administrator)
  Admin token (control API):   %s
  Data:                        %s%s

Sign in as alice, open the setup page, add an authenticator app, sign out and sign
in again: jfguard asks for the code. Press Ctrl-C to stop.
`, url, url, url, passkeyNote(env.Main.Settings.WebAuthn), DevAlicePassword, DevAdminPassword, env.Main.AdminToken(), env.Main.Settings.DataDir, tmpNote(env.tmp != ""))
	<-sctx.Done()
	return env.Close()
}

// passkeyNote says where passkeys work in dev mode, or why they do not.
func passkeyNote(w gateway.WebAuthnSettings) string {
	if !w.Enabled() {
		return "off (open jfguard at http://localhost:<port> or set webauthn.rp_id and webauthn.origins)"
	}
	return "on at " + strings.Join(w.Origins, ", ")
}

func tmpNote(tmp bool) string {
	if tmp {
		return " (temporary: removed on exit)"
	}
	return ""
}
