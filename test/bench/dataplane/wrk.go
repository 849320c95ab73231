package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk print, after its run, one line this program parses: the
// request count and exact percentiles from wrk's own latency histogram, and every
// kind of error it counts (status is any answer of 400 or more).
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("DATAPLANE requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

// load is one wrk run's result.
type load struct {
	conns    int
	requests int64
	elapsed  time.Duration
	p50, p99 time.Duration
	// cpu is the CPU time every process of the path used during the run: wrk, the
	// proxy, the upstream (and the forward-auth responder). Per request, it is what
	// the path costs the machine, steadier than req/s on a machine busy with other
	// work.
	cpu time.Duration
	// fromUpstream counts the 200 answers the upstream gave during the run. wrk
	// counts no 3xx as an error: a load of more requests than that was partly
	// answered by the proxy itself, not passed through.
	fromUpstream int64
	// errors are wrk's socket errors and answers of 400 or more; a load with any
	// is reported as failed, never as a number.
	errors map[string]int64
}

// rate is the load's requests per second.
func (l load) rate() float64 { return float64(l.requests) / l.elapsed.Seconds() }

// cpuPerRequest is the CPU time of the whole path per request.
func (l load) cpuPerRequest() time.Duration { return l.cpu / time.Duration(max(l.requests, 1)) }

// problem says why a load cannot be reported as a number, or "".
func (l load) problem() string {
	var parts []string
	for _, k := range []string{"status", "connect", "read", "write", "timeout"} {
		if l.errors[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s errors", l.errors[k], k))
		}
	}
	if l.requests == 0 {
		parts = append(parts, "no requests")
	}
	if l.fromUpstream < l.requests {
		parts = append(parts, fmt.Sprintf("only %d of %d answers came from the upstream", l.fromUpstream, l.requests))
	}
	return strings.Join(parts, ", ")
}

// runWrk loads url with conns keep-alive connections for d: one thread for one
// connection, two otherwise (this machine's cores are shared with the servers).
func runWrk(ctx context.Context, script, url, auth string, conns int, d time.Duration) (load, error) {
	threads := min(conns, 2)
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", secs+"s",
		"--timeout", "5s", "-s", script, "-H", "Authorization: "+auth, url)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return load{}, fmt.Errorf("wrk %s: %w\n%s%s", url, err, out.String(), errOut.String())
	}
	l, err := parseWrk(out.String())
	if err != nil {
		return load{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out.String())
	}
	l.conns = conns
	l.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return l, nil
}

// parseWrk reads the line wrkScript prints.
func parseWrk(out string) (load, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "DATAPLANE ")
		if !ok {
			continue
		}
		l := load{errors: map[string]int64{}}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return load{}, fmt.Errorf("field %q: %w", kv, err)
			}
			switch k {
			case "requests":
				l.requests = int64(f)
			case "duration_us":
				l.elapsed = time.Duration(f * float64(time.Microsecond))
			case "p50_us":
				l.p50 = time.Duration(f * float64(time.Microsecond))
			case "p99_us":
				l.p99 = time.Duration(f * float64(time.Microsecond))
			default:
				l.errors[k] = int64(f)
			}
		}
		if l.elapsed <= 0 {
			return load{}, fmt.Errorf("no duration in %q", rest)
		}
		return l, nil
	}
	return load{}, fmt.Errorf("no DATAPLANE line in wrk's output")
}

// writeWrkScript puts wrkScript in dir.
func writeWrkScript(dir string) (string, error) {
	file := filepath.Join(dir, "report.lua")
	return file, os.WriteFile(file, []byte(wrkScript), 0o600)
}
