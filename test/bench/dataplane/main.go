// Command dataplane measures jfguard's data plane the way a self-hoster would
// compare it: the same upstream reached directly, through nginx as a plain reverse
// proxy, through nginx with forward authentication (auth_request), and through the
// real jfguard binary, side by side in one run, loaded by wrk (an external load
// generator, so no path shares a Go runtime with its client). It prints a markdown
// table of requests/s, their ratio to direct, p50 and p99 at 1 and 32 connections, a
// large streamed body's MB/s, and each proxy's peak RSS.
//
//	go run ./test/bench/dataplane [-duration 10s] [-rounds 3] [-stream-size 1073741824]
//
// Without wrk or nginx it prints what is missing and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

// main runs the benchmark until it ends or is interrupted.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dataplane:", err)
		os.Exit(1)
	}
}

// options are the knobs of one run.
type options struct {
	duration   time.Duration // of each wrk run
	warmup     time.Duration // one wrk run per path before the first round; 0 skips it
	rounds     int           // each round measures every path, starting with a different one
	streamSize int64         // bytes of the streamed body
	jfguardBin string        // a built jfguard; empty builds ./cmd/jfguard
	logf       func(format string, args ...any)
}

// run parses the flags, measures and prints the table; it is main without the exit,
// for the smoke test.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if msg := missingTools(); msg != "" {
		fmt.Fprintln(stdout, msg)
		return nil
	}
	rep, err := measure(ctx, o)
	if err != nil {
		return err
	}
	rep.write(stdout)
	if rep.failed() {
		return errors.New("some paths failed: their rows say why")
	}
	return nil
}

// parseFlags reads the command line; -quick is the smoke test's short run.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("dataplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	quick := fs.Bool("quick", false, "a short run that checks every path works: unless set, 1 s per load, one round, a 64 MiB stream, no warm-up")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "a wrk run per path before the first round (0: none)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every path, in a rotated order; the table shows medians and the ratios' range")
	fs.Int64Var(&o.streamSize, "stream-size", 1<<30, "bytes of the streamed body")
	fs.StringVar(&o.jfguardBin, "jfguard", "", "a jfguard binary to measure (default: go build ./cmd/jfguard into a temporary directory)")
	verbose := fs.Bool("v", false, "log each step to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *quick {
		quickDefaults(fs)
	}
	if o.rounds < 1 || o.duration <= 0 || o.streamSize <= 0 {
		return o, errors.New("-rounds, -duration and -stream-size must be positive")
	}
	o.logf = func(string, ...any) {}
	if *verbose {
		o.logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	return o, nil
}

// quickDefaults sets -quick's values of the flags the command line did not set.
func quickDefaults(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, value := range map[string]string{"duration": "1s", "warmup": "0", "rounds": "1", "stream-size": "67108864"} {
		if !set[name] {
			_ = fs.Set(name, value)
		}
	}
}
