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
// newBytesProgress counts bytes (a snapshot, a download) and shows them as such.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total uint64
	n     uint64
	bytes bool                     // the units are bytes
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

// newBytesProgress is newProgress counting bytes.
func newBytesProgress(w io.Writer, total uint64, label string) *progress {
	return newBytesProgressMode(w, total, label, isTerminal(w), time.Now)
}

// Write counts len(b) bytes done, so a progress can sit beside a writer in an
// io.MultiWriter or an io.TeeReader.
func (p *progress) Write(b []byte) (int, error) {
	p.Add(uint64(len(b)))
	return len(b), nil
}

// plainStep writes a step of long work as a line, unless w is a terminal, where
// bars show the work: written to a file or a pipe, the bars write only now and
// then, and the steps say what is going on meanwhile.
func plainStep(w io.Writer, line string) {
	if !isTerminal(w) {
		fmt.Fprintln(w, line)
	}
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgressMode is newProgress with the terminal decided and the clock given
// (tests).
func newProgressMode(w io.Writer, total uint64, label string, terminal bool, now func() time.Time) *progress {
	return makeProgress(w, total, label, terminal, false, now)
}

// newBytesProgressMode is newBytesProgress with the terminal decided and the
// clock given (tests).
func newBytesProgressMode(w io.Writer, total uint64, label string, terminal bool, now func() time.Time) *progress {
	return makeProgress(w, total, label, terminal, true, now)
}

// makeProgress builds a progress: a bar on a terminal (showing sizes when the
// units are bytes), plain lines otherwise.
func makeProgress(w io.Writer, total uint64, label string, terminal, bytes bool, now func() time.Time) *progress {
	p := &progress{w: w, label: label, total: total, bytes: bytes, now: now, every: plainProgressEvery, start: now()}
	if terminal {
		p.bar = progressbar.NewOptions64(barMax(total),
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowBytes(bytes),
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
	amount := func(n uint64) string { return fmt.Sprint(n) }
	if p.bytes {
		amount = bytesText
	}
	rate := ""
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		rate = fmt.Sprintf(" (%s/s)", amount(uint64(float64(p.n)/secs)))
	}
	if p.total == 0 {
		return fmt.Sprintf("%s: %s%s", p.label, amount(p.n), rate)
	}
	return fmt.Sprintf("%s: %s of %s%s", p.label, amount(p.n), amount(p.total), rate)
}

// streamBars reports the byte transfers of a backup's or a restore's streams,
// one progress after the other, for backup.Progress.Bytes. A late report for a
// stream whose transfer ended is dropped.
type streamBars struct {
	mu       sync.Mutex
	newBar   func(total uint64, label string) *progress
	verb     string // "snapshot of", "restore of"
	stream   string
	bar      *progress
	finished map[string]bool
}

// newStreamBars reports stream transfers on w, a bar each on a terminal.
func newStreamBars(w io.Writer, verb string) *streamBars {
	return &streamBars{verb: verb, finished: map[string]bool{},
		newBar: func(total uint64, label string) *progress { return newBytesProgress(w, total, label) }}
}

// update records done bytes of total for stream.
func (s *streamBars) update(stream string, done, total uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished[stream] {
		return
	}
	if stream != s.stream {
		s.doneLocked()
		s.stream, s.bar = stream, s.newBar(total, s.verb+" "+stream)
	}
	s.bar.SetTotal(total)
	s.bar.Set(done)
}

// Done ends the last stream's progress.
func (s *streamBars) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doneLocked()
}

func (s *streamBars) doneLocked() {
	if s.bar != nil {
		s.bar.Done()
		s.finished[s.stream] = true
		s.bar = nil
	}
}
