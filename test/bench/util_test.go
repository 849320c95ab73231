package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// ---- knobs ----

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// eventCount is the size of the shared stream.
func eventCount() int { return envInt("JFGUARD_BENCH_EVENTS", 1_000_000) }

// seedUsers is the number of users the shared stream's events belong to.
const seedUsers = 1000

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// ---- the shared million-event stream ----

// shared is one embedded NATS server with the event stream seeded once per process;
// TestMain stops it and removes its directory.
var shared struct {
	once   sync.Once
	dir    string
	conn   *broker.Conn
	store  *store.Store // as jfguard opens it: block files, MACs checked
	remote *store.Store
	// unchecked reads the same stream from the block files without checking MACs,
	// the baseline of EventMAC.
	unchecked *store.Store
	seeded    int
	seedDur   time.Duration
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.conn != nil {
		shared.conn.Close()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// bigStore returns the shared store, seeding it with eventCount() events on first
// use (outside any benchmark's timer).
func bigStore(b *testing.B) *store.Store {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "jfguard-bench-")
		if shared.err != nil {
			return
		}
		shared.conn, shared.err = broker.Start(broker.Options{StoreDir: filepath.Join(shared.dir, "nats"), Sync: broker.SyncInterval})
		if shared.err != nil {
			return
		}
		ctx := context.Background()
		// The store as jfguard opens an embedded one: scans read the block files.
		shared.store, shared.err = store.Open(ctx, shared.conn.NC, store.Options{LocalDir: filepath.Join(shared.dir, "nats"), Auth: benchAuth})
		if shared.err != nil {
			return
		}
		shared.unchecked, shared.err = store.Open(ctx, shared.conn.NC, store.Options{LocalDir: filepath.Join(shared.dir, "nats")})
		if shared.err != nil {
			return
		}
		// The same stream read only through the server, as with an external cluster.
		shared.remote, shared.err = store.Open(ctx, shared.conn.NC, store.Options{})
		if shared.err != nil {
			return
		}
		n := eventCount()
		t0 := time.Now()
		shared.err = Seed(ctx, shared.store.JetStream(), n, seedUsers, benchAuth)
		shared.seeded, shared.seedDur = n, time.Since(t0)
		fmt.Fprintf(os.Stderr, "bench: seeded %d events in %s (%.0f events/s)\n", n, shared.seedDur.Round(time.Millisecond), float64(n)/shared.seedDur.Seconds())
	})
	if shared.err != nil {
		b.Fatalf("shared stream: %v", shared.err)
	}
	return shared.store
}

// benchAuth is the event authenticator of the benchmarks' stores.
var benchAuth = func() *events.Authenticator {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	a, err := events.NewAuthenticator("1", map[string][]byte{"1": key})
	if err != nil {
		panic(err)
	}
	return a
}()

// remoteStore is the shared stream read only through the NATS server.
func remoteStore(b *testing.B) *store.Store {
	bigStore(b)
	return shared.remote
}

// lastSeq is the stream's current length.
func lastSeq(b *testing.B, st *store.Store) uint64 {
	b.Helper()
	seq, err := st.LastSeq(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return seq
}

// auditKey is the checkpoint key of the shared stream's notary (one per process, so
// a second run continues the same chain).
var auditKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// ---- statistics ----

// percentile is the nearest-rank percentile p (0..1) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

const mib = 1 << 20

// ---- memory and CPU ----

// rss is the process's resident set size (VmRSS) in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// settleMemory collects garbage and returns freed pages to the OS, so RSS readings
// before and after reflect live memory.
func settleMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// heapInuse is HeapInuse after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssSampler records the peak RSS while it runs.
type rssSampler struct {
	stop chan struct{}
	done chan int64
}

func sampleRSS(every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		peak := rss()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				if r := rss(); r > peak {
					peak = r
				}
				s.done <- peak
				return
			case <-t.C:
				if r := rss(); r > peak {
					peak = r
				}
			}
		}
	}()
	return s
}

// Peak stops the sampler and returns the highest RSS seen.
func (s *rssSampler) Peak() int64 {
	close(s.stop)
	return <-s.done
}

// ---- profiling ----

// cpuProfile profiles a benchmark's timed region into $JFGUARD_BENCH_CPUPROFILE/<name>.pprof
// when that directory is set; call the returned function at the region's end.
func cpuProfile(b *testing.B) func() {
	dir := os.Getenv("JFGUARD_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	_ = os.MkdirAll(dir, 0o755)
	name := strings.NewReplacer("/", "_", "=", "-").Replace(b.Name())
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		b.Logf("cpu profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Logf("cpu profile: %v (is -cpuprofile on?)", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		b.Logf("cpu profile of the timed region: %s", f.Name())
	}
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}
