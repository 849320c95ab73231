package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// TestBusSettingsErrorsNameKeyValueAndFix: the bus settings (nkey, TLS files, the
// auditor token) are checked at start like every other setting, from the file, the
// environment or a flag.
func TestBusSettingsErrorsNameKeyValueAndFix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certs := newTestCerts(t)
	account, _ := nkeys.CreateAccount()
	accountSeed, _ := account.Seed()
	notSeed := writeFile(t, dir, "account.nk", string(accountSeed)+"\n")
	garbage := writeFile(t, dir, "garbage.nk", "hello\n")
	notPEM := writeFile(t, dir, "ca.txt", "not a certificate\n")
	cases := []struct {
		name string
		env  []string
		set  map[string]string
		want []string
	}{
		{"an account seed is not a user's", nil, map[string]string{"nats.url": "nats://127.0.0.1:4222", "nats.nkey_file": notSeed},
			[]string{"nats.nkey_file", notSeed, "not a NATS user nkey seed", "starting with SU"}},
		{"garbage seed from the environment", []string{"JFGUARD_NATS_URL=nats://127.0.0.1:4222", "JFGUARD_NATS_NKEY_FILE=" + garbage}, nil,
			[]string{"nats.nkey_file", garbage, "starting with SU"}},
		{"nkey and creds together", nil, map[string]string{"nats.url": "nats://127.0.0.1:4222", "nats.nkey_file": writeSeed(t, dir), "nats.creds_file": garbage},
			[]string{"nats.creds_file is set too", "one of them"}},
		{"unreadable CA", nil, map[string]string{"nats.url": "tls://127.0.0.1:4222", "nats.tls.ca_file": dir + "/missing.pem"},
			[]string{"nats.tls.ca_file", dir + "/missing.pem", "cannot be read", "readable PEM file"}},
		{"CA without a certificate", nil, map[string]string{"nats.url": "tls://127.0.0.1:4222", "nats.tls.ca_file": notPEM},
			[]string{"nats.tls.ca_file", notPEM, "no PEM certificate"}},
		{"certificate without key", []string{"JFGUARD_NATS_TLS_CERT_FILE=" + certs.ClientCert}, map[string]string{"nats.url": "tls://127.0.0.1:4222"},
			[]string{"nats.tls.cert_file", certs.ClientCert, "go together", "set both"}},
		{"certificate with someone else's key", nil, map[string]string{"nats.listen": "0.0.0.0:4222", "nats.tls.cert_file": certs.ServerCert, "nats.tls.key_file": certs.ClientKey},
			[]string{"nats.tls.cert_file", certs.ServerCert, "its own PEM private key"}},
		{"embedded server with a CA only", nil, map[string]string{"nats.listen": "0.0.0.0:4222", "nats.tls.ca_file": certs.CA},
			[]string{"nats.tls.ca_file", certs.CA, "set nats.tls.cert_file and nats.tls.key_file too"}},
		{"auditor token equal to the admin token", []string{"JFGUARD_ADMIN_TOKEN_FILE=" + garbage, "JFGUARD_AUDITOR_TOKEN_FILE=" + garbage}, nil,
			[]string{"auditor_token", "the same as admin_token", "its own token"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := map[string]string{"data_dir": dir}
			for k, v := range tc.set {
				set[k] = v
			}
			s, err := LoadSettings("", false, tc.env, set)
			if err == nil {
				_, err = s.Resolve()
			}
			var ce ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("want settings errors, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func writeSeed(t *testing.T, dir string) string {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	return writeFile(t, dir, "user.nk", string(seed)+"\n")
}

// TestBusWarningWhenReachableInClear: an embedded NATS port open to other machines
// without TLS is warned about at start and in readyz's details; loopback, or TLS,
// silences it.
func TestBusWarningWhenReachableInClear(t *testing.T) {
	t.Parallel()
	certs := newTestCerts(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		set  map[string]string
		warn bool
	}{
		{map[string]string{"nats.listen": "0.0.0.0:4222"}, true},
		{map[string]string{"nats.listen": ":4222"}, true},
		{map[string]string{"nats.listen": "192.168.1.10:4222"}, true},
		{map[string]string{"nats.listen": "[::]:4222"}, true},
		{map[string]string{"nats.listen": "nats.example.com:4222"}, true},
		{map[string]string{"nats.listen": "127.0.0.1:4222"}, false},
		{map[string]string{"nats.listen": "localhost:4222"}, false},
		{map[string]string{"nats.listen": "[::1]:4222"}, false},
		{map[string]string{"nats.listen": "0.0.0.0:4222", "nats.tls.cert_file": certs.ServerCert, "nats.tls.key_file": certs.ServerKey}, false},
		{map[string]string{}, false},
	} {
		set := map[string]string{"data_dir": dir}
		for k, v := range tc.set {
			set[k] = v
		}
		s, err := LoadSettings("", false, nil, set)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		logged := false
		for _, w := range r.Warnings {
			logged = logged || strings.Contains(w, "without TLS")
		}
		if logged != tc.warn || (len(r.BusWarnings) > 0) != tc.warn {
			t.Errorf("%v: warnings %q, readyz warnings %q; want a warning: %v", tc.set, r.Warnings, r.BusWarnings, tc.warn)
		}
	}
}

// TestBusWarningForExternalServerInClear: an external NATS server on another
// machine reached without insisting on TLS is warned about, at start and in
// readyz's details (as above); tls://, nats.tls.* or loopback silence it, and a
// password in the URL is not repeated.
func TestBusWarningForExternalServerInClear(t *testing.T) {
	t.Parallel()
	certs := newTestCerts(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		url  string
		set  map[string]string
		warn bool
	}{
		{"nats://10.0.0.5:4222", nil, true},
		{"10.0.0.5:4222", nil, true},
		{"ws://nats.example.com:8080", nil, true},
		{"nats://127.0.0.1:4222, nats://jf:s3cret@nats.example.com:4222", nil, true},
		{"tls://10.0.0.5:4222", nil, false},
		{"wss://nats.example.com", nil, false},
		{"nats://127.0.0.1:4222,nats://localhost:4223,nats://[::1]:4224", nil, false},
		{"nats://10.0.0.5:4222", map[string]string{"nats.tls.ca_file": certs.CA}, false},
	} {
		set := map[string]string{"data_dir": dir, "nats.url": tc.url}
		for k, v := range tc.set {
			set[k] = v
		}
		s, err := LoadSettings("", false, nil, set)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve()
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		logged := false
		for _, w := range r.Warnings {
			logged = logged || strings.Contains(w, "without TLS")
		}
		if logged != tc.warn || (len(r.BusWarnings) > 0) != tc.warn || strings.Contains(strings.Join(r.Warnings, " "), "s3cret") {
			t.Errorf("%s %v: warnings %q, readyz warnings %q; want a warning: %v", tc.url, tc.set, r.Warnings, r.BusWarnings, tc.warn)
		}
	}
}

// TestBusWarningAtStartAndInReadyz: the warning reaches the log when jfguard starts
// and /jfguard/readyz's details, without making it unready. (The settings name an
// address open to all; the test then listens on loopback only.)
func TestBusWarningAtStartAndInReadyz(t *testing.T) {
	t.Parallel()
	_, up := standIn(t)
	s, err := LoadSettings("", false, nil, map[string]string{
		"listen": "127.0.0.1:0", "upstream": up, "data_dir": t.TempDir(), "nats.listen": "0.0.0.0:4222",
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	r.NATS.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var logs syncBuffer
	m := NewMain(r, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "accepts connections from other machines without TLS") {
		t.Errorf("no startup warning in the log:\n%s", logs.String())
	}
	resp, err := http.Get(m.URL() + "/jfguard/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready struct {
		Ready    bool     `json:"ready"`
		Problems []string `json:"problems"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range ready.Problems {
		found = found || (strings.HasPrefix(p, "warning: ") && strings.Contains(p, "without TLS"))
	}
	if !found || !ready.Ready || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d %+v: want ready with the bus warning", resp.StatusCode, ready)
	}
}

// TestEmbeddedNATSWithTLS: with nats.tls.cert_file and key_file the embedded
// server's client port speaks TLS only; with ca_file it also wants a client
// certificate signed by that CA. A subscriber connects over it; jfguard itself is
// unaffected (it connects in process).
func TestEmbeddedNATSWithTLS(t *testing.T) {
	t.Parallel()
	certs := newTestCerts(t)
	_, up := standIn(t)
	s, err := LoadSettings("", false, nil, map[string]string{
		"listen": "127.0.0.1:0", "upstream": up, "data_dir": t.TempDir(),
		"nats.listen":        fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"nats.tls.cert_file": certs.ServerCert, "nats.tls.key_file": certs.ServerKey, "nats.tls.ca_file": certs.CA,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(r, nil)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	code, out, errOut := runCLI(t, "subscribers", "add", "siem", "--server", m.URL(), "--token", m.AdminToken())
	if code != 0 {
		t.Fatalf("subscribers add: %s", errOut)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(out)))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	url := m.NATSURL()
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("the NATS URL of a TLS port is %s", url)
	}
	connect := func(extra ...nats.Option) error {
		nc, err := nats.Connect(url, append([]nats.Option{nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix("_INBOX_siem"), nats.NoReconnect()}, extra...)...)
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		_, err = js.Stream(context.Background(), "JFGUARD_EVENTS")
		return err
	}
	if err := connect(nats.RootCAs(certs.CA), nats.ClientCert(certs.ClientCert, certs.ClientKey)); err != nil {
		t.Fatalf("subscriber over TLS with a client certificate: %v", err)
	}
	if err := connect(nats.RootCAs(certs.CA)); err == nil {
		t.Error("a client without a certificate connected although nats.tls.ca_file asks for one")
	}
	if err := connect(nats.ClientCert(certs.ClientCert, certs.ClientKey)); err == nil {
		t.Error("a client that does not trust the server's CA connected")
	}
	if nc, err := nats.Connect(strings.Replace(url, "tls://", "nats://", 1), nats.Nkey(pub, kp.Sign), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("a client without TLS connected")
	}
}
