//go:build slow

package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/nats-io/nats-server/v2/server"
)

// TestSlowQuorumLossFailsClosed: a jfguard node whose NATS server loses the other
// two servers of its cluster (no quorum: nothing can be appended) refuses sign-ins
// that need a decision, says so in /jfguard/readyz, and keeps serving the sessions
// it verified before (the token projection is local). When the servers are back it
// signs people in again.
func TestSlowQuorumLossFailsClosed(t *testing.T) {
	c := startCluster(t)
	jf := jellyfin.New(jellyfin.Options{})
	jf.AddUser("bob", "bob-pw", false)
	key := jf.CreateAPIKey("jfguard")
	up := httptest.NewServer(jf)
	defer up.Close()
	// The node knows one server only, so it cannot move to a server with quorum.
	m := startNode(t, up.URL, c.url(0), key, strings.Repeat("ab", 32))

	code, _, body := post(t, m.URL()+"/Users/AuthenticateByName", mb("before", ""), `{"Username":"bob","Pw":"bob-pw"}`)
	if code != 200 {
		t.Fatalf("sign-in with the cluster whole: %d %s", code, body)
	}
	var auth struct{ AccessToken string }
	if err := json.Unmarshal(body, &auth); err != nil || auth.AccessToken == "" {
		t.Fatalf("no token: %s", body)
	}
	if got := getStatus(t, m.URL()+"/Users/Me", mb("before", auth.AccessToken)); got != 200 {
		t.Fatalf("the verified session before the loss: %d", got)
	}

	for _, i := range []int{1, 2} {
		c.servers[i].Shutdown()
		c.servers[i].WaitForShutdown()
	}

	// Bounded: the stream's leader may take a moment to notice it lost its peers.
	var refused bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		code, _, _ := post(t, m.URL()+"/Users/AuthenticateByName", mb("during", ""), `{"Username":"bob","Pw":"bob-pw"}`)
		if code == 200 {
			continue // still a leader with quorum for this append; try again
		}
		refused = true
		break
	}
	if !refused {
		t.Fatal("sign-ins were let through for 30 s without quorum")
	}
	code, ready := readyz(t, m.URL())
	if code != http.StatusServiceUnavailable || !strings.Contains(ready, "event store") {
		t.Errorf("readyz without quorum: %d %s", code, ready)
	}
	if got := getStatus(t, m.URL()+"/Users/Me", mb("before", auth.AccessToken)); got != 200 {
		t.Errorf("the session verified before the loss gets %d without quorum, want 200", got)
	}

	for _, i := range []int{1, 2} {
		s, err := server.NewServer(c.opts[i])
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatal("a NATS server did not come back")
		}
		c.servers[i] = s
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, _, _ := post(t, m.URL()+"/Users/AuthenticateByName", mb(fmt.Sprint("after", time.Now().UnixNano()), ""), `{"Username":"bob","Pw":"bob-pw"}`)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-ins did not come back with quorum: %d", code)
		}
	}
	if code, ready := readyz(t, m.URL()); code != 200 {
		t.Errorf("readyz with quorum back: %d %s", code, ready)
	}
}

func getStatus(t *testing.T, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/jfguard/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
