package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// plainProgressEvery is how often progress is written when nobody watches a
// terminal: a log or a pipe gets a line now and then, never a redrawn bar.
const plainProgressEvery = 5 * time.Second

// progress reports how far long command-line work has got (verifying or replaying
// the log, a backup, a restore). On a terminal it draws a bar (schollz/progressbar);
// written to a file or a pipe it prints a plain line at most every few seconds and
// never a carriage return, so logs and scripts read clean text.
//
// Use: p := newProgress(os.Stderr, total, "verifying events"); p.Add(1) or
// p.Set(n) as work is done; p.Done() at the end. A total of 0 means unknown.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total uint64
	n     uint64
	bar   *progressbar.ProgressBar // nil unless w is a terminal

	now     func() time.Time
	every   time.Duration
	start   time.Time
	printed time.Time // when the last plain line was written; zero: none yet
	done    bool
}

// newProgress reports on w, with a bar only when w is a terminal.
func newProgress(w io.Writer, total uint64, label string) *progress {
	return newProgressMode(w, total, label, isTerminal(w), time.Now)
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgressMode(w io.Writer, total uint64, label string, terminal bool, now func() time.Time) *progress {
	p := &progress{w: w, label: label, total: total, now: now, every: plainProgressEvery, start: now()}
	if terminal {
		p.bar = progressbar.NewOptions64(barMax(total),
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return p
}

// barMax is the bar's maximum; -1 draws a spinner for work of unknown size.
func barMax(total uint64) int64 {
	if total == 0 {
		return -1
	}
	return int64(total)
}

// SetTotal changes the amount of work, when it is learnt only once work started.
func (p *progress) SetTotal(total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total == p.total {
		return
	}
	p.total = total
	if p.bar != nil {
		p.bar.ChangeMax64(barMax(total))
	}
}

// Add records n more units done.
func (p *progress) Add(n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(p.n + n)
}

// Set records that n units are done in all.
func (p *progress) Set(n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(n)
}

func (p *progress) setLocked(n uint64) {
	if p.done {
		return
	}
	p.n = n
	if p.bar != nil {
		_ = p.bar.Set64(int64(n))
		return
	}
	now := p.now()
	if now.Sub(p.start) < p.every || (!p.printed.IsZero() && now.Sub(p.printed) < p.every) {
		return
	}
	p.printed = now
	fmt.Fprintln(p.w, p.line(now))
}

// Done ends the report: the bar is completed and its line ended; in plain mode a
// last line is written if any was, so a log shows the work finished.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	if p.bar != nil {
		if p.total == 0 || p.n < p.total {
			p.bar.ChangeMax64(int64(p.n))
		}
		_ = p.bar.Finish()
		return
	}
	if !p.printed.IsZero() {
		fmt.Fprintln(p.w, p.line(p.now())+", done")
	}
}

// line is the plain progress line: how many, of how many, how fast.
func (p *progress) line(now time.Time) string {
	rate := ""
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		rate = fmt.Sprintf(" (%.0f/s)", float64(p.n)/secs)
	}
	if p.total == 0 {
		return fmt.Sprintf("%s: %d%s", p.label, p.n, rate)
	}
	return fmt.Sprintf("%s: %d of %d%s", p.label, p.n, p.total, rate)
}
