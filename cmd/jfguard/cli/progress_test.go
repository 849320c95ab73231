package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestProgressPlain: written to something that is not a terminal, progress is a
// plain line at most every few seconds, with no carriage return or escape code;
// quick work prints nothing at all.
func TestProgressPlain(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p := newProgressMode(&out, 2000, "verifying events", false, clock.now)
	for i := 0; i < 2000; i++ {
		p.Add(1)
		clock.advance(10 * time.Millisecond) // 20 s in all
	}
	p.Done()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Fatalf("plain progress has a carriage return or an escape code: %q", out.String())
	}
	// 20 s of work at one line per 5 s: at 5, 10 and 15 s, then the closing line.
	want := []string{"verifying events: 501 of 2000 (100/s)", "verifying events: 1001 of 2000 (100/s)", "verifying events: 1501 of 2000 (100/s)", "verifying events: 2000 of 2000 (100/s), done"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plain progress lines: %q", lines)
	}

	out.Reset()
	quick := newProgressMode(&out, 0, "replaying events", false, clock.now)
	quick.Set(5)
	quick.Set(10)
	quick.Done()
	if out.Len() != 0 {
		t.Errorf("quick work printed progress: %q", out.String())
	}
}

// TestProgressNotATerminal: newProgress decides by the writer — a buffer and a
// regular file get plain lines, never a bar.
func TestProgressNotATerminal(t *testing.T) {
	t.Parallel()
	f, err := os.Create(t.TempDir() + "/progress.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []interface{ Write([]byte) (int, error) }{&bytes.Buffer{}, f} {
		p := newProgress(w, 10, "work")
		if p.bar != nil {
			t.Errorf("%T: a bar on something that is not a terminal", w)
		}
		p.Set(10)
		p.Done()
	}
	if b, _ := os.ReadFile(f.Name()); bytes.ContainsAny(b, "\r") {
		t.Errorf("a carriage return in the file: %q", b)
	}
}

// TestProgressTerminal: on a terminal the bar is drawn (redrawn in place with \r)
// and its line is ended when the work is done, also when the total was unknown.
func TestProgressTerminal(t *testing.T) {
	t.Parallel()
	for _, total := range []uint64{100, 0} {
		var out bytes.Buffer
		p := newProgressMode(&out, 0, "verifying events", true, time.Now)
		p.SetTotal(total)
		p.Set(40)
		p.Add(60)
		p.Done()
		p.Done()
		s := out.String()
		if !strings.Contains(s, "\r") || !strings.Contains(s, "verifying events") || !strings.HasSuffix(s, "\n") {
			t.Errorf("total %d: terminal progress %q", total, s)
		}
	}
}

// TestProgressBytesPlain: counting bytes, the plain lines give sizes and a rate
// in bytes, not bare numbers.
func TestProgressBytesPlain(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p := newBytesProgressMode(&out, 60<<20, "snapshot of JFGUARD_EVENTS", false, clock.now)
	chunk := make([]byte, 10<<20)
	for i := 0; i < 6; i++ {
		clock.advance(2 * time.Second)
		if _, err := p.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	p.Done()
	want := "snapshot of JFGUARD_EVENTS: 30 MiB of 60 MiB (5 MiB/s)\n" +
		"snapshot of JFGUARD_EVENTS: 60 MiB of 60 MiB (5 MiB/s)\n" +
		"snapshot of JFGUARD_EVENTS: 60 MiB of 60 MiB (5 MiB/s), done\n"
	if out.String() != want {
		t.Fatalf("plain byte progress:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestStreamBars: each stream's transfer gets its own progress, ended when the
// next stream starts; a late report for a stream already ended draws nothing.
func TestStreamBars(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	s := newStreamBars(&out, "snapshot of")
	s.newBar = func(total uint64, label string) *progress {
		return newBytesProgressMode(&out, total, label, true, time.Now)
	}
	s.update("JFGUARD_AUDIT", 100, 1000)
	s.update("JFGUARD_AUDIT", 1000, 1000)
	s.update("JFGUARD_EVENTS", 0, 5000)
	s.update("JFGUARD_AUDIT", 1000, 1000) // late
	s.update("JFGUARD_EVENTS", 5000, 5000)
	s.Done()
	s.Done()
	got := out.String()
	if strings.Count(got, "\n") != 2 || !strings.HasSuffix(got, "\n") {
		t.Fatalf("want two bars, each ended once:\n%q", got)
	}
	first, second, _ := strings.Cut(got, "\n")
	if !strings.Contains(first, "snapshot of JFGUARD_AUDIT") || strings.Contains(second, "JFGUARD_AUDIT") || !strings.Contains(second, "snapshot of JFGUARD_EVENTS") {
		t.Fatalf("the bars are not one per stream in order:\n%q", got)
	}
}
