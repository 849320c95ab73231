package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// TestDoctorFindsAnUpstreamThatIsNotJellyfin: a server that answers
// /System/Info/Public as another product, or with a web page, fails the upstream
// line, and the Jellyfin checks after it are not run.
func TestDoctorFindsAnUpstreamThatIsNotJellyfin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, contentType, body, want string
	}{
		{"another media server", "application/json", `{"ProductName":"Emby Server","Version":"4.8.0"}`, `is not Jellyfin (product "Emby Server")`},
		{"a web page", "text/html", "<html><body>Welcome to nginx!</body></html>", "not Jellyfin's JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(other.Close)
			run := runDoctor(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--upstream", other.URL)
			run.failsOn(t, "upstream")
			if !strings.Contains(run.out, tc.want) {
				t.Fatalf("the upstream line does not say %q:\n%s", tc.want, run.out)
			}
			for _, name := range []string{"clock", "api_key", "quick_connect"} {
				run.expect(t, name, "!")
			}
		})
	}
}

// TestDoctorFindsAUserTokenForTheAPIKey: a user's access token given as the admin
// API key is valid but not an administrator's: Jellyfin answers 403 and the
// api_key line fails saying so.
func TestDoctorFindsAUserTokenForTheAPIKey(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	req, _ := http.NewRequest(http.MethodPost, up+"/Users/AuthenticateByName", strings.NewReader(`{"Username":"alice","Pw":"alice-pw"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", `MediaBrowser Client="test", Device="cli", DeviceId="doctor-403", Version="1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var auth struct{ AccessToken string }
	err = json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	if err != nil || auth.AccessToken == "" {
		t.Fatalf("alice's sign-in at the stand-in: %d %v", resp.StatusCode, err)
	}
	keyFile := filepath.Join(t.TempDir(), "api_key")
	if err := os.WriteFile(keyFile, []byte(auth.AccessToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := runDoctor(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--upstream", up, "--set", "jellyfin.api_key_file="+keyFile)
	run.failsOn(t, "api_key")
	if !strings.Contains(run.out, "not an administrator's (403)") {
		t.Fatalf("the api_key line does not name the 403:\n%s", run.out)
	}
}

// TestDoctorFindsPasskeySettingsThatDoNotMatch: public_url outside
// webauthn.origins is a webauthn warning (passkeys do not work at the address
// users open), and an origin that is not on webauthn.rp_id fails the settings,
// as serve refuses to start on it.
func TestDoctorFindsPasskeySettingsThatDoNotMatch(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	base := []string{"--data-dir", filepath.Join(t.TempDir(), "data"), "--upstream", up, "--set", "jellyfin.api_key_file=" + keyFile}

	elsewhere := runDoctor(t, append(base, "--public-url", "https://media.example.org",
		"--set", "webauthn.rp_id=jellyfin.example.com", "--set", "webauthn.origins=https://jellyfin.example.com")...)
	elsewhere.noFailures(t)
	elsewhere.expect(t, "webauthn", "!")
	if !strings.Contains(elsewhere.out, "passkeys do not work at that address") {
		t.Fatalf("the webauthn line does not say passkeys fail at public_url:\n%s", elsewhere.out)
	}

	offDomain := runDoctor(t, append(base, "--public-url", "https://jellyfin.example.com",
		"--set", "webauthn.rp_id=jellyfin.example.com", "--set", "webauthn.origins=https://media.example.org")...)
	offDomain.failsOn(t, "settings")
	if !strings.Contains(offDomain.out, "webauthn.origins") {
		t.Fatalf("the settings line does not name webauthn.origins:\n%s", offDomain.out)
	}
}

// TestDoctorDiskThresholds: the disk line fails below the failure threshold and
// warns below the warning one (thresholds raised past any disk's size here, so
// no disk is filled), and passes otherwise.
func TestDoctorDiskThresholds(t *testing.T) {
	t.Parallel()
	r := &Resolved{Settings: &Settings{DataDir: t.TempDir()}}
	for _, tc := range []struct {
		name           string
		failBelow      uint64
		warnBelow      uint64
		want           string
		wantInMessage  string
		wantFixMention string
	}{
		{"below the failure threshold", math.MaxUint64, math.MaxUint64, checkFail, "JetStream stops accepting events", "free space"},
		{"below the warning threshold", 0, math.MaxUint64, checkWarn, "free of", "free space"},
		{"enough", 0, 0, checkOK, "free of", ""},
	} {
		d := newDoctor(time.Now)
		d.diskFailBelow, d.diskWarnBelow, d.diskWarnPart = tc.failBelow, tc.warnBelow, 0
		d.disk(r)
		rep := d.report()
		if len(rep.Checks) != 1 || rep.Checks[0].Status != tc.want || !strings.Contains(rep.Checks[0].Message, tc.wantInMessage) ||
			!strings.Contains(rep.Checks[0].Fix, tc.wantFixMention) {
			t.Errorf("%s: %+v; want %s mentioning %q", tc.name, rep.Checks, tc.want, tc.wantInMessage)
		}
		if rep.OK != (tc.want != checkFail) {
			t.Errorf("%s: report OK = %v", tc.name, rep.OK)
		}
	}
}

// TestDoctorFindsAnUnreachableNATSServer: with nats.url at an address nothing
// listens on, the nats line fails with the fix, and the store checks are skipped.
func TestDoctorFindsAnUnreachableNATSServer(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "nats://" + ln.Addr().String()
	ln.Close()
	run := runDoctor(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--upstream", up,
		"--set", "jellyfin.api_key_file="+keyFile, "--set", "nats.url="+closed)
	run.failsOn(t, "nats")
	if !strings.Contains(run.out, "cannot use the NATS server at "+closed) {
		t.Fatalf("the nats line does not name the server:\n%s", run.out)
	}
	for _, name := range []string{"buckets", "permissions", "streams", "audit"} {
		run.expect(t, name, "!")
	}
}

// natsUsers runs a NATS server with JetStream on loopback with two nkey users:
// one with the rights docs/operations.md gives jfguard's user (External NATS
// server or cluster), and one that may call the JetStream API and receive its
// answers but publish nothing else — a user set up for reading only. It returns
// the server's URL and the two users' seed files.
func natsUsers(t *testing.T) (url, full, readOnly string) {
	t.Helper()
	user := func(perms *server.Permissions) (*server.NkeyUser, string) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		file := filepath.Join(t.TempDir(), "user.nk")
		if err := os.WriteFile(file, append(seed, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		return &server.NkeyUser{Nkey: pub, Permissions: perms}, file
	}
	fullUser, full := user(&server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"jfguard.>", "$JS.API.>", "$JS.ACK.>", "$KV.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	})
	readUser, readOnly := user(&server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	})
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Nkeys: []*server.NkeyUser{fullUser, readUser},
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL(), full, readOnly
}

// TestDoctorChecksNATSPermissions: on an external NATS server, the user jfguard
// ran with, holding the rights the guide lists, passes the buckets and
// permissions lines, and the store is left as it was (the probes are not
// stored); a user that may read the streams but publish nowhere jfguard writes
// fails the permissions line, naming the subjects.
func TestDoctorChecksNATSPermissions(t *testing.T) {
	t.Parallel()
	url, full, readOnly := natsUsers(t)
	_, up, keyFile := healthyJellyfin(t)
	dir := filepath.Join(t.TempDir(), "data")
	m := startDoctorMain(t, up, keyFile, dir, map[string]string{"nats.url": url, "nats.nkey_file": full})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	before := streamCounts(t, url, full)
	args := func(seed string) []string {
		return []string{"--data-dir", dir, "--upstream", up, "--set", "jellyfin.api_key_file=" + keyFile, "--set", "nats.url=" + url, "--set", "nats.nkey_file=" + seed}
	}

	ok := runDoctor(t, args(full)...)
	ok.noFailures(t)
	for _, name := range []string{"nats", "buckets", "permissions", "streams", "audit"} {
		ok.expect(t, name, "✓")
	}

	denied := runDoctor(t, args(readOnly)...)
	denied.failsOn(t, "permissions")
	denied.expect(t, "buckets", "✓")
	denied.expect(t, "streams", "✓")
	for _, subject := range []string{"jfguard.events.", "jfguard.audit.checkpoint", "jfguard.keys.", "$KV.JFGUARD_TURNS."} {
		if !strings.Contains(denied.out, "refuses jfguard's publish to "+subject) {
			t.Errorf("the permissions lines do not name %s:\n%s", subject, denied.out)
		}
	}
	if after := streamCounts(t, url, full); !maps.Equal(before, after) {
		t.Errorf("the doctor changed the store: messages by stream %v before, %v after", before, after)
	}

	// More replicas asked than the buckets have, and a bucket gone: warnings
	// (jfguard corrects both at start), and the missing bucket is not probed.
	js := jetStreamAs(t, url, full)
	if err := js.DeleteKeyValue(t.Context(), "JFGUARD_TURNS"); err != nil {
		t.Fatal(err)
	}
	changed := runDoctor(t, append(args(full), "--set", "nats.replicas=3")...)
	changed.noFailures(t)
	changed.expect(t, "buckets", "!")
	changed.expect(t, "permissions", "✓")
	for _, want := range []string{"JFGUARD_TURNS does not exist", "JFGUARD_LIMITS has 1 replica(s), nats.replicas is 3"} {
		if !strings.Contains(changed.out, want) {
			t.Errorf("the buckets lines do not say %q:\n%s", want, changed.out)
		}
	}
}

// jetStreamAs connects to the server as the user of seedFile.
func jetStreamAs(t *testing.T, url, seedFile string) jetstream.JetStream {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamCounts is how many messages, and the last sequence, each stream of the
// server holds.
func streamCounts(t *testing.T, url, seedFile string) map[string][2]uint64 {
	t.Helper()
	js := jetStreamAs(t, url, seedFile)
	counts := map[string][2]uint64{}
	names := js.ListStreams(t.Context())
	for info := range names.Info() {
		counts[info.Config.Name] = [2]uint64{info.State.Msgs, info.State.LastSeq}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if len(counts) < 8 {
		t.Fatalf("%d streams on the server, want jfguard's 3 streams and 5 buckets: %v", len(counts), counts)
	}
	return counts
}
