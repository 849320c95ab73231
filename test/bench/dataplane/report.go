package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// write prints the run as markdown: the machine, the summary table (medians over
// rounds; with several rounds, each ratio's range across them in brackets), jfguard
// against its goals, then every round's numbers so the noise is visible.
func (r *report) write(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "Machine: %s; load average %s before the run, %s after.\n", r.machine, r.loadBefore, r.loadAfter)
	fmt.Fprintf(w, "Load: wrk, GET of a 1 KB JSON answer with a token, %s per run, %d round(s), paths in a rotated order each round; stream: %s read by a Go client.\n\n",
		o.duration, o.rounds, size(o.streamSize))
	r.writeSummary(w)
	if r.unknown != "" {
		fmt.Fprintf(w, "\nThe upstream answered 404 to paths it does not serve: %s.\n", r.unknown)
	}
	r.writeGoals(w)
	if o.rounds > 1 {
		r.writeRounds(w)
	}
}

// writeSummary is the table of medians, one row a path.
func (r *report) writeSummary(w io.Writer) {
	fmt.Fprintln(w, "| path | req/s, 1 conn | ratio | p50 | p99 | req/s, 32 conns | ratio | p50 | p99 | CPU/req, 32 conns | ratio | stream MB/s | ratio | CPU/GiB | RSS in stream | peak RSS, whole run |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, p := range r.paths {
		cells := []string{p.name}
		for _, n := range conns {
			cells = append(cells, r.loadCells(i, n)...)
		}
		cells = append(cells, r.cpuCells(i, conns[len(conns)-1])...)
		cells = append(cells, r.streamCells(i)...)
		cells = append(cells, r.streamRSSCell(i), r.rssCell(i))
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

// writeRounds is every round's numbers, in the order of the paths (not the order
// they ran in).
func (r *report) writeRounds(w io.Writer) {
	fmt.Fprintln(w, "\nEach round:")
	fmt.Fprintln(w, "\n| round | path | req/s, 1 conn | p50 | p99 | req/s, 32 conns | p50 | p99 | CPU/req | stream MB/s | CPU/GiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for k, round := range r.rounds {
		for i, p := range r.paths {
			cells := []string{fmt.Sprint(k + 1), p.name}
			for _, n := range conns {
				last := n == conns[len(conns)-1]
				if why, bad := round[i].failed[n]; bad {
					cells = append(cells, "failed: "+why, "", "")
					if last {
						cells = append(cells, "")
					}
					continue
				}
				l := round[i].loads[n]
				cells = append(cells, fmt.Sprintf("%.0f", l.rate()), micros(l.p50), micros(l.p99))
				if last {
					cells = append(cells, micros(l.cpuPerRequest()))
				}
			}
			if s := round[i].stream; s.err != nil {
				cells = append(cells, "failed: "+s.err.Error(), "")
			} else {
				cells = append(cells, fmt.Sprintf("%.0f", s.mbps()), seconds(s.cpuPerGiB()))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	}
}

// writeGoals checks jfguard's medians against the data plane's goals: at least
// nginx + forward-auth's throughput (plain nginx's as the stretch), no slower a
// median answer at one connection, p99 at one connection within 1 ms, a stream at
// half of direct's rate (two copies of every byte on one machine make 0.5 the
// loopback limit; with its CPU-time twin: at most twice direct's CPU per GiB), and
// at most 64 MiB of memory during the stream (and, stricter, over the whole run).
func (r *report) writeGoals(w io.Writer) {
	many, one := conns[len(conns)-1], conns[0]
	jf, fa, ng := r.loadStats(pathJfguard, many), r.loadStats(pathForwardAuth, many), r.loadStats(pathNginx, many)
	jf1, fa1 := r.loadStats(pathJfguard, one), r.loadStats(pathForwardAuth, one)
	streamRatio, streamOK := r.streamRatio(pathJfguard)
	jfGiB, directGiB := r.streamCPU(pathJfguard), r.streamCPU(pathDirect)
	rss := float64(r.rss[pathJfguard]) / (1 << 20)
	inStream := float64(r.streamRSS(pathJfguard)) / (1 << 20)
	goals := []struct {
		name    string
		ok, met bool
		detail  string
	}{
		{"req/s at 32 connections ≥ nginx + forward-auth's", jf.ok && fa.ok, jf.rate >= fa.rate, fmt.Sprintf("%.0f vs %.0f", jf.rate, fa.rate)},
		{"CPU/req at 32 connections ≤ nginx + forward-auth's (the steadier twin of req/s)", jf.ok && fa.ok, jf.cpu <= fa.cpu, micros(jf.cpu) + " vs " + micros(fa.cpu)},
		{"req/s at 32 connections ≥ plain nginx's (stretch)", jf.ok && ng.ok, jf.rate >= ng.rate, fmt.Sprintf("%.0f vs %.0f", jf.rate, ng.rate)},
		{"p50 at 1 connection ≤ nginx + forward-auth's", jf1.ok && fa1.ok, jf1.p50 <= fa1.p50, micros(jf1.p50) + " vs " + micros(fa1.p50)},
		{"p99 at 1 connection ≤ 1 ms", jf1.ok, jf1.p99 <= time.Millisecond, micros(jf1.p99)},
		{"stream ≥ 0.5 of direct", streamOK, streamRatio >= 0.5, fmt.Sprintf("%.2f", streamRatio)},
		{"stream CPU/GiB ≤ twice direct's (the steadier twin of the stream's ratio)", streamOK, jfGiB <= 2*directGiB, seconds(jfGiB) + " vs " + seconds(directGiB)},
		{"RSS during the stream ≤ 64 MiB (largest sample over the rounds)", streamOK && inStream > 0, inStream <= 64, fmt.Sprintf("%.1f MiB", inStream)},
		{"peak RSS over the whole run, loads included, ≤ 64 MiB (stricter)", r.rssErr[pathJfguard] == nil, rss <= 64, fmt.Sprintf("%.1f MiB", rss)},
	}
	fmt.Fprintln(w, "\njfguard against its goals (medians of this run):")
	fmt.Fprintln(w)
	for _, g := range goals {
		verdict := "not met"
		switch {
		case !g.ok:
			verdict, g.detail = "not measured", "a path failed"
		case g.met:
			verdict = "met"
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", g.name, verdict, g.detail)
	}
}

// streamCPU is the median over rounds of path i's stream CPU time per GiB.
func (r *report) streamCPU(i int) time.Duration {
	var cpus []float64
	for _, round := range r.rounds {
		cpus = append(cpus, float64(round[i].stream.cpuPerGiB()))
	}
	return time.Duration(median(cpus))
}

// stats are a path's medians at one load; ok is false when any round failed.
type stats struct {
	rate          float64
	p50, p99, cpu time.Duration
	ok            bool
}

// loadStats are path i's medians at n connections.
func (r *report) loadStats(i, n int) stats {
	var rates, p50s, p99s, cpus []float64
	for _, round := range r.rounds {
		if _, bad := round[i].failed[n]; bad {
			return stats{}
		}
		l := round[i].loads[n]
		rates, p50s, p99s = append(rates, l.rate()), append(p50s, float64(l.p50)), append(p99s, float64(l.p99))
		cpus = append(cpus, float64(l.cpuPerRequest()))
	}
	return stats{rate: median(rates), p50: time.Duration(median(p50s)), p99: time.Duration(median(p99s)), cpu: time.Duration(median(cpus)), ok: true}
}

// streamRatio is the median over rounds of path i's stream rate over direct's.
func (r *report) streamRatio(i int) (float64, bool) {
	var ratios []float64
	for _, round := range r.rounds {
		if round[i].stream.err != nil || round[pathDirect].stream.err != nil {
			return 0, false
		}
		ratios = append(ratios, round[i].stream.mbps()/round[pathDirect].stream.mbps())
	}
	return median(ratios), true
}

// loadCells are path i's req/s, ratio to direct, p50 and p99 at n connections; a
// path that failed in any round shows why instead.
func (r *report) loadCells(i, n int) []string {
	var ratios []float64
	for _, round := range r.rounds {
		if why, bad := round[i].failed[n]; bad {
			return []string{"failed: " + why, "", "", ""}
		}
		if _, bad := round[pathDirect].failed[n]; !bad {
			ratios = append(ratios, round[i].loads[n].rate()/round[pathDirect].loads[n].rate())
		}
	}
	st := r.loadStats(i, n)
	return []string{fmt.Sprintf("%.0f", st.rate), ratio(i, ratios), micros(st.p50), micros(st.p99)}
}

// cpuCells are path i's CPU time per request at n connections (wrk, proxy and
// upstream together) and direct's divided by it: the req/s ratio a machine with
// nothing else to do converges to when the load saturates it.
func (r *report) cpuCells(i, n int) []string {
	var cpus, ratios []float64
	for _, round := range r.rounds {
		if _, bad := round[i].failed[n]; bad {
			return []string{"", ""}
		}
		c := float64(round[i].loads[n].cpuPerRequest())
		cpus = append(cpus, c)
		if _, bad := round[pathDirect].failed[n]; !bad && c > 0 {
			ratios = append(ratios, float64(round[pathDirect].loads[n].cpuPerRequest())/c)
		}
	}
	return []string{micros(time.Duration(median(cpus))), ratio(i, ratios)}
}

// streamCells are path i's MB/s, ratio to direct and CPU time per GiB.
func (r *report) streamCells(i int) []string {
	var rates, ratios, cpus []float64
	for _, round := range r.rounds {
		s := round[i].stream
		if s.err != nil {
			return []string{"failed: " + s.err.Error(), "", ""}
		}
		rates, cpus = append(rates, s.mbps()), append(cpus, float64(s.cpuPerGiB()))
		if round[pathDirect].stream.err == nil {
			ratios = append(ratios, s.mbps()/round[pathDirect].stream.mbps())
		}
	}
	return []string{fmt.Sprintf("%.0f", median(rates)), ratio(i, ratios), seconds(time.Duration(median(cpus)))}
}

// streamRSS is path i's largest resident set size sampled during any round's
// stream, in bytes.
func (r *report) streamRSS(i int) int64 {
	var peak int64
	for _, round := range r.rounds {
		peak = max(peak, round[i].stream.rss)
	}
	return peak
}

// streamRSSCell is path i's largest resident memory while streaming.
func (r *report) streamRSSCell(i int) string {
	if r.paths[i].pids == nil {
		return "–"
	}
	if n := r.streamRSS(i); n > 0 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return "unknown"
}

// rssCell is path i's peak resident memory over the whole run.
func (r *report) rssCell(i int) string {
	switch {
	case r.rssErr[i] != nil:
		return "unknown: " + r.rssErr[i].Error()
	case r.paths[i].pids == nil:
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(r.rss[i])/(1<<20))
}

// failed reports whether any load or stream of the run failed.
func (r *report) failed() bool {
	for _, round := range r.rounds {
		for _, pr := range round {
			if len(pr.failed) > 0 || pr.stream.err != nil {
				return true
			}
		}
	}
	return false
}

// ratio is path i's median of per-round ratios (each against direct in the same
// round), with their range when there are several.
func ratio(i int, rs []float64) string {
	switch {
	case len(rs) == 0:
		return "–"
	case len(rs) == 1 || i == pathDirect:
		return fmt.Sprintf("%.2f", rs[0])
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(rs), slices.Min(rs), slices.Max(rs))
}

// median of xs, which is not empty.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// micros shows a latency in µs, or in ms from 10 ms up.
func micros(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// seconds shows a CPU time in seconds.
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// size shows a byte count in GiB or MiB when it is a whole number of them.
func size(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
