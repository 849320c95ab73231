// Package broker runs the NATS JetStream server that jfguard keeps its event stream in,
// either inside the jfguard process (the default: one binary, nothing to install) or
// as a connection to an external NATS server or cluster.
package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Sync modes for the embedded server's file storage.
const (
	// SyncAlways fsyncs every write before JetStream acknowledges it: no acknowledged
	// event is lost on power failure, at the cost of append latency.
	SyncAlways = "always"
	// SyncInterval lets the operating system flush writes and fsyncs on a timer: an
	// acknowledged event survives a crash of jfguard, but a power failure or kernel
	// crash can lose the events of the last interval.
	SyncInterval = "interval"
)

// DefaultSyncInterval bounds the loss window of SyncInterval on power failure.
const DefaultSyncInterval = time.Second

// Options configure where the event store lives.
type Options struct {
	// URL of an external NATS server or cluster (comma-separated). Empty runs the
	// embedded server.
	URL string
	// CredsFile authenticates to an external server (a NATS .creds file); optional.
	CredsFile string
	// NkeySeed authenticates to an external server with an nkey (the seed, "SU…");
	// optional, and not together with CredsFile.
	NkeySeed string
	// TLS: for an external server, the CA that signed its certificate and this
	// client's certificate; for the embedded server's client port, its certificate
	// and, with CAFile, the CA client certificates must be signed by.
	TLS TLSFiles
	// StoreDir is where the embedded server keeps its file storage.
	StoreDir string
	// Listen opens a client port on the embedded server ("127.0.0.1:4222") for
	// subscribers (see SetSubscribers); empty opens none.
	Listen string
	// Sync is SyncAlways or SyncInterval.
	Sync string
	// SyncEvery is the flush interval for SyncInterval; zero means DefaultSyncInterval.
	SyncEvery time.Duration
	// Name identifies this node in connection names and server names.
	Name string
}

// TLSFiles are PEM files for TLS on the NATS connection.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Set reports whether any TLS file is given.
func (t TLSFiles) Set() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Conn is a connection to the event store's NATS server, and the embedded server when
// there is one.
type Conn struct {
	NC     *nats.Conn
	Server *server.Server // nil when connected to an external server

	auth *authenticator // who may connect to the embedded server
	tls  bool           // the embedded server's client port speaks TLS
}

// Start runs the embedded server (or connects to the external one) and returns a
// ready connection.
//
// The embedded server accepts no anonymous connection, on its client port or in
// process: jfguard connects with an nkey generated here, whose seed is never written
// anywhere and which the server accepts only in process; subscribers connect with
// their own nkeys (SetSubscribers).
func Start(opts Options) (*Conn, error) {
	name := opts.Name
	if name == "" {
		name = "jfguard"
	}
	if opts.URL != "" {
		return connectExternal(name, opts)
	}

	if opts.StoreDir == "" {
		return nil, errors.New("embedded NATS needs a store directory (data_dir)")
	}
	if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("create NATS store directory: %w", err)
	}
	self, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create jfguard's NATS key: %w", err)
	}
	selfPub, err := self.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("create jfguard's NATS key: %w", err)
	}
	sopts := &server.Options{
		ServerName:         name,
		JetStream:          true,
		StoreDir:           filepath.Clean(opts.StoreDir),
		DontListen:         opts.Listen == "",
		NoSigs:             true,
		NoLog:              true,
		JetStreamMaxMemory: 256 << 20,
		MaxPayload:         4 << 20,
	}
	// Until SetSubscribers names some, jfguard is the server's only user. The nonce
	// is what clients sign with their nkeys.
	auth := newAuthenticator(selfPub)
	sopts.CustomClientAuthentication, sopts.AlwaysEnableNonce = auth, true
	switch opts.Sync {
	case SyncAlways:
		sopts.SyncAlways = true
	case SyncInterval, "":
		sopts.SyncInterval = opts.SyncEvery
		if sopts.SyncInterval <= 0 {
			sopts.SyncInterval = DefaultSyncInterval
		}
	default:
		return nil, fmt.Errorf("nats.sync: %q is not a sync mode; use %q or %q", opts.Sync, SyncAlways, SyncInterval)
	}
	if opts.Listen != "" {
		host, port, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats.listen: %q is not host:port: %w", opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats.listen: port %q is not a number", port)
		}
		sopts.Host, sopts.Port = host, p
		if opts.TLS.Set() {
			if opts.TLS.CertFile == "" || opts.TLS.KeyFile == "" {
				return nil, errors.New("nats.tls: the embedded server needs both cert_file and key_file")
			}
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
				CertFile: opts.TLS.CertFile, KeyFile: opts.TLS.KeyFile, CaFile: opts.TLS.CAFile, Verify: opts.TLS.CAFile != "",
			})
			if err != nil {
				return nil, fmt.Errorf("nats.tls: %w", err)
			}
			sopts.TLSConfig, sopts.TLS, sopts.TLSVerify = tc, true, opts.TLS.CAFile != ""
		}
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	auth.srv = ns
	fatal := &fatalLog{first: make(chan string, 1)}
	ns.SetLoggerV2(fatal, false, false, false)
	go ns.Start()
	if err := waitReady(ns, fatal.first, 30*time.Second); err != nil {
		ns.Shutdown()
		if opts.Listen != "" {
			return nil, fmt.Errorf("%w (nats.listen is %s)", err, opts.Listen)
		}
		return nil, err
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name(name), nats.Nkey(selfPub, self.Sign))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return &Conn{NC: nc, Server: ns, auth: auth, tls: sopts.TLSConfig != nil}, nil
}

// connectExternal connects to an external NATS server or cluster with the
// credentials and TLS files given.
func connectExternal(name string, opts Options) (*Conn, error) {
	nopts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	switch {
	case opts.CredsFile != "" && opts.NkeySeed != "":
		return nil, errors.New("nats: give either a creds file or an nkey seed, not both")
	case opts.CredsFile != "":
		nopts = append(nopts, nats.UserCredentials(opts.CredsFile))
	case opts.NkeySeed != "":
		kp, err := nkeys.FromSeed([]byte(opts.NkeySeed))
		if err != nil {
			return nil, fmt.Errorf("nats.nkey: not an nkey seed: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("nats.nkey: %w", err)
		}
		nopts = append(nopts, nats.Nkey(pub, kp.Sign))
	}
	if opts.TLS.CAFile != "" {
		nopts = append(nopts, nats.RootCAs(opts.TLS.CAFile))
	}
	if opts.TLS.CertFile != "" || opts.TLS.KeyFile != "" {
		nopts = append(nopts, nats.ClientCert(opts.TLS.CertFile, opts.TLS.KeyFile))
	}
	nc, err := nats.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", opts.URL, err)
	}
	return &Conn{NC: nc}, nil
}

// ClientURL is the address other processes can reach the embedded server at, or "".
func (c *Conn) ClientURL() string {
	if c.Server == nil {
		return ""
	}
	if addr := c.Server.Addr(); addr != nil {
		if c.tls {
			return "tls://" + addr.String()
		}
		return "nats://" + addr.String()
	}
	return ""
}

// Close drains the connection (so in-flight publishes finish) and stops the embedded
// server, waiting until its files are closed.
func (c *Conn) Close() {
	if c.NC != nil {
		_ = c.NC.Drain()
		deadline := time.Now().Add(5 * time.Second)
		for !c.NC.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		c.NC.Close()
	}
	if c.Server != nil {
		c.Server.Shutdown()
		c.Server.WaitForShutdown()
	}
}

// waitReady waits until the embedded server accepts connections, and gives up as
// soon as the server reports that it cannot start (the nats.listen port is taken,
// the store directory is unusable) rather than after the whole timeout.
func waitReady(ns *server.Server, fatal <-chan string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		select {
		case msg := <-fatal:
			return fmt.Errorf("start embedded NATS: %s", msg)
		default:
		}
	}
	return fmt.Errorf("embedded NATS did not become ready within %s", timeout)
}

// fatalLog is the embedded server's logger: jfguard keeps the server quiet and
// reports its errors itself, except the first fatal one, which waitReady returns.
type fatalLog struct{ first chan string }

func (l *fatalLog) Fatalf(format string, v ...any) {
	select {
	case l.first <- fmt.Sprintf(format, v...):
	default:
	}
}

func (*fatalLog) Noticef(string, ...any) {}
func (*fatalLog) Warnf(string, ...any)   {}
func (*fatalLog) Errorf(string, ...any)  {}
func (*fatalLog) Debugf(string, ...any)  {}
func (*fatalLog) Tracef(string, ...any)  {}
