package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	broker "github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// BenchmarkSizing measures what a stream costs to keep: disk per million events and
// the memory of its projections, for 1,000 and 10,000 users, each in a fresh
// embedded store (JFGUARD_BENCH_SIZING_EVENTS events, default 1,000,000).
func BenchmarkSizing(b *testing.B) {
	n := envInt("JFGUARD_BENCH_SIZING_EVENTS", 1_000_000)
	for _, users := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), "nats")
				conn, err := broker.Start(broker.Options{StoreDir: dir, Sync: broker.SyncInterval})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir, Auth: benchAuth})
				if err == nil {
					err = Seed(ctx, st.JetStream(), n, users, benchAuth)
				}
				if err != nil {
					conn.Close()
					b.Fatal(err)
				}
				b.StartTimer()
				state := projections.NewState()
				if _, err := st.Scan(ctx, 1, func(ev events.Event) error { state.Apply(ev); return nil }); err != nil {
					conn.Close()
					b.Fatal(err)
				}
				b.StopTimer()
				// The embedded server runs in this process and keeps caches of its
				// own; the projections' memory is what the heap loses when the state
				// is dropped, the server stopped both times.
				conn.Close()
				settleMemory()
				heap1 := heapInuse()
				runtime.KeepAlive(state)
				held := len(state.Users)
				tokens, addresses := len(state.Tokens), len(state.Addresses)
				state = nil
				settleMemory()
				heap0 := heapInuse()
				disk := dirSize(dir)
				if i == b.N-1 {
					perMillion := float64(1_000_000) / float64(n)
					b.ReportMetric(float64(disk)/mib*perMillion, "disk-MiB/1M-events")
					b.ReportMetric(float64(int64(heap1)-int64(heap0))/mib, "heap-MiB")
					b.Logf("%d events, %d users (%d tokens, %d addresses kept): disk %.0f MiB, projections' heap %.1f MiB",
						n, held, tokens, addresses, float64(disk)/mib, float64(int64(heap1)-int64(heap0))/mib)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkClusterAppend measures appends on a three-server NATS cluster with the
// stream replicated three times (nats.replicas: 3), next to one embedded server,
// side by side in one run: one writer on one node, and three writers, one per
// server, as three jfguard nodes would append (JFGUARD_BENCH_APPENDS appends in all).
func BenchmarkClusterAppend(b *testing.B) {
	total := envInt("JFGUARD_BENCH_APPENDS", 3000)
	ctx := context.Background()

	conn, err := broker.Start(broker.Options{StoreDir: b.TempDir(), Sync: broker.SyncInterval})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	one, err := store.Open(ctx, conn.NC, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("one-server/writers=1", func(b *testing.B) { benchAppend(b, one, 1, total, 1) })
	b.Run("one-server/writers=3", func(b *testing.B) { benchAppend(b, one, 3, total, 1) })

	urls := startBenchCluster(b)
	var nodes []*store.Store
	for _, u := range urls {
		nc, err := nats.Connect(u)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		st, err := store.Open(ctx, nc, store.Options{Replicas: 3})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, st)
	}
	b.Run("cluster-R3/writers=1", func(b *testing.B) { benchAppend(b, nodes[0], 1, total, 1) })
	b.Run("cluster-R3/writers=3,one-per-server", func(b *testing.B) { benchAppendNodes(b, nodes, total) })
}

// benchAppendNodes runs one writer per store at once and reports the cluster's rate.
func benchAppendNodes(b *testing.B, nodes []*store.Store, total int) {
	ctx := context.Background()
	per := total / len(nodes)
	var wall time.Duration
	for it := 0; it < b.N; it++ {
		errs := make(chan error, len(nodes))
		start := time.Now()
		for _, st := range nodes {
			go func(st *store.Store) {
				agg, now := events.NewID(), time.Now()
				expected := uint64(0)
				for i := 0; i < per; i++ {
					ev := events.Must(agg, now, events.Context{Actor: agg, IP: "203.0.113.7"},
						&events.ChallengeIssued{ChallengeID: events.NewID(), TokenHash: fmt.Sprintf("%064x", i),
							Token: "v1.0123456789ab.dG9rZW4gYnl0ZXM", Methods: []string{"totp"}, ExpiresAt: now.Add(5 * time.Minute)})
					seq, err := st.Append(ctx, expected, ev)
					if err != nil {
						errs <- err
						return
					}
					expected = seq
				}
				errs <- nil
			}(st)
		}
		for range nodes {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		wall += time.Since(start)
	}
	b.ReportMetric(float64(per*len(nodes)*b.N)/wall.Seconds(), "events/s")
}

// startBenchCluster runs three JetStream servers routed to each other on loopback
// and returns their client URLs once the cluster has a meta leader.
func startBenchCluster(b *testing.B) []string {
	b.Helper()
	const n = 3
	ports := make([][2]int, n)
	for i := range ports {
		for j := range 2 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ports[i][j] = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p[1])})
	}
	var servers []*server.Server
	for i, p := range ports {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("bench-%d", i), Host: "127.0.0.1", Port: p[0],
			JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: p[1]},
			Routes:  routes,
		})
		if err != nil {
			b.Fatal(err)
		}
		go s.Start()
		servers = append(servers, s)
		b.Cleanup(s.Shutdown)
	}
	var urls []string
	for _, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			b.Fatal("a cluster server did not start")
		}
		urls = append(urls, s.ClientURL())
	}
	deadline := time.Now().Add(30 * time.Second)
	for !servers[0].JetStreamIsClustered() || servers[0].JetStreamIsLeader() == false && servers[1].JetStreamIsLeader() == false && servers[2].JetStreamIsLeader() == false {
		if time.Now().After(deadline) {
			b.Fatal("the cluster elected no meta leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return urls
}

// BenchmarkClusterSignIn measures a password sign-in of a user without a second
// factor (Jellyfin's answer, the decision, its events appended) through a jfguard
// node on one embedded server and through one on a three-server cluster with the
// stream replicated three times, alternating, side by side in one run
// (JFGUARD_BENCH_SIGNINS sign-ins on each).
func BenchmarkClusterSignIn(b *testing.B) {
	n := envInt("JFGUARD_BENCH_SIGNINS", 400)
	one := startGateway(b, gatewayOptions{})
	urls := startBenchCluster(b)
	three := startGateway(b, gatewayOptions{natsURL: strings.Join(urls, ",")})
	for _, g := range []*testGateway{one, three} {
		for k := range 16 {
			g.jf.AddUser(fmt.Sprintf("plain%02d", k), "plain-password", false)
		}
	}
	c := newClient(4)
	lat := map[*testGateway][]time.Duration{}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for i := 0; i < n; i++ {
			for _, g := range []*testGateway{one, three} {
				name := fmt.Sprintf("plain%02d", i%16)
				t0 := time.Now()
				status, body, err := signIn(c, g.url, name, "plain-password", fmt.Sprintf("dev-%d-%d", it, i))
				lat[g] = append(lat[g], time.Since(t0))
				if err != nil || status != http.StatusOK {
					b.Fatalf("sign-in: %d %s %v", status, body, err)
				}
			}
		}
	}
	b.StopTimer()
	for name, g := range map[string]*testGateway{"one-server": one, "cluster-R3": three} {
		b.ReportMetric(us(percentile(lat[g], 0.50)), name+"-p50-µs")
		b.ReportMetric(us(percentile(lat[g], 0.99)), name+"-p99-µs")
	}
	b.ReportMetric(float64(percentile(lat[three], 0.50))/float64(percentile(lat[one], 0.50)), "p50-ratio")
}
