package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
)

// TestOfflineToolsCheckMACs: an event written into a stopped node's store around
// jfguard (here, security.enabled=false) is named by the offline `audit verify`,
// which fails, and `replay` does not apply it: the offline tools read the store as
// the server does, with the master key in the data directory.
func TestOfflineToolsCheckMACs(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	m := startMain(t, up, dir)
	if code, err := signIn(m.URL(), "alice", "alice-pw", "d1"); err != nil || code != 200 {
		t.Fatalf("sign-in: %d %v", code, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	conn, err := broker.Start(broker.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	ev := events.Must("settings", time.Now(), events.Context{Actor: "admin"}, &events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	data, _ := json.Marshal(ev)
	ack, err := conn.NC.Request(ev.PublishSubject(), data, 5*time.Second)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var pub struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(ack.Data, &pub); err != nil || pub.Seq == 0 {
		t.Fatalf("publish ack %s: %v", ack.Data, err)
	}

	code, out, errOut := runCLI(t, "audit", "verify", "--data-dir", dir)
	if code == 0 || !strings.Contains(out+errOut, fmt.Sprintf("event %d", pub.Seq)) || !strings.Contains(out+errOut, "not written by jfguard") {
		t.Fatalf("verify with a forged event: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "replay", "--data-dir", dir, "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--json")
	var summary struct {
		LastSeq  uint64            `json:"last_sequence"`
		Events   uint64            `json:"events"`
		Settings map[string]string `json:"settings"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &summary) != nil || summary.Settings["security.enabled"] == "false" ||
		summary.LastSeq != pub.Seq || summary.Events != pub.Seq-1 {
		t.Fatalf("replay applied the forged setting: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestOfflineVerifyWithoutTheMasterKeySaysSo: on a copy of the data directory without
// the master key (checked with the public key, as on a forensic machine) the chain
// and checkpoints verify, but no event MAC can be: the command says so and how to
// check them, rather than a bare OK a forged event would also get.
func TestOfflineVerifyWithoutTheMasterKeySaysSo(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	dir := t.TempDir()
	m := startMain(t, up, dir)
	if code, err := signIn(m.URL(), "alice", "alice-pw", "d1"); err != nil || code != 200 {
		t.Fatalf("sign-in: %d %v", code, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	code, pub, errOut := runCLI(t, "audit", "pubkey", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("audit pubkey: exit %d %s", code, errOut)
	}
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"master.key", "audit.key"} {
		if err := os.Remove(filepath.Join(cp, name)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCLI(t, "audit", "verify", "--data-dir", cp, "--pubkey", strings.TrimSpace(strings.Split(pub, "\n")[0]))
	if code != 0 || !strings.Contains(out, "event MACs not checked") || !strings.Contains(out, "master_key_file") ||
		strings.Contains(out, "audit verify: OK\n") {
		t.Fatalf("verify without the master key: exit %d\n%s\n%s", code, out, errOut)
	}
	// With the key, a plain OK.
	code, out, errOut = runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "audit verify: OK\n") || strings.Contains(out, "not checked") {
		t.Fatalf("verify with the master key: exit %d\n%s\n%s", code, out, errOut)
	}
}
