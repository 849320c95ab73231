package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a proxy under test run as a child process, its output in a file.
type process struct {
	cmd     *exec.Cmd
	logFile string
	exited  chan struct{}
}

// startProcess starts cmd with its output in logFile.
func startProcess(cmd *exec.Cmd, logFile string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// pid is the process id, for its memory and CPU time.
func (p *process) pid() int { return p.cmd.Process.Pid }

// output is what the process wrote so far, for an error message.
func (p *process) output() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// stop ends the process with SIGTERM (a fast shutdown for nginx and jfguard alike)
// and waits for it, killing it after 10 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitHTTP polls url until it answers (with 200 when want200, with anything
// otherwise), for at most a minute; it fails at once if the process exits.
func (p *process) waitHTTP(ctx context.Context, url string, want200 bool) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := c.Get(url)
		if err == nil {
			res.Body.Close()
			if !want200 || res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after a minute: %w", err)
		}
		select {
		case <-p.exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr is a loopback address with a port that was free a moment ago, for a
// child process to listen on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := statusField(child, "PPid"); ok && ppid == int64(pid) {
			out = append(out, child)
		}
	}
	return out
}

// peakRSS is the sum of the processes' peak resident set sizes (VmHWM), in bytes.
func peakRSS(pids []int) (int64, error) { return sumStatus(pids, "VmHWM") }

// currentRSS is the sum of the processes' resident set sizes now (VmRSS), in bytes.
func currentRSS(pids []int) (int64, error) { return sumStatus(pids, "VmRSS") }

// sumStatus adds up a size field of the processes' /proc/PID/status, in bytes.
func sumStatus(pids []int, field string) (int64, error) {
	var total int64
	for _, pid := range pids {
		kib, ok := statusField(pid, field)
		if !ok {
			return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
		}
		total += kib << 10
	}
	return total, nil
}

// statusField reads a number from /proc/PID/status ("VmHWM:  1234 kB" gives 1234).
func statusField(pid int, name string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user and system) the processes have used so far; a
// process that is gone counts nothing.
func cpuTime(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: fields count from after it.
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(utime+stime) * clockTick
	}
	return total
}

// selfCPU is the CPU time this process has used: the upstream's and the
// forward-auth responder's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
