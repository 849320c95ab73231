//go:build slow

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	gateway "github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// lbLimits are the second-factor limits of every node in the load-balanced cluster:
// small, and with hour-long windows, so no token refills while a test counts.
var lbLimits = gateway.Limits{VerifyPerIP: 8, VerifyIPWindow: time.Hour, VerifyPerUser: 12, VerifyUserWindow: time.Hour}

// lbSettings are the nodes' settings on top of startNode's: passkeys for
// http://localhost; the balancer (and the test, speaking for clients) on 127.0.0.1
// trusted for X-Forwarded-For, as docs/operations.md's nginx section says; lockout
// and burn thresholds out of the way, so only the rate limits refuse wrong codes.
var lbSettings = []string{
	"webauthn.rp_id", passkeyRPID, "webauthn.origins", passkeyOrigin,
	"security.trust_forwarded_for", "true", "security.trusted_proxies", "127.0.0.1",
	"security.lockout_threshold", "100", "security.challenge_max_failures", "100",
}

// startLimitedNode is startNode with the gateway's second-factor limits set.
func startLimitedNode(t *testing.T, upstream, natsURL, apiKey, masterKey string, limits gateway.Limits, extra ...string) *cli.Main {
	t.Helper()
	settings := map[string]string{
		"listen": "127.0.0.1:0", "upstream": upstream, "data_dir": t.TempDir(),
		"nats.url": natsURL, "nats.replicas": "3", "jellyfin.api_key": apiKey, "master_key": masterKey,
		"audit.checkpoint_interval": "1s",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		settings[extra[i]] = extra[i+1]
	}
	s, err := cli.LoadSettings("", false, nil, settings)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := cli.NewMain(r, nil)
	m.Limits = limits
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// urls is the cluster's client URLs, server i's first.
func (c *natsCluster) urls(i int) string {
	var out []string
	for j := range c.servers {
		out = append(out, c.url((i+j)%len(c.servers)))
	}
	return strings.Join(out, ",")
}

// TestSlowLoadBalancedCluster: three jfguard nodes on a three-server NATS cluster,
// behind nginx spreading requests round robin with nothing sticky, are exactly as
// strict as one node. A passkey ceremony begun on one node finishes on another (to
// register a passkey, to answer a challenge, to sign in without a password); wrong
// codes spread over all nodes stop at one node's limit, per address and per user;
// a ban made on one node is refused by the others.
func TestSlowLoadBalancedCluster(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		skipOrFail(t, "nginx is not installed: install the Debian package nginx to run the load-balanced cluster tests")
	}
	c := startCluster(t)
	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	alice := jf.AddUser("alice", "alice-pw", false)
	jf.AddUser("carol", "carol-pw", false)
	jf.AddUser("dave", "dave-pw", false)
	jf.AddUser("erin", "erin-pw", false)
	apiKey := jf.CreateAPIKey("jfguard")
	up := httptest.NewServer(jf)
	defer up.Close()
	master := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	var nodes []*cli.Main
	var addrs []string
	for i := range 3 {
		m := startLimitedNode(t, up.URL, c.urls(i), apiKey, master, lbLimits, lbSettings...)
		nodes = append(nodes, m)
		addrs = append(addrs, strings.TrimPrefix(m.URL(), "http://"))
	}
	lb := startBalancer(t, addrs)

	// Round robin reaches every node.
	served := map[string]int{}
	for range 9 {
		r := must(t, http.DefaultClient, http.MethodGet, lb.url+"/System/Info/Public", nil)
		if r.status != http.StatusOK {
			t.Fatalf("through the balancer: %d %s", r.status, r.body)
		}
		served[r.node()]++
	}
	for _, a := range addrs {
		if served[a] == 0 {
			t.Fatalf("round robin served %v: node %s got none of nine requests", served, a)
		}
	}
	t.Logf("round robin over nine requests: %v", served)

	t.Run("passkey ceremonies across nodes", func(t *testing.T) {
		passkeyAcrossNodes(t, nodes, alice)
	})
	t.Run("wrong codes from one address", func(t *testing.T) {
		secret := enrollTOTP(t, nodes[0].URL(), "carol", "carol-pw", "203.0.113.20")
		id := challengeKnownEverywhere(t, nodes, "carol", "carol-pw", "203.0.113.20")
		client := clientFrom("127.0.0.4")
		checked := countUntilLimited(t, lb, id, secret, func(int) *http.Client { return client })
		if checked != lbLimits.VerifyPerIP {
			t.Errorf("%d wrong codes from one address were checked across three nodes before the first 429; want %d, the limit of one node", checked, lbLimits.VerifyPerIP)
		}
	})
	t.Run("wrong codes for one user", func(t *testing.T) {
		secret := enrollTOTP(t, nodes[0].URL(), "dave", "dave-pw", "203.0.113.30")
		id := challengeKnownEverywhere(t, nodes, "dave", "dave-pw", "203.0.113.30")
		// Each attempt from an address of its own: only the user's limit can bind.
		checked := countUntilLimited(t, lb, id, secret, func(i int) *http.Client { return clientFrom(fmt.Sprintf("127.0.1.%d", i+1)) })
		if checked != lbLimits.VerifyPerUser {
			t.Errorf("%d wrong codes for one user, each from its own address, were checked across three nodes before the first 429; want %d, the limit of one node", checked, lbLimits.VerifyPerUser)
		}
	})
	t.Run("ban made on one node", func(t *testing.T) {
		banAcrossNodes(t, lb, nodes)
	})
	t.Run("quick connect across nodes", func(t *testing.T) {
		quickConnectAcrossNodes(t, nodes)
	})
}

// quickConnectAcrossNodes: erin, who uses an authenticator app, approves a TV's
// Quick Connect code from her phone; the three requests land on three nodes
// (Initiate on A, Authorize on B, Authenticate on C) and the TV is let in. With the
// exchange in each node's memory, C knew of no approval and refused the TV.
func quickConnectAcrossNodes(t *testing.T, nodes []*cli.Main) {
	a, b, c := nodes[0].URL(), nodes[1].URL(), nodes[2].URL()
	from := []string{"X-Forwarded-For", "203.0.113.40"}
	r := must(t, http.DefaultClient, http.MethodPost, a+"/Users/AuthenticateByName", `{"Username":"erin","Pw":"erin-pw"}`, append([]string{"Authorization", mb("erin-phone", "")}, from...)...)
	var phone struct{ AccessToken string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &phone) != nil || phone.AccessToken == "" {
		t.Fatalf("erin's sign-in on A: %d %s", r.status, r.body)
	}
	session := append([]string{"Authorization", mb("erin-phone", phone.AccessToken)}, from...)
	r = must(t, http.DefaultClient, http.MethodPost, a+"/jfguard/api/me/totp", `{}`, session...)
	var key struct{ Secret string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &key) != nil || key.Secret == "" {
		t.Fatalf("begin erin's TOTP: %d %s", r.status, r.body)
	}
	if r = must(t, http.DefaultClient, http.MethodPost, a+"/jfguard/api/me/totp/confirm", map[string]string{"code": totpCode(t, key.Secret, time.Now())}, session...); r.status != http.StatusOK {
		t.Fatalf("confirm erin's TOTP: %d %s", r.status, r.body)
	}
	// The phone proves the factor again (the next step's code), on B.
	eventually(t, 10*time.Second, "erin's step-up on B", func() bool {
		r = must(t, http.DefaultClient, http.MethodPost, b+"/jfguard/api/me/step-up", map[string]string{"method": "totp", "code": totpCode(t, key.Secret, time.Now().Add(30*time.Second))}, session...)
		return r.status == http.StatusOK
	})
	const tv = `MediaBrowser Client="Jellyfin for Android TV", Device="SHIELD", DeviceId="tv-lb", Version="0.18.0"`
	r = must(t, http.DefaultClient, http.MethodPost, a+"/QuickConnect/Initiate", nil, append([]string{"Authorization", tv}, from...)...)
	var qc struct{ Secret, Code string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &qc) != nil || qc.Code == "" {
		t.Fatalf("Initiate on A: %d %s", r.status, r.body)
	}
	if r = must(t, http.DefaultClient, http.MethodPost, b+"/QuickConnect/Authorize?code="+qc.Code, nil, session...); r.status != http.StatusOK {
		t.Fatalf("Authorize on B: %d %s", r.status, r.body)
	}
	r = must(t, http.DefaultClient, http.MethodPost, c+"/Users/AuthenticateWithQuickConnect", map[string]string{"Secret": qc.Secret}, append([]string{"Authorization", tv}, from...)...)
	var tvAuth struct{ AccessToken string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tvAuth) != nil || tvAuth.AccessToken == "" {
		t.Fatalf("AuthenticateWithQuickConnect on C: %d %s; want the TV let in", r.status, r.body)
	}
	if got := getStatus(t, a+"/Users/Me", tv+`, Token="`+tvAuth.AccessToken+`"`); got != http.StatusOK {
		t.Errorf("the TV's token on A: %d", got)
	}
}

// passkeyAcrossNodes has alice register a passkey, answer a challenge with it and
// sign in with it alone, each ceremony begun on one node and finished on another
// (node URLs, not the balancer, so the nodes differ for sure).
func passkeyAcrossNodes(t *testing.T, nodes []*cli.Main, alice jellyfin.User) {
	a, b, c := nodes[0].URL(), nodes[1].URL(), nodes[2].URL()
	from := []string{"X-Forwarded-For", "203.0.113.10"}
	cl := http.DefaultClient

	r := must(t, cl, http.MethodPost, a+"/Users/AuthenticateByName", `{"Username":"alice","Pw":"alice-pw"}`, append([]string{"Authorization", mb("alice-setup", "")}, from...)...)
	var signedIn struct{ AccessToken string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &signedIn) != nil || signedIn.AccessToken == "" {
		t.Fatalf("alice's sign-in on node A: %d %s", r.status, r.body)
	}
	session := append([]string{"Authorization", mb("alice-setup", signedIn.AccessToken)}, from...)
	eventually(t, 30*time.Second, "node B knows alice's session", func() bool {
		r, err := send(cl, http.MethodGet, b+"/jfguard/api/me", nil, session...)
		return err == nil && r.status == http.StatusOK
	})

	// Registration: begun on A, finished on B.
	register := func(begin, finish string) (*softKey, reply) {
		t.Helper()
		var cer ceremony
		r := must(t, cl, http.MethodPost, begin+"/jfguard/api/me/passkeys/register", `{}`, session...)
		if r.status != http.StatusOK || json.Unmarshal(r.body, &cer) != nil {
			t.Fatalf("begin a passkey registration: %d %s", r.status, r.body)
		}
		k, cred := softCreate(t, cer.PublicKey)
		return k, must(t, cl, http.MethodPost, finish+"/jfguard/api/me/passkeys",
			map[string]any{"ceremony": cer.ID, "label": "cluster key", "credential": json.RawMessage(cred)}, session...)
	}
	key, r := register(a, b)
	if r.status != http.StatusOK {
		t.Errorf("passkey registration begun on node A and finished on node B: %d %s", r.status, r.body)
		// The other ceremonies are checked all the same, with a passkey registered on
		// one node.
		if key, r = register(a, a); r.status != http.StatusOK {
			t.Fatalf("passkey registration on node A alone: %d %s", r.status, r.body)
		}
	}

	// A second factor: the challenge's ceremony begun on A, answered on B.
	id := challengeKnownEverywhere(t, nodes, "alice", "alice-pw", "203.0.113.10")
	var cer ceremony
	r = must(t, cl, http.MethodPost, a+"/jfguard/api/challenge/"+id+"/passkey", `{}`, from...)
	if r.status != http.StatusOK || json.Unmarshal(r.body, &cer) != nil {
		t.Fatalf("begin the challenge's passkey ceremony on node A: %d %s", r.status, r.body)
	}
	r = must(t, cl, http.MethodPost, b+"/jfguard/api/challenge/"+id+"/verify",
		map[string]any{"method": "passkey", "ceremony": cer.ID, "credential": json.RawMessage(softGet(t, cer.PublicKey, key, 1))}, from...)
	var verified struct {
		Auth struct{ AccessToken string } `json:"auth"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &verified) != nil || verified.Auth.AccessToken == "" {
		t.Errorf("challenge answered with a passkey, ceremony begun on node A, answer on node B: %d %s", r.status, r.body)
	}

	// Passwordless: begun on B (the ceremony's id in a cookie), finished on C.
	r = must(t, cl, http.MethodPost, b+"/jfguard/api/passkey/begin", `{}`, from...)
	var opts struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	cookies := (&http.Response{Header: r.header}).Cookies()
	if r.status != http.StatusOK || json.Unmarshal(r.body, &opts) != nil || len(cookies) == 0 {
		t.Fatalf("begin a passkey sign-in on node B: %d %s", r.status, r.body)
	}
	header := append([]string{"Authorization", mb("alice-passkey", "")}, from...)
	for _, ck := range cookies {
		header = append(header, "Cookie", ck.Name+"="+ck.Value)
	}
	r = must(t, cl, http.MethodPost, c+"/jfguard/api/passkey/finish", softGet(t, opts.PublicKey, key, 2), header...)
	var done struct {
		Auth struct {
			AccessToken string
			User        struct{ ID string }
		} `json:"auth"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &done) != nil || done.Auth.User.ID != alice.ID {
		t.Errorf("passkey sign-in begun on node B, finished on node C: %d %s", r.status, r.body)
	}
}

// enrollTOTP signs a user in on one node, from an address, and adds an
// authenticator app; it returns the app's secret.
func enrollTOTP(t *testing.T, node, user, password, from string) string {
	t.Helper()
	r := must(t, http.DefaultClient, http.MethodPost, node+"/Users/AuthenticateByName", map[string]string{"Username": user, "Pw": password},
		"Authorization", mb(user+"-setup", ""), "X-Forwarded-For", from)
	var res struct{ AccessToken string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &res) != nil {
		t.Fatalf("%s's first sign-in: %d %s", user, r.status, r.body)
	}
	session := []string{"Authorization", mb(user+"-setup", res.AccessToken), "X-Forwarded-For", from}
	r = must(t, http.DefaultClient, http.MethodPost, node+"/jfguard/api/me/totp", `{}`, session...)
	var key struct{ Secret string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &key) != nil || key.Secret == "" {
		t.Fatalf("begin %s's TOTP: %d %s", user, r.status, r.body)
	}
	if r = must(t, http.DefaultClient, http.MethodPost, node+"/jfguard/api/me/totp/confirm", map[string]string{"code": totpCode(t, key.Secret, time.Now())}, session...); r.status != http.StatusOK {
		t.Fatalf("confirm %s's TOTP: %d %s", user, r.status, r.body)
	}
	return key.Secret
}

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongCode is six digits that are none of the codes of the steps around now.
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	var near []string
	for step := -3; step <= 3; step++ {
		near = append(near, totpCode(t, secret, time.Now().Add(time.Duration(step)*30*time.Second)))
	}
	for n := 0; ; n++ {
		code := fmt.Sprintf("%06d", (n*7919+123457)%1000000)
		if !slices.Contains(near, code) {
			return code
		}
	}
}

// challengeKnownEverywhere signs a user with a second factor in with the password on
// the last node until it is challenged (the node learns of the factor from the
// stream), and waits until every node knows the challenge.
func challengeKnownEverywhere(t *testing.T, nodes []*cli.Main, user, password, from string) string {
	t.Helper()
	var id string
	last := nodes[len(nodes)-1].URL()
	eventually(t, 30*time.Second, "the last node challenges "+user, func() bool {
		r, err := send(http.DefaultClient, http.MethodPost, last+"/Users/AuthenticateByName", map[string]string{"Username": user, "Pw": password},
			"Authorization", mb(user+"-challenged", ""), "X-Forwarded-For", from)
		var body struct {
			Jfguard struct{ Challenge string } `json:"jfguard"`
		}
		if err != nil || r.status != http.StatusUnauthorized || json.Unmarshal(r.body, &body) != nil {
			return false
		}
		id = body.Jfguard.Challenge
		return id != ""
	})
	for i, m := range nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d knows %s's challenge", i, user), func() bool {
			r, err := send(http.DefaultClient, http.MethodGet, m.URL()+"/jfguard/api/challenge/"+id, nil, "X-Forwarded-For", from)
			return err == nil && r.status == http.StatusOK
		})
	}
	return id
}

// countUntilLimited sends wrong codes for a challenge through the balancer, attempt
// i with client(i), and returns how many were checked (401 invalid_code) before the
// first 429 rate_limited. It checks round robin spread the checked attempts over
// every node and that, once limited, every node refuses.
func countUntilLimited(t *testing.T, lb *balancer, id, secret string, client func(int) *http.Client) int {
	t.Helper()
	url := lb.url + "/jfguard/api/challenge/" + id + "/verify"
	served := map[string]int{}
	checked, limitedOn := 0, ""
	for i := 0; i < 3*max(lbLimits.VerifyPerIP, lbLimits.VerifyPerUser)+3 && limitedOn == ""; i++ {
		r := must(t, client(i), http.MethodPost, url, map[string]string{"method": "totp", "code": wrongCode(t, secret)})
		switch {
		case r.status == http.StatusTooManyRequests && r.errorCode() == "rate_limited":
			limitedOn = r.node()
		case r.status == http.StatusUnauthorized && r.errorCode() == "invalid_code":
			checked++
			served[r.node()]++
		default:
			t.Fatalf("wrong code %d through the balancer (node %s): %d %s", i+1, r.node(), r.status, r.body)
		}
	}
	t.Logf("%d wrong codes checked before the first 429 (on %s), by node: %v", checked, limitedOn, served)
	if limitedOn == "" {
		return checked
	}
	if len(served) < 3 && checked >= 3 {
		t.Errorf("round robin spread %d attempts over %d nodes only: %v", checked, len(served), served)
	}
	// Limited on one node, limited on all: the next three land on three nodes.
	refusedBy := map[string]bool{}
	for i := range 3 {
		r := must(t, client(checked+1+i), http.MethodPost, url, map[string]string{"method": "totp", "code": wrongCode(t, secret)})
		if r.status != http.StatusTooManyRequests {
			t.Errorf("after the limit, node %s answered %d %s; want 429", r.node(), r.status, r.body)
		}
		refusedBy[r.node()] = true
	}
	if len(refusedBy) != 3 {
		t.Errorf("three attempts after the limit reached nodes %v; want all three", refusedBy)
	}
	return checked
}

// banAcrossNodes bans an address on node A and waits, in a bounded loop, until the
// other nodes refuse it; the delay is logged, not asserted.
func banAcrossNodes(t *testing.T, lb *balancer, nodes []*cli.Main) {
	const banned = "127.0.0.5"
	cl := clientFrom(banned)
	for i, m := range nodes {
		// Directly: the node sees the address as its peer.
		if r := must(t, cl, http.MethodGet, m.URL()+"/System/Info/Public", nil); r.status != http.StatusOK {
			t.Fatalf("node %d before the ban: %d %s", i, r.status, r.body)
		}
	}
	a := nodes[0]
	rpcCall(t, a.URL(), a.AdminToken(), "bans.add", map[string]string{"ip": banned, "duration": "1h", "reason": "cluster test"}, nil)
	at := time.Now()
	for i, m := range nodes[1:] {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d refuses %s banned on node 0", i+1, banned), func() bool {
			r, err := send(cl, http.MethodGet, m.URL()+"/System/Info/Public", nil)
			return err == nil && r.status == http.StatusForbidden
		})
		t.Logf("node %d refuses the address %s after the ban on node 0", i+1, time.Since(at).Round(100*time.Microsecond))
	}
	for range 3 {
		if r := must(t, cl, http.MethodGet, lb.url+"/System/Info/Public", nil); r.status != http.StatusForbidden {
			t.Errorf("through the balancer, node %s answered the banned address %d", r.node(), r.status)
		}
	}
	// Another address still passes.
	if r := must(t, clientFrom("127.0.0.6"), http.MethodGet, lb.url+"/System/Info/Public", nil); r.status != http.StatusOK {
		t.Errorf("an address nobody banned, node %s: %d", r.node(), r.status)
	}
}
