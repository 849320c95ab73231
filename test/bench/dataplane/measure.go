package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// conns are the loads of every path: one connection shows latency without queueing,
// 32 throughput with the machine saturated.
var conns = []int{1, 32}

// The paths, in the order setup.start makes them and the table shows them.
const (
	pathDirect = iota
	pathNginx
	pathForwardAuth
	pathJfguard
)

// path is one way from the client to the upstream.
type path struct {
	name string
	url  string
	// pids are the proxy's processes, for its memory; nil for the upstream itself.
	pids func() []int
}

// processes are the proxy's processes, or none.
func (p path) processes() []int {
	if p.pids == nil {
		return nil
	}
	return p.pids()
}

// pathRound is what one round measured through one path.
type pathRound struct {
	loads  map[int]load   // by connections
	failed map[int]string // by connections: why a load is not a number
	stream streamResult
}

// report is a whole run.
type report struct {
	opts    options
	paths   []path
	rounds  [][]pathRound // [round][path]
	rss     []int64       // peak RSS by path, bytes; 0 for direct
	rssErr  []error
	machine string
	// loadBefore and loadAfter are the machine's 1-minute load averages: a run on a
	// machine busy with other work is noisier and slower than these paths alone.
	loadBefore, loadAfter string
	// unknown lists the paths the upstream was asked for and does not serve.
	unknown string
}

// setup is every path's servers, up for a run.
type setup struct {
	dir    string
	up     *upstream
	auth   string // the client's Authorization header
	script string // wrk's reporting script
	paths  []path
	stops  []func()
}

// close stops every server, the last started first.
func (s *setup) close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

// measure starts the upstream and the proxies, measures every path for o.rounds
// rounds, and reads the proxies' peak memory at the end.
func measure(ctx context.Context, o options) (*report, error) {
	dir, err := os.MkdirTemp("", "jfguard-dataplane-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	s := &setup{dir: dir}
	defer s.close()
	if err := s.start(ctx, o); err != nil {
		return nil, err
	}
	rep := &report{opts: o, paths: s.paths, machine: machine(), loadBefore: loadAverage()}
	if o.warmup > 0 {
		for _, p := range s.paths {
			o.logf("warm-up: %s", p.name)
			if _, err := runWrk(ctx, s.script, p.url+itemsPath, s.auth, 32, o.warmup); err != nil {
				return nil, fmt.Errorf("warm-up of %s: %w", p.name, err)
			}
		}
	}
	c := newClient()
	for r := range o.rounds {
		round, err := s.round(ctx, o, c, r)
		if err != nil {
			return nil, err
		}
		rep.rounds = append(rep.rounds, round)
	}
	for _, p := range s.paths {
		var rss int64
		var err error
		if p.pids != nil {
			rss, err = peakRSS(p.pids())
		}
		rep.rss, rep.rssErr = append(rep.rss, rss), append(rep.rssErr, err)
	}
	rep.unknown, rep.loadAfter = s.up.unknownPaths(), loadAverage()
	return rep, nil
}

// start brings up the upstream, the forward-auth responder, both nginx and jfguard.
func (s *setup) start(ctx context.Context, o options) error {
	adminKey, clientKey := newKey(), newKey()
	s.auth = `MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="dataplane-bench", Version="10.10.0", Token="` + clientKey + `"`
	var err error
	if s.script, err = writeWrkScript(s.dir); err != nil {
		return fmt.Errorf("wrk script: %w", err)
	}
	if s.up, err = startUpstream(adminKey, clientKey, o.streamSize); err != nil {
		return err
	}
	s.stops = append(s.stops, func() { _ = s.up.close() })
	auth, err := startAuthResponder()
	if err != nil {
		return err
	}
	s.stops = append(s.stops, func() { _ = auth.close() })
	s.paths = append(s.paths, path{name: "direct upstream", url: s.up.url()})

	plain, err := startNginx(ctx, s.subdir("nginx"), s.up.addr, "")
	if err != nil {
		return err
	}
	s.stops = append(s.stops, plain.stop)
	s.paths = append(s.paths, path{name: "nginx (keepalive upstream)", url: plain.url(), pids: plain.pids})

	fa, err := startNginx(ctx, s.subdir("nginx-forward-auth"), s.up.addr, auth.addr)
	if err != nil {
		return err
	}
	s.stops = append(s.stops, fa.stop)
	s.paths = append(s.paths, path{name: "nginx + forward-auth", url: fa.url(), pids: fa.pids})

	bin := o.jfguardBin
	if bin == "" {
		o.logf("building jfguard")
		if bin, err = buildJfguard(ctx, s.subdir("bin")); err != nil {
			return err
		}
	}
	jf, err := startJfguard(ctx, bin, s.subdir("jfguard"), s.up.url(), adminKey)
	if err != nil {
		return err
	}
	s.stops = append(s.stops, jf.stop)
	s.paths = append(s.paths, path{name: "jfguard", url: jf.url(), pids: jf.pids})
	return nil
}

// subdir makes a directory of the run's own.
func (s *setup) subdir(name string) string {
	d := filepath.Join(s.dir, name)
	_ = os.Mkdir(d, 0o755)
	return d
}

// round measures every path once, starting with path r (mod the count) so that no
// path always runs first or last on a machine whose speed drifts: both loads, then
// the stream.
func (s *setup) round(ctx context.Context, o options, c *http.Client, r int) ([]pathRound, error) {
	out := make([]pathRound, len(s.paths))
	order := make([]int, len(s.paths))
	for i := range order {
		order[i] = (r + i) % len(s.paths)
		out[i] = pathRound{loads: map[int]load{}, failed: map[int]string{}}
	}
	for _, n := range conns {
		for _, i := range order {
			p := s.paths[i]
			o.logf("round %d: %s, %d connections", r+1, p.name, n)
			l, why, err := s.measureLoad(ctx, o, c, p, n)
			if err != nil {
				return nil, err
			}
			out[i].loads[n] = l
			if why != "" {
				out[i].failed[n] = why
			}
		}
	}
	for _, i := range order {
		o.logf("round %d: %s, stream", r+1, s.paths[i].name)
		p := s.paths[i]
		var rss <-chan int64
		stop := make(chan struct{})
		if p.pids != nil {
			rss = sampleRSS(p.pids, stop)
		}
		cpu0 := selfCPU() + cpuTime(p.processes())
		out[i].stream = stream(ctx, c, p.url, s.auth, o.streamSize)
		out[i].stream.cpu = selfCPU() + cpuTime(p.processes()) - cpu0
		close(stop)
		if rss != nil {
			out[i].stream.rss = <-rss
		}
		if errors.Is(out[i].stream.err, context.Canceled) {
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// measureLoad runs one wrk load through p at n connections and says why it cannot be
// reported as a number, if so; only an interruption is an error.
func (s *setup) measureLoad(ctx context.Context, o options, c *http.Client, p path, n int) (load, string, error) {
	if err := probe(ctx, c, p.url, s.auth); err != nil {
		return load{}, "probe: " + err.Error(), ctx.Err()
	}
	cpu0, served0 := selfCPU()+cpuTime(p.processes()), s.up.served.Load()
	l, err := runWrk(ctx, s.script, p.url+itemsPath, s.auth, n, o.duration)
	if err != nil {
		return load{}, err.Error(), ctx.Err()
	}
	l.cpu += selfCPU() + cpuTime(p.processes()) - cpu0
	l.fromUpstream = s.up.served.Load() - served0
	return l, l.problem(), nil
}

// newKey is a token in the shape of Jellyfin's API keys: 32 hex digits.
func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// missingTools names the tools this machine lacks, or is "".
func missingTools() string {
	var missing []string
	for _, tool := range []string{"wrk", "nginx", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("dataplane: %s not found on PATH: install the Debian packages wrk and nginx (and Go) to run the side-by-side benchmark; nothing measured", strings.Join(missing, ", "))
}

// machine describes where the numbers come from.
func machine() string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	nginx, _ := exec.Command("nginx", "-v").CombinedOutput()
	wrk, _ := exec.Command("wrk", "-v").CombinedOutput()
	wrkVersion, _, _ := strings.Cut(string(wrk), " [")
	return fmt.Sprintf("%d CPUs, Linux %s, %s, %s, %s", runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version(),
		strings.TrimPrefix(strings.TrimSpace(string(nginx)), "nginx version: "), strings.TrimSpace(wrkVersion))
}

// loadAverage is the machine's 1-minute load average, as /proc/loadavg says.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
