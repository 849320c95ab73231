package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/test/testkit"
)

// TestQuickRun runs the benchmark in -quick mode: every path answers every load
// with requests and no errors, streams the whole body, and every proxy's memory is
// read. It asserts no speed.
func TestQuickRun(t *testing.T) {
	if msg := missingTools(); msg != "" {
		testkit.SkipOrFail(t, "%s", msg)
	}
	o, err := parseFlags([]string{"-quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := measure(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.write(&out)
	t.Logf("\n%s", out.String())
	if len(rep.paths) != 4 || len(rep.rounds) != 1 {
		t.Fatalf("%d paths, %d rounds; want 4 paths, 1 round", len(rep.paths), len(rep.rounds))
	}
	for i, p := range rep.paths {
		pr := rep.rounds[0][i]
		for _, n := range conns {
			if why, bad := pr.failed[n]; bad {
				t.Errorf("%s, %d connections: %s", p.name, n, why)
			} else if pr.loads[n].requests == 0 {
				t.Errorf("%s, %d connections: no requests", p.name, n)
			}
		}
		if pr.stream.err != nil || pr.stream.bytes != o.streamSize {
			t.Errorf("%s: streamed %d of %d bytes: %v", p.name, pr.stream.bytes, o.streamSize, pr.stream.err)
		}
		if p.pids != nil && (rep.rssErr[i] != nil || rep.rss[i] <= 0) {
			t.Errorf("%s: peak RSS %d: %v", p.name, rep.rss[i], rep.rssErr[i])
		}
		if !strings.Contains(out.String(), "| "+p.name+" |") {
			t.Errorf("the table has no row for %s", p.name)
		}
	}
	if rep.unknown != "" {
		// Not a failure while every row passes, but the upstream may need a route.
		t.Logf("the upstream was asked for paths it does not serve: %s", rep.unknown)
	}
	if rep.failed() {
		t.Error("the report counts a failure the checks above did not name")
	}
}

// TestMissingTools: without wrk and nginx on PATH the program says so and exits 0,
// measuring nothing.
func TestMissingTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-quick"}, &out, io.Discard); err != nil {
		t.Fatalf("run without the tools: %v; want a message and no error", err)
	}
	if !strings.Contains(out.String(), "wrk, nginx") || strings.Contains(out.String(), "|") {
		t.Errorf("output without the tools: %q", out.String())
	}
}

// TestParseWrk reads the line the wrk script prints, and refuses output without it.
func TestParseWrk(t *testing.T) {
	t.Parallel()
	out := "Running 1s test @ http://127.0.0.1:1/Items\n" +
		"DATAPLANE requests=1500 duration_us=1000000 p50_us=120.0 p99_us=950.5 connect=0 read=0 write=0 status=3 timeout=0\n"
	l, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if l.requests != 1500 || l.rate() != 1500 || l.p50 != 120*time.Microsecond || l.p99 != 950500*time.Nanosecond {
		t.Errorf("parsed %+v", l)
	}
	if got := l.problem(); got != "3 status errors" {
		t.Errorf("problem %q; want the status errors named", got)
	}
	for _, bad := range []string{"", "Requests/sec: 1500\n", "DATAPLANE requests=x duration_us=1\n", "DATAPLANE requests=1\n"} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q) succeeded", bad)
		}
	}
}
