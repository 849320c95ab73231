package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/test/testkit"
	"github.com/valyala/fasthttp"
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
		if p.pids != nil && (pr.stream.rss <= 0 || pr.stream.rss > rep.rss[i]) {
			t.Errorf("%s: RSS during the stream %d, peak over the run %d", p.name, pr.stream.rss, rep.rss[i])
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
	if got := l.problem(); got != "3 status errors, only 0 of 1500 answers came from the upstream" {
		t.Errorf("problem %q; want the status errors and the answers not passed through named", got)
	}
	l.errors["status"], l.fromUpstream = 0, 1502
	if got := l.problem(); got != "" {
		t.Errorf("problem %q of a load the upstream answered (and answered two more after wrk stopped)", got)
	}
	for _, bad := range []string{"", "Requests/sec: 1500\n", "DATAPLANE requests=x duration_us=1\n", "DATAPLANE requests=1\n"} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q) succeeded", bad)
		}
	}
}

// TestParseFlags: -quick shortens what the command line leaves unset, and only that.
func TestParseFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		duration time.Duration
		rounds   int
		stream   int64
	}{
		{nil, 10 * time.Second, 3, 1 << 30},
		{[]string{"-quick"}, time.Second, 1, 64 << 20},
		{[]string{"-quick", "-rounds", "2", "-duration", "3s"}, 3 * time.Second, 2, 64 << 20},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.duration != tc.duration || o.rounds != tc.rounds || o.streamSize != tc.stream {
			t.Errorf("%v: duration %s, rounds %d, stream %d; want %s, %d, %d", tc.args, o.duration, o.rounds, o.streamSize, tc.duration, tc.rounds, tc.stream)
		}
	}
	if _, err := parseFlags([]string{"-rounds", "0"}, io.Discard); err == nil {
		t.Error("-rounds 0 accepted")
	}
}

// TestReportFailedRow: a load with errors is shown as failed with its reason, never
// as a number, and makes the run fail; the other rows keep their numbers.
func TestReportFailedRow(t *testing.T) {
	t.Parallel()
	ok := func(rate int64) pathRound {
		l := load{requests: rate, fromUpstream: rate, elapsed: time.Second, p50: 100 * time.Microsecond, p99: 900 * time.Microsecond, cpu: time.Duration(rate) * 50 * time.Microsecond}
		return pathRound{loads: map[int]load{1: l, 32: l}, failed: map[int]string{}, stream: streamResult{bytes: 1 << 30, elapsed: time.Second}}
	}
	bad := ok(777)
	bad.loads[32] = load{requests: 4321, elapsed: time.Second}
	bad.failed[32] = "12 status errors"
	rep := &report{
		opts:   options{duration: time.Second, rounds: 1, streamSize: 1 << 30},
		paths:  []path{{name: "direct upstream"}, {name: "nginx", pids: func() []int { return nil }}, {name: "nginx + forward-auth", pids: func() []int { return nil }}, {name: "jfguard", pids: func() []int { return nil }}},
		rounds: [][]pathRound{{ok(1000), ok(500), ok(400), bad}},
		rss:    []int64{0, 1 << 20, 1 << 20, 100 << 20}, rssErr: make([]error, 4),
	}
	var out bytes.Buffer
	rep.write(&out)
	row := ""
	for line := range strings.SplitSeq(out.String(), "\n") {
		if strings.HasPrefix(line, "| jfguard |") {
			row = line
		}
	}
	if !strings.Contains(row, "failed: 12 status errors") || strings.Contains(row, "4321") {
		t.Errorf("jfguard's row %q; want the 32-connection load failed, with no rate", row)
	}
	if !strings.Contains(out.String(), "| nginx | 500 | 0.50 |") {
		t.Errorf("nginx's row lost its numbers:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "req/s at 32 connections ≥ nginx + forward-auth's: not measured") {
		t.Errorf("a goal on a failed load was judged:\n%s", out.String())
	}
	if !rep.failed() {
		t.Error("a run with a failed load is not failed")
	}
}

// TestCredential: the upstream finds its token where Jellyfin clients put it, and
// nowhere else.
func TestCredential(t *testing.T) {
	t.Parallel()
	c := newCredential("abc123")
	for _, tc := range []struct {
		header, value string
		want          bool
	}{
		{"Authorization", `MediaBrowser Client="Web", Token="abc123"`, true},
		{"X-Emby-Token", "abc123", true},
		{"Authorization", `MediaBrowser Client="Web", Token="abc1234"`, false},
		{"Authorization", `Bearer Token="abc123"`, false},
		{"X-Emby-Token", "abc12", false},
		{"X-Other", "abc123", false},
	} {
		var h fasthttp.RequestHeader
		h.Set(tc.header, tc.value)
		if got := c.in(&h); got != tc.want {
			t.Errorf("%s: %s: %v; want %v", tc.header, tc.value, got, tc.want)
		}
	}
}
