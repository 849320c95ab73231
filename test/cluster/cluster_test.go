//go:build slow

// Package cluster runs jfguard against a three-server NATS cluster: two jfguard nodes
// share the stream, decide concurrently, survive the loss of a NATS server, and keep
// one verifiable audit log. It also injects faults: the NATS cluster disappearing
// under a running jfguard. These suites are slow; run them with
// `go test -tags slow -run Slow ./test/cluster/` (test/run.sh does).
package cluster

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	gateway "github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natsCluster is three JetStream servers routed to each other on loopback.
type natsCluster struct {
	servers []*server.Server
	opts    []*server.Options
}

func startCluster(t *testing.T) *natsCluster {
	t.Helper()
	return startAuthCluster(t, nil)
}

// startAuthCluster starts the cluster with these nkey users as its only clients
// (plus one with every right, for the test's own checks); none means no
// authorization at all.
func startAuthCluster(t *testing.T, users []*server.NkeyUser) *natsCluster {
	t.Helper()
	probe := []nats.Option{}
	if users != nil {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		users = append(users, &server.NkeyUser{Nkey: pub})
		probe = append(probe, nats.Nkey(pub, kp.Sign))
	}
	const n = 3
	clientPorts := make([]int, n)
	routePorts := make([]int, n)
	for i := range clientPorts {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		u, _ := url.Parse(fmt.Sprintf("nats://127.0.0.1:%d", p))
		routes = append(routes, u)
	}
	c := &natsCluster{}
	for i := 0; i < n; i++ {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "jfguard-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  routes,
			Nkeys:   copyUsers(users),
		}
		c.opts = append(c.opts, o)
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatal("NATS server not ready")
		}
	}
	// Wait for a JetStream meta leader.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := false
		for _, s := range c.servers {
			if s.JetStreamIsLeader() {
				ready = true
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no JetStream leader in the cluster")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	// A leader is not enough: wait until a three-replica stream can be placed, i.e.
	// every server has joined the JetStream cluster.
	nc, err := nats.Connect(c.url(0), probe...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: 3})
		cancel()
		if err == nil {
			_ = js.DeleteStream(context.Background(), "PROBE")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster cannot place a three-replica stream: %v", err)
		}
	}
	return c
}

// copyUsers gives each server its own user entries (a server fills them in).
func copyUsers(users []*server.NkeyUser) []*server.NkeyUser {
	var out []*server.NkeyUser
	for _, u := range users {
		c := *u
		out = append(out, &c)
	}
	return out
}

func (c *natsCluster) url(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// startNode is one jfguard process in front of the shared stand-in Jellyfin;
// extra settings go on top (startNodeAs adds an nkey).
func startNode(t *testing.T, upstream, natsURL, apiKey, masterKey string, extra ...string) *cli.Main {
	t.Helper()
	return startLimitedNode(t, upstream, natsURL, apiKey, masterKey, gateway.Limits{}, extra...)
}

func post(t *testing.T, url, auth, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func mb(device, token string) string {
	h := `MediaBrowser Client="cluster-test", Device="test", DeviceId="` + device + `", Version="1"`
	if token != "" {
		h += `, Token="` + token + `"`
	}
	return h
}

// TestSlowClusterTwoNodes: two jfguard nodes on a three-server cluster share one state:
// a user enrolls on node A and is challenged on node B; one code submitted in parallel
// to both nodes verifies once; losing a NATS server loses nothing; both nodes'
// checkpoints verify as one audit log.
func TestSlowClusterTwoNodes(t *testing.T) {
	c := startCluster(t)
	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	jf.AddUser("alice", "alice-pw", false)
	apiKey := jf.CreateAPIKey("jfguard")
	up := httptest.NewServer(jf)
	defer up.Close()
	master := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	a := startNode(t, up.URL, c.url(0)+","+c.url(1), apiKey, master)
	b := startNode(t, up.URL, c.url(2)+","+c.url(1), apiKey, master)

	// Enroll on node A.
	code, _, body := post(t, a.URL()+"/Users/AuthenticateByName", mb("dev-a", ""), `{"Username":"alice","Pw":"alice-pw"}`)
	if code != 200 {
		t.Fatalf("first sign-in: %d %s", code, body)
	}
	var res struct{ AccessToken string }
	json.Unmarshal(body, &res)
	code, _, body = post(t, a.URL()+"/jfguard/api/me/totp", mb("dev-a", res.AccessToken), `{}`)
	if code != 200 {
		t.Fatalf("begin TOTP: %d %s", code, body)
	}
	var key struct{ Secret string }
	json.Unmarshal(body, &key)
	now := time.Now()
	c1, _ := totp.GenerateCodeCustom(key.Secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if code, _, body = post(t, a.URL()+"/jfguard/api/me/totp/confirm", mb("dev-a", res.AccessToken), `{"code":"`+c1+`"}`); code != 200 {
		t.Fatalf("confirm TOTP: %d %s", code, body)
	}

	// Node B knows (the shared stream): alice is challenged there.
	var challenge string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, hdr, _ := post(t, b.URL()+"/Users/AuthenticateByName", mb("dev-b", ""), `{"Username":"alice","Pw":"alice-pw"}`)
		if code == 401 && hdr.Get("X-Jfguard-Challenge") != "" {
			challenge = strings.TrimPrefix(hdr.Get("X-Jfguard-Challenge"), "/jfguard/challenge?c=")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B never saw alice's enrollment (last answer %d)", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// One code, 40 parallel submissions split across both nodes: one wins.
	c2, _ := totp.GenerateCodeCustom(key.Secret, now.Add(30*time.Second), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Skew: 1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := a.URL()
			if i%2 == 1 {
				base = b.URL()
			}
			code, _, _ := post(t, base+"/jfguard/api/challenge/"+challenge+"/verify", "", `{"method":"totp","code":"`+c2+`"}`)
			if code == 200 {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d submissions of one code verified across two nodes, want 1", wins)
	}

	// Lose one NATS server: both nodes keep deciding.
	c.servers[1].Shutdown()
	c.servers[1].WaitForShutdown()
	deadline = time.Now().Add(60 * time.Second)
	for {
		code, _, _ := post(t, b.URL()+"/Users/AuthenticateByName", mb("dev-c", ""), `{"Username":"alice","Pw":"alice-pw"}`)
		code2, _, _ := post(t, a.URL()+"/Users/AuthenticateByName", mb("dev-d", ""), `{"Username":"alice","Pw":"alice-pw"}`)
		if code == 401 && code2 == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after losing a NATS server: node answers %d and %d", code, code2)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// One audit log, checkpoints from whichever node sealed first, both keys trusted.
	ctx := context.Background()
	for _, m := range []*cli.Main{a, b} {
		if code, _, body := post(t, m.URL()+"/jfguard/rpc", "Bearer "+m.AdminToken(), `{"jsonrpc":"2.0","id":1,"method":"audit.checkpoint"}`); code != 200 || strings.Contains(string(body), `"error"`) {
			t.Fatalf("audit.checkpoint: %d %s", code, body)
		}
	}
	keys := []ed25519.PublicKey{}
	for _, m := range []*cli.Main{a, b} {
		_, _, body := post(t, m.URL()+"/jfguard/rpc", "Bearer "+m.AdminToken(), `{"jsonrpc":"2.0","id":1,"method":"audit.public_key"}`)
		var r struct {
			Result struct {
				PublicKey string `json:"public_key"`
			} `json:"result"`
		}
		json.Unmarshal(body, &r)
		k, err := audit.ParsePublicKey(r.Result.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rep, err := audit.Verify(ctx, a.Store(), audit.VerifyOptions{Keys: keys})
	if err != nil || !rep.OK() || !rep.MACsChecked {
		t.Fatalf("audit across nodes: %+v %v", rep, err)
	}

	// Each node wrote events the other folded (A the enrollment, B the challenge):
	// their MACs verify on both (one master key), and neither node refused a single
	// event as forged.
	for name, m := range map[string]*cli.Main{"A": a, "B": b} {
		seen := map[events.Type]bool{}
		if _, err := m.Store().Scan(ctx, 1, func(ev events.Event) error {
			if ev.Auth != events.AuthValid {
				t.Errorf("node %s reads event %d (%s) with a %s MAC", name, ev.Seq, ev.Type, ev.Auth)
			}
			seen[ev.Type] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !seen["totp_enrolled"] || !seen["challenge_issued"] {
			t.Errorf("node %s did not read both nodes' events: %v", name, seen)
		}
	}
	for name, m := range map[string]*cli.Main{"A": a, "B": b} {
		var forged uint64
		m.Projector().Read(func(st *projections.State) { forged = st.ForgedTotal })
		if forged != 0 {
			t.Errorf("node %s refused %d events of the cluster as forged", name, forged)
		}
	}
	t.Logf("cluster audit: %d events, %d checkpoints, %d unsealed", rep.Events, rep.Checkpoints, rep.Unsealed)
}

// TestSlowNATSOutageFailsClosed: when the NATS server under jfguard goes away, a
// sign-in that needs a decision is refused (never let through undecided), readiness
// reports it, and service resumes when NATS is back.
func TestSlowNATSOutageFailsClosed(t *testing.T) {
	port := freePort(t)
	storeDir := t.TempDir()
	startNATS := func() *server.Server {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir, NoSigs: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatal("NATS not ready")
		}
		return s
	}
	ns := startNATS()
	jf := jellyfin.New(jellyfin.Options{})
	jf.AddUser("bob", "bob-pw", false)
	up := httptest.NewServer(jf)
	defer up.Close()
	m := startNodeWithReplicas(t, up.URL, fmt.Sprintf("nats://127.0.0.1:%d", port))
	if code, _, _ := post(t, m.URL()+"/Users/AuthenticateByName", mb("d1", ""), `{"Username":"bob","Pw":"bob-pw"}`); code != 200 {
		t.Fatalf("sign-in with NATS up: %d", code)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	code, _, body := post(t, m.URL()+"/Users/AuthenticateByName", mb("d2", ""), `{"Username":"bob","Pw":"bob-pw"}`)
	if code == 200 {
		t.Fatalf("a sign-in was let through while the event store was down: %s", body)
	}
	resp, err := http.Get(m.URL() + "/jfguard/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with NATS down: %d", resp.StatusCode)
	}
	ns = startNATS()
	defer ns.Shutdown()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, _ := post(t, m.URL()+"/Users/AuthenticateByName", mb("d3", ""), `{"Username":"bob","Pw":"bob-pw"}`)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in did not recover after NATS came back: %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func startNodeWithReplicas(t *testing.T, upstream, natsURL string) *cli.Main {
	t.Helper()
	s, err := cli.LoadSettings("", false, nil, map[string]string{
		"listen": "127.0.0.1:0", "upstream": upstream, "data_dir": t.TempDir(), "nats.url": natsURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := cli.NewMain(r, nil)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
