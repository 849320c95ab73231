package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"
	"github.com/jfguard/jfguard/docs"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
)

// OpenRPCDocument is the control API description served by rpc.discover.
var OpenRPCDocument = docs.OpenRPC

// Globals are the flags every command takes.
type Globals struct {
	Config    string            `short:"c" default:"jfguard.yaml" help:"Settings file (YAML)." env:"JFGUARD_CONFIG" predictor:"file"`
	Set       map[string]string `help:"Override a setting, e.g. --set security.require_all=true." placeholder:"KEY=VALUE"`
	Listen    string            `help:"Address to listen on (setting listen)."`
	Upstream  string            `help:"Jellyfin's URL (setting upstream)."`
	DataDir   string            `help:"Data directory (setting data_dir)." predictor:"dir"`
	PublicURL string            `help:"The URL users type (setting public_url)."`

	stdout, stderr io.Writer
	environ        []string
	configSet      bool
}

// settings loads and resolves the settings with the flags applied.
func (g *Globals) settings() (*Resolved, error) {
	over := map[string]string{}
	for k, v := range g.Set {
		over[k] = v
	}
	for key, v := range map[string]string{"listen": g.Listen, "upstream": g.Upstream, "data_dir": g.DataDir, "public_url": g.PublicURL} {
		if v != "" {
			over[key] = v
		}
	}
	s, err := LoadSettings(g.Config, g.configSet, g.environ, over)
	if err != nil {
		return nil, err
	}
	return s.Resolve()
}

func (g *Globals) logger(r *Resolved) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[r.Log.Level]
	opts := &slog.HandlerOptions{Level: level}
	if r.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

// CLI is every command.
type CLI struct {
	Globals

	Serve   ServeCmd   `cmd:"" help:"Run jfguard in front of Jellyfin."`
	Dev     DevCmd     `cmd:"" help:"Try jfguard now: a built-in stand-in Jellyfin with users alice and admin, temporary data."`
	Version VersionCmd `cmd:"" help:"Print the version, commit, Go and NATS server versions."`
	Audit   AuditCmd   `cmd:"" help:"Read and check the audit log."`
	Replay  ReplayCmd  `cmd:"" help:"Print the state as it was at an instant."`
	User    UserCmd    `cmd:"" help:"Manage users (talks to a running jfguard)."`
	Session SessionCmd `cmd:"" name:"sessions" help:"Manage sessions (talks to a running jfguard)."`
	RPC     RPCCmd     `cmd:"" name:"rpc" help:"Call any control API method (see docs/openrpc.json)."`
	Keys    KeysCmd    `cmd:"" help:"Rotate jfguard's keys."`
	Doctor  DoctorCmd  `cmd:"" help:"Diagnose a setup: settings, Jellyfin, the event store, the audit chain and the disk, one line per check."`
	Backup  BackupCmd  `cmd:"" help:"Write a backup archive: the event, audit and key streams and the key files (--server while jfguard runs, or --data-dir when stopped)."`
	Restore RestoreCmd `cmd:"" help:"Restore a backup archive into a new data directory (jfguard stopped)."`

	Subscribers SubscribersCmd `cmd:"" help:"Give external systems read-only NATS credentials for the event stream."`
	Healthcheck HealthcheckCmd `cmd:"" help:"Exit 0 when a running jfguard answers its health check (for containers)."`

	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
	Man        ManCmd        `cmd:"" help:"Print the man page (roff)."`
}

// Run parses args and runs the command, returning the process exit code.
//
// Asking for help (`--help`, `-h`, `jfguard help [COMMAND]`, or no command at
// all) prints it and returns 0 before anything else happens: no settings are read,
// no directory is created, nothing listens.
func Run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) int {
	var c CLI
	c.stdout, c.stderr, c.environ = stdout, stderr, environ
	parser, err := newParser(&c, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// A shell asking for completions (COMP_LINE set) gets them, and nothing runs.
	if completing(parser) {
		return 0
	}
	switch {
	case len(args) == 0:
		args = []string{"--help"}
	case args[0] == "help":
		args = append(append([]string{}, args[1:]...), "--help")
	}
	kctx, helped, err := parse(parser, args)
	if helped {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "jfguard:", err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", helpPath(err))
		return 2
	}
	for _, a := range args {
		if a == "--config" || a == "-c" || strings.HasPrefix(a, "--config=") {
			c.configSet = true
		}
	}
	if os.Getenv("JFGUARD_CONFIG") != "" {
		c.configSet = true
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(&c.Globals); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			if exit.msg != "" {
				fmt.Fprintln(stderr, exit.msg)
			}
			return exit.code
		}
		fmt.Fprintln(stderr, "jfguard:", err)
		return 1
	}
	return 0
}

// newParser builds the command line parser for c. Completion, the man page and
// the help tests read the same model, so every command is in all of them.
func newParser(c *CLI, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("jfguard"),
		kong.Description("A security gateway for Jellyfin: two-factor sign-in, trusted browsers, device pairing, app passwords, bans and alerts, with an event-sourced audit log."),
		kong.Writers(stdout, stderr),
		// Kong asks to exit once it has printed the help; parse stops right there.
		kong.Exit(func(code int) { panic(helpPrinted{code}) }),
	)
}

// helpPrinted stops parsing after the help was printed: kong would otherwise go on
// resolving and validating the command line, and a hook added to a command later
// would run although the user only asked for help.
type helpPrinted struct{ code int }

// parse parses args; helped is true when the help was printed instead.
func parse(parser *kong.Kong, args []string) (kctx *kong.Context, helped bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(helpPrinted); !ok {
				panic(r)
			}
			kctx, helped, err = nil, true, nil
		}
	}()
	kctx, err = parser.Parse(args)
	return kctx, false, err
}

// helpPath is the command a parse error happened in, for the hint that follows it.
func helpPath(err error) string {
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		if n := pe.Context.Selected(); n != nil {
			return n.FullPath()
		}
	}
	return "jfguard"
}

// exitError ends a command with a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// ServeCmd runs the service.
type ServeCmd struct{}

// Run starts jfguard and serves until SIGTERM, then shuts down gracefully.
func (ServeCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	// Listen for the signal before starting, so an early SIGTERM still shuts down
	// gracefully.
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(r, g.logger(r))
	if err := m.Run(ctx); err != nil {
		return err
	}
	<-sctx.Done()
	m.Logger.Info("shutting down: finishing in-flight requests")
	return m.Close()
}

// storeFlags choose where audit and replay read the log from.
type storeFlags struct {
	Server string `help:"Talk to a running jfguard at this URL instead of opening the data directory." placeholder:"URL"`
	Token  string `help:"Admin token for --server (default: data_dir/admin.token or JFGUARD_ADMIN_TOKEN)." env:"JFGUARD_ADMIN_TOKEN"`
}

// offlineStore opens the event store without a running server: the external NATS
// cluster, or the embedded store in the data directory (locked while in use).
func offlineStore(ctx context.Context, r *Resolved) (*store.Store, func(), error) {
	var lock *os.File
	if r.NATS.URL == "" {
		if _, err := os.Stat(filepath.Join(r.DataDir, "nats")); err != nil {
			return nil, nil, fmt.Errorf("no jfguard data in %s (set --data-dir)", r.DataDir)
		}
		l, err := LockDataDir(r.DataDir)
		if err != nil {
			return nil, nil, err
		}
		lock = l
	}
	conn, err := broker.Start(broker.Options{URL: r.NATS.URL, CredsFile: r.NATS.CredsFile, StoreDir: filepath.Join(r.DataDir, "nats"), Sync: r.NATS.Sync, SyncEvery: r.SyncInterval,
		NkeySeed: r.NATSNkeySeed, TLS: r.NATS.TLS.files()})
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, nil, err
	}
	closeAll := func() {
		conn.Close()
		if lock != nil {
			_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
			lock.Close()
		}
	}
	opts := store.Options{Replicas: r.NATS.Replicas}
	if conn.Server != nil {
		opts.LocalDir = filepath.Join(r.DataDir, "nats")
	}
	// With the master key, events are checked as the server checks them (a forged one
	// is never folded, and verify names it); a copy without it is read unchecked.
	if ring, ok, err := existingMasterKeyring(r); err != nil {
		closeAll()
		return nil, nil, err
	} else if ok {
		if opts.Auth, err = ring.EventAuthenticator(); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	st, err := store.Open(ctx, conn.NC, opts)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return st, closeAll, nil
}

// masterKeyValue is the master key given in clear, or "" when the keyring file is to
// be read (whole: the settings read master_key_file as a secret value too).
func masterKeyValue(r *Resolved) string {
	if r.MasterKeyFile != "" {
		return ""
	}
	return r.MasterKey
}

// existingMasterKeyring loads the master keyring of a data directory without
// creating one.
func existingMasterKeyring(r *Resolved) (*seal.MasterKeyring, bool, error) {
	value := masterKeyValue(r)
	if value == "" {
		if _, err := os.Stat(r.MasterKeyFile); errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
	}
	ring, err := seal.LoadMasterKeyring(value, r.MasterKeyFile)
	return ring, err == nil, err
}

// serverOrOffline runs a command's work through the control API of a running
// jfguard (--server) or, without one, on the store of a stopped one.
func serverOrOffline(ctx context.Context, g *Globals, r *Resolved, f storeFlags, server func(*rpcClient) error, offline func(*store.Store) error) error {
	if f.Server != "" {
		cl, err := newRPCClient(g, r, f)
		if err != nil {
			return err
		}
		return server(cl)
	}
	st, done, err := offlineStore(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	return offline(st)
}

// rpcClient calls a running jfguard's control API.
type rpcClient struct {
	url, token string
	hc         *http.Client
}

func newRPCClient(g *Globals, r *Resolved, f storeFlags) (*rpcClient, error) {
	server := f.Server
	if server == "" {
		server = "http://" + strings.Replace(r.Listen, "0.0.0.0:", "127.0.0.1:", 1)
		if strings.HasPrefix(r.Listen, ":") {
			server = "http://127.0.0.1" + r.Listen
		}
	}
	tok := f.Token
	if tok == "" {
		tok = r.AdminToken
	}
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(r.DataDir, "admin.token"))
		if err != nil {
			return nil, fmt.Errorf("no admin token: pass --token, set JFGUARD_ADMIN_TOKEN, or run where %s is readable", filepath.Join(r.DataDir, "admin.token"))
		}
		tok = strings.TrimSpace(string(b))
	}
	return &rpcClient{url: strings.TrimSuffix(server, "/") + "/jfguard/rpc", token: tok, hc: &http.Client{Timeout: 10 * time.Minute}}, nil
}

// client loads the settings and returns a control API client for a running jfguard.
func (g *Globals) client(f storeFlags) (*rpcClient, error) {
	r, err := g.settings()
	if err != nil {
		return nil, err
	}
	return newRPCClient(g, r, f)
}

func (c *rpcClient) call(ctx context.Context, method string, params any, out any) error {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach jfguard at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	var rr struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil {
		return fmt.Errorf("%s: HTTP %d", c.url, resp.StatusCode)
	}
	if rr.Error != nil {
		return fmt.Errorf("%s: %s (code %d)", method, rr.Error.Message, rr.Error.Code)
	}
	if out != nil {
		return json.Unmarshal(rr.Result, out)
	}
	return nil
}

// AuditCmd groups the audit commands.
type AuditCmd struct {
	Tail   AuditTailCmd   `cmd:"" help:"Print the newest events; --follow keeps printing new ones."`
	Query  AuditQueryCmd  `cmd:"" help:"Print events matching a filter."`
	Verify AuditVerifyCmd `cmd:"" help:"Check that no event was altered, removed or reordered."`
	Pubkey AuditPubkeyCmd `cmd:"" help:"Print the public keys checkpoints are signed with: the current one, then those it replaced."`
}

// AuditTailCmd prints the newest events.
type AuditTailCmd struct {
	storeFlags
	N      int  `short:"n" default:"20" help:"How many events."`
	Follow bool `short:"f" help:"Keep printing new events."`
	JSON   bool `help:"Print JSON lines instead of a table."`
}

// Run prints the tail of the log.
func (c *AuditTailCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	out := newEventPrinter(g.stdout, c.JSON)
	if c.Server != "" {
		cl, err := newRPCClient(g, r, c.storeFlags)
		if err != nil {
			return err
		}
		var evs []eventJSON
		if err := cl.call(ctx, "audit.query", map[string]any{"limit": c.N, "tail": true}, &evs); err != nil {
			return err
		}
		for _, e := range evs {
			out.printJSON(e)
		}
		out.flush()
		if c.Follow {
			return followServer(ctx, cl, out)
		}
		return nil
	}
	st, done, err := offlineStore(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	evs, err := projections.Query(ctx, st, projections.Filter{Limit: c.N, Tail: true})
	if err != nil {
		return err
	}
	var last uint64
	for _, ev := range evs {
		out.print(ev)
		last = ev.Seq
	}
	out.flush()
	if !c.Follow {
		return nil
	}
	if last == 0 {
		last, _ = st.LastSeq(ctx)
	}
	fctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sub, err := st.Subscribe(fctx, last+1, nil, func(ev events.Event) { out.print(ev); out.flush() })
	if err != nil {
		return err
	}
	defer sub.Stop()
	<-fctx.Done()
	return nil
}

// followServer prints new events from a running server's event feed.
func followServer(ctx context.Context, cl *rpcClient, out *eventPrinter) error {
	fctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	url := strings.TrimSuffix(cl.url, "/jfguard/rpc") + "/jfguard/api/events"
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cl.token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		if fctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := resp.Body.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.Index(pending, []byte("\n\n"))
			if i < 0 {
				break
			}
			for _, line := range strings.Split(string(pending[:i]), "\n") {
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					var e eventJSON
					if json.Unmarshal([]byte(data), &e) == nil {
						out.printJSON(e)
						out.flush()
					}
				}
			}
			pending = pending[i+2:]
		}
		if err != nil {
			if fctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// AuditQueryCmd prints events matching a filter.
type AuditQueryCmd struct {
	storeFlags
	User  string   `help:"A user's events (name or id)."`
	IP    string   `help:"Events from or about an address."`
	Type  []string `help:"Event types (repeat or comma-separate)." sep:","`
	Since string   `help:"From this instant (RFC 3339, inclusive)."`
	Until string   `help:"Up to this instant (RFC 3339, exclusive)."`
	Limit int      `default:"1000" help:"At most this many events."`
	JSON  bool     `help:"Print JSON lines instead of a table."`
}

// typesOf reads event types as given on the command line; the query refuses a name
// that is not in the catalog.
func typesOf(names []string) []events.Type {
	out := make([]events.Type, len(names))
	for i, n := range names {
		out[i] = events.Type(n)
	}
	return out
}

// Run prints the matching events.
func (c *AuditQueryCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	f := projections.Filter{Types: typesOf(c.Type), Limit: c.Limit, IP: c.IP}
	if f.Since, err = parseFlagTime("--since", c.Since); err != nil {
		return err
	}
	if f.Until, err = parseFlagTime("--until", c.Until); err != nil {
		return err
	}
	out := newEventPrinter(g.stdout, c.JSON)
	defer out.flush()
	if c.Server != "" {
		cl, err := newRPCClient(g, r, c.storeFlags)
		if err != nil {
			return err
		}
		var evs []eventJSON
		if err := cl.call(ctx, "audit.query", map[string]any{"user": c.User, "ip": c.IP, "types": c.Type, "since": c.Since, "until": c.Until, "limit": c.Limit}, &evs); err != nil {
			return err
		}
		for _, e := range evs {
			out.printJSON(e)
		}
		return nil
	}
	st, done, err := offlineStore(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	if c.User != "" {
		if f.UserID, err = projections.ResolveUser(ctx, st, c.User); err != nil {
			return err
		}
	}
	evs, err := projections.Query(ctx, st, f)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		out.print(ev)
	}
	return nil
}

func parseFlagTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, fmt.Errorf("%s %q: not an RFC 3339 time; write it like 2026-11-27T09:00:00Z", name, v)
	}
	return t, nil
}

// AuditVerifyCmd checks the log's integrity.
type AuditVerifyCmd struct {
	storeFlags
	Pubkey []string `help:"Trusted checkpoint public keys (ed25519:<base64>); default: the key in the data directory."`
	JSON   bool     `help:"Print the report as JSON."`
}

// Run verifies and exits non-zero naming the first bad sequence when the log was
// tampered with.
func (c *AuditVerifyCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	var rep audit.VerifyReport
	if c.Server != "" {
		cl, err := newRPCClient(g, r, c.storeFlags)
		if err != nil {
			return err
		}
		var res struct {
			Report audit.VerifyReport `json:"report"`
		}
		if err := cl.call(ctx, "audit.verify", nil, &res); err != nil {
			return err
		}
		rep = res.Report
	} else {
		var keys []ed25519.PublicKey
		for _, k := range c.Pubkey {
			pk, err := audit.ParsePublicKey(k)
			if err != nil {
				return err
			}
			keys = append(keys, pk)
		}
		if len(keys) == 0 {
			if _, err := os.Stat(filepath.Join(r.DataDir, "audit.key")); err != nil {
				return fmt.Errorf("no audit key in %s: pass --pubkey", r.DataDir)
			}
			priv, previous, err := audit.LoadKeys(r.DataDir)
			if err != nil {
				return err
			}
			keys = append(append(keys, priv.Public().(ed25519.PublicKey)), previous...)
		}
		st, done, err := offlineStore(ctx, r)
		if err != nil {
			return err
		}
		defer done()
		bar := newProgress(g.stderr, 0, "verifying events")
		rep, err = audit.Verify(ctx, st, audit.VerifyOptions{Keys: keys, Progress: func(n, total uint64) {
			bar.SetTotal(total)
			bar.Set(n)
		}})
		bar.Done()
		if err != nil {
			return err
		}
	}
	if c.JSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(g.stdout, string(b))
	} else {
		fmt.Fprintf(g.stdout, "events: %d, checkpoints: %d, sealed through: %d, not yet sealed: %d\n", rep.Events, rep.Checkpoints, rep.SealedThrough, rep.Unsealed)
		for _, p := range rep.Problems {
			fmt.Fprintln(g.stdout, "problem:", p)
		}
		if !rep.MACsChecked {
			fmt.Fprintln(g.stdout, macsNotChecked)
		}
	}
	if !rep.OK() {
		return exitError{code: 3, msg: fmt.Sprintf("audit verify FAILED: first bad sequence %d", rep.FirstBad)}
	}
	if !rep.MACsChecked {
		fmt.Fprintln(g.stdout, "audit verify: OK (hash chain and checkpoints only; event MACs not checked)")
		return nil
	}
	fmt.Fprintln(g.stdout, "audit verify: OK")
	return nil
}

// macsNotChecked says what a verification without the master key leaves out. The
// chain and checkpoints prove nothing was altered since it was sealed, but an event
// written around jfguard is sealed like any other: only its MAC gives it away. The
// exit status stays 0, since nothing checked failed; the text (and macs_checked in
// --json) says what was not checked.
const macsNotChecked = "event MACs not checked: no master key here, so an event written around jfguard (forged) would pass. " +
	"To check them, run audit verify where the master key is readable (master.key in the data directory, or master_key_file), " +
	"or against the running jfguard with --server."

// AuditPubkeyCmd prints the checkpoint public keys.
type AuditPubkeyCmd struct{}

// Run prints the current key, then the ones it replaced, newest first, one a
// line with its role; --pubkey accepts a line as it is.
func (AuditPubkeyCmd) Run(g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	priv, previous, err := audit.LoadKeys(r.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, audit.FormatPublicKey(priv.Public().(ed25519.PublicKey)), "current")
	for i := len(previous) - 1; i >= 0; i-- {
		fmt.Fprintln(g.stdout, audit.FormatPublicKey(previous[i]), "previous")
	}
	return nil
}

// ReplayCmd prints the state at an instant.
type ReplayCmd struct {
	storeFlags
	At   string `required:"" help:"The instant (RFC 3339)."`
	User string `help:"Only this user (name or id)."`
	JSON bool   `help:"Print JSON."`
}

// Run replays the log to the instant and prints the state.
func (c *ReplayCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	at, err := parseFlagTime("--at", c.At)
	if err != nil {
		return err
	}
	var sum projections.Summary
	if c.Server != "" {
		cl, err := newRPCClient(g, r, c.storeFlags)
		if err != nil {
			return err
		}
		if err := cl.call(ctx, "replay.at", map[string]any{"at": c.At, "user": c.User}, &sum); err != nil {
			return err
		}
	} else {
		st, done, err := offlineStore(ctx, r)
		if err != nil {
			return err
		}
		defer done()
		uid := ""
		if c.User != "" {
			if uid, err = projections.ResolveUser(ctx, st, c.User); err != nil {
				return err
			}
		}
		// The last sequence bounds the work: the replay stops at the instant.
		last, err := st.LastSeq(ctx)
		if err != nil {
			return err
		}
		bar := newProgress(g.stderr, last, "replaying events")
		state, err := projections.Replay(ctx, st, at, bar.Set)
		bar.Done()
		if err != nil {
			return err
		}
		sum = projections.Summarize(state, at, uid)
	}
	if c.JSON {
		b, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintln(g.stdout, string(b))
		return nil
	}
	printSummary(g.stdout, sum)
	return nil
}

func printSummary(w io.Writer, s projections.Summary) {
	fmt.Fprintf(w, "State at %s (through event %d, %d events)\n\n", s.At.UTC().Format(time.RFC3339), s.LastSeq, s.Events)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tADMIN\tFACTORS\tRECOVERY\tSESSIONS\tBROWSERS\tDEVICES\tAPP PASSWORDS\tLOCKED UNTIL")
	for _, u := range s.Users {
		locked := "-"
		if u.LockedUntil != nil {
			locked = u.LockedUntil.UTC().Format(time.RFC3339)
		}
		factors := strings.Join(u.Methods, ",")
		if factors == "" {
			factors = "none"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", u.Name, u.Admin, factors, u.RecoveryLeft, len(u.Sessions), u.Browsers, len(u.Devices), len(u.AppPasswords), locked)
	}
	tw.Flush()
	if len(s.Bans) > 0 {
		fmt.Fprintln(w, "\nBanned addresses:")
		for _, b := range s.Bans {
			fmt.Fprintf(w, "  %s until %s (%s)\n", b.IP, b.Until.UTC().Format(time.RFC3339), b.Reason)
		}
	}
}

// UserCmd groups user administration.
type UserCmd struct {
	Reset UserResetCmd `cmd:"" help:"Account recovery: remove a user's factors, trusted browsers and lockout."`
}

// UserResetCmd resets a user on a running server.
type UserResetCmd struct {
	storeFlags
	Name   string `arg:"" help:"User name or id."`
	Reason string `help:"Why (recorded in the audit log)."`
}

// Run calls users.reset.
func (c *UserResetCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.client(c.storeFlags)
	if err != nil {
		return err
	}
	if err := cl.call(ctx, "users.reset", map[string]any{"user": c.Name, "reason": c.Reason}, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s was reset: no factors, no trusted browsers, not locked, and signed out everywhere (sessions, app passwords, devices). They sign in with their password and can set up two-factor again.\n", c.Name)
	return nil
}

// SessionCmd groups session administration.
type SessionCmd struct {
	Adopt SessionAdoptCmd `cmd:"" help:"Once, after installing: keep the Jellyfin sessions that exist now working."`
}

// SessionAdoptCmd adopts existing sessions.
type SessionAdoptCmd struct {
	storeFlags
	Force bool `help:"Adopt again even if sessions were adopted before."`
}

// Run calls sessions.adopt.
func (c *SessionAdoptCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.client(c.storeFlags)
	if err != nil {
		return err
	}
	var res struct {
		Adopted int `json:"adopted"`
	}
	if err := cl.call(ctx, "sessions.adopt", map[string]any{"force": c.Force}, &res); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "adopted %d existing sessions\n", res.Adopted)
	return nil
}

// RPCCmd calls any control API method.
type RPCCmd struct {
	storeFlags
	Method string `arg:"" help:"Method name, e.g. users.list."`
	Params string `arg:"" optional:"" help:"Parameters as a JSON object."`
}

// Run calls the method and prints the result as JSON.
func (c *RPCCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.client(c.storeFlags)
	if err != nil {
		return err
	}
	var params any
	if c.Params != "" {
		if err := json.Unmarshal([]byte(c.Params), &params); err != nil {
			return fmt.Errorf("params: not JSON: %w", err)
		}
	}
	var out json.RawMessage
	if err := cl.call(ctx, c.Method, params, &out); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	fmt.Fprintln(g.stdout, string(out))
	return nil
}

// eventJSON is an event as the control API and feed print it.
type eventJSON struct {
	Seq         uint64          `json:"seq"`
	ID          string          `json:"id"`
	Type        events.Type     `json:"type"`
	Time        time.Time       `json:"time"`
	Aggregate   string          `json:"aggregate"`
	AggregateID string          `json:"aggregate_id"`
	Actor       string          `json:"actor,omitempty"`
	IP          string          `json:"ip,omitempty"`
	Device      *events.Device  `json:"device,omitempty"`
	Data        json.RawMessage `json:"data"`
	V           int             `json:"v"`
}

// eventPrinter prints events as a table or JSON lines.
type eventPrinter struct {
	w    io.Writer
	tw   *tabwriter.Writer
	json bool
	head bool
}

func newEventPrinter(w io.Writer, asJSON bool) *eventPrinter {
	return &eventPrinter{w: w, tw: tabwriter.NewWriter(w, 2, 4, 2, ' ', 0), json: asJSON}
}

func (p *eventPrinter) print(ev events.Event) {
	p.printJSON(eventJSON{ev.Seq, ev.ID, ev.Type, ev.Time, ev.Aggregate, ev.AggregateID, ev.Actor, ev.IP, ev.Device, ev.Data, ev.V})
}

func (p *eventPrinter) printJSON(e eventJSON) {
	if p.json {
		b, _ := json.Marshal(e)
		fmt.Fprintln(p.w, string(b))
		return
	}
	if !p.head {
		fmt.Fprintln(p.tw, "SEQ\tTIME\tTYPE\tAGGREGATE\tIP\tCLIENT\tDETAILS")
		p.head = true
	}
	client := ""
	if e.Device != nil {
		client = strings.TrimSpace(e.Device.Client + " " + e.Device.Version)
	}
	fmt.Fprintf(p.tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Type,
		e.Aggregate+":"+short(e.AggregateID), dash(e.IP), dash(client), details(e.Data))
}

func (p *eventPrinter) flush() { p.tw.Flush() }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// details renders a payload's readable fields; secrets, hashes and sealed values are
// left out. Numbers print as they were written (json.Number): a float64 would show
// a large integer in exponent form (5.987649e+07).
func details(data json.RawMessage) string {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return ""
	}
	var keys []string
	for k := range m {
		if strings.Contains(k, "hash") || k == "token" || k == "secret" || k == "address" || k == "codes" ||
			k == "auth_result" || k == "public_key" || k == "attestation" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}
