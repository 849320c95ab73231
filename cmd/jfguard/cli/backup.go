package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/backup"
	"github.com/jfguard/jfguard/http"
)

// BackupCmd writes a backup archive of a running jfguard (--server) or of a stopped
// one's data directory.
type BackupCmd struct {
	storeFlags
	Out              string `required:"" help:"Where to write the archive (refused when the file exists)." placeholder:"FILE"`
	PassphraseFile   string `help:"A file holding the passphrase the master key is wrapped with in the archive (at least 12 characters)." placeholder:"FILE"`
	ExcludeMasterKey bool   `help:"Leave the master key out of the archive; restoring it then needs the key given (restore --master-key-file)."`
}

// Run writes the archive beside --out, checks it whole, then gives it its name:
// a file at --out is always a complete archive.
func (c *BackupCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	req := gateway.BackupRequest{ExcludeMasterKey: c.ExcludeMasterKey}
	switch {
	case c.ExcludeMasterKey && c.PassphraseFile != "":
		return errors.New("--exclude-master-key leaves the master key out: there is nothing for --passphrase-file to wrap; give one of them")
	case !c.ExcludeMasterKey && c.PassphraseFile == "":
		return errors.New("the archive holds the master key wrapped with a passphrase: give --passphrase-file FILE, or --exclude-master-key to leave the key out (and keep it safe yourself)")
	case !c.ExcludeMasterKey:
		if req.Passphrase, err = readPassphrase(c.PassphraseFile); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(c.Out); err == nil {
		return fmt.Errorf("%s exists: give another --out, or remove it first", c.Out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.Out), "."+filepath.Base(c.Out)+"-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	if c.Server != "" {
		cl, err := newRPCClient(g, r, c.storeFlags)
		if err != nil {
			return err
		}
		if err := downloadBackup(ctx, cl, req, tmp, g.stderr); err != nil {
			return err
		}
	} else {
		bars := newStreamBars(g.stderr, "snapshot of")
		err := offlineBackup(ctx, r, req, tmp, cliProgress(g.stderr, bars))
		bars.Done()
		if err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	man, err := backup.Check(tmp)
	if err != nil {
		return fmt.Errorf("the archive written is not whole, so it was not kept: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A hard link fails when --out appeared meanwhile: nothing is overwritten.
	if err := os.Link(tmp.Name(), c.Out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	printManifest(g, c.Out, man)
	return nil
}

// printManifest says what an archive holds.
func printManifest(g *Globals, path string, man *backup.Manifest) {
	fmt.Fprintf(g.stdout, "%s: jfguard %s backup of %s\n", path, man.Version, man.CreatedAt.Format("2006-01-02T15:04:05Z07:00"))
	for _, s := range man.Streams {
		fmt.Fprintf(g.stdout, "  %s: %d messages, last sequence %d\n", s.Name, s.Messages, s.LastSeq)
	}
	if man.MasterKeyIncluded {
		fmt.Fprintf(g.stdout, "  master key %s: included, wrapped with the passphrase\n", man.MasterKeyID)
	} else {
		fmt.Fprintf(g.stdout, "  master key %s: NOT included; restoring needs it (restore --master-key-file)\n", man.MasterKeyID)
	}
}

// cliProgress reports a backup's or a restore's work on w: bars for the streams'
// transfers, and plain lines for each step when w is not a terminal.
func cliProgress(w io.Writer, bars *streamBars) backup.Progress {
	return backup.Progress{Line: func(line string) { plainStep(w, line) }, Bytes: bars.update}
}

// readPassphrase reads a passphrase file: its first line, which must be long enough.
func readPassphrase(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--passphrase-file: %w", err)
	}
	p, _, _ := strings.Cut(string(b), "\n")
	p = strings.TrimSuffix(p, "\r")
	if err := backup.CheckPassphrase(p); err != nil {
		return "", fmt.Errorf("--passphrase-file %s: %w", path, err)
	}
	return p, nil
}

// keyringText is the master keyring as the settings give it: the key in clear, or
// the keyring file.
func keyringText(r *Resolved) ([]byte, error) {
	if v := masterKeyValue(r); v != "" {
		return []byte(v), nil
	}
	b, err := os.ReadFile(r.MasterKeyFile)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return b, nil
}

// backupSource is what a backup of this configuration reads.
func backupSource(r *Resolved, conn *broker.Conn, req gateway.BackupRequest, progress backup.Progress) (backup.Source, error) {
	keyring, err := keyringText(r)
	if err != nil {
		return backup.Source{}, err
	}
	return backup.Source{
		NC: conn.NC, Keyring: keyring, DataDir: r.DataDir, Version: Version,
		Passphrase: req.Passphrase, ExcludeMasterKey: req.ExcludeMasterKey, Progress: progress,
	}, nil
}

// offlineBackup backs up a stopped jfguard: its embedded store, locked meanwhile,
// or the external NATS server it uses.
func offlineBackup(ctx context.Context, r *Resolved, req gateway.BackupRequest, w io.Writer, progress backup.Progress) error {
	var lock *os.File
	if r.NATS.URL == "" {
		if _, err := os.Stat(filepath.Join(r.DataDir, "nats")); err != nil {
			return fmt.Errorf("no jfguard data in %s (set --data-dir, or --server for a running jfguard)", r.DataDir)
		}
		l, err := LockDataDir(r.DataDir)
		if err != nil {
			return err
		}
		lock = l
		defer lock.Close()
	}
	conn, err := broker.Start(broker.Options{URL: r.NATS.URL, CredsFile: r.NATS.CredsFile, StoreDir: filepath.Join(r.DataDir, "nats"),
		Sync: r.NATS.Sync, SyncEvery: r.SyncInterval, NkeySeed: r.NATSNkeySeed, TLS: r.NATS.TLS.files()})
	if err != nil {
		return err
	}
	defer conn.Close()
	src, err := backupSource(r, conn, req, progress)
	if err != nil {
		return err
	}
	_, err = backup.Write(ctx, w, src)
	return err
}

// backup writes an archive for the control API's backup route, while jfguard runs.
func (m *Main) backup(ctx context.Context, w io.Writer, req gateway.BackupRequest) error {
	src, err := backupSource(m.Settings, m.conn, req, backup.Progress{Line: func(line string) { m.Logger.Info("backup: " + line) }})
	if err != nil {
		return err
	}
	_, err = backup.Write(ctx, w, src)
	return err
}

// downloadBackup asks a running jfguard for an archive and writes it to w,
// reporting the bytes received on progressTo.
func downloadBackup(ctx context.Context, cl *rpcClient, req gateway.BackupRequest, w, progressTo io.Writer) error {
	body, _ := json.Marshal(req)
	url := strings.TrimSuffix(cl.url, "/jfguard/rpc") + "/jfguard/api/admin/backup"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+cl.token)
	resp, err := (&http.Client{}).Do(hreq)
	if err != nil {
		return fmt.Errorf("cannot reach jfguard at %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return fmt.Errorf("backup refused by %s: HTTP %d %s", url, resp.StatusCode, e.Message)
	}
	// The server writes the archive as it snapshots: its size is not known ahead.
	bar := newBytesProgress(progressTo, uint64(max(resp.ContentLength, 0)), "downloading the backup")
	_, err = io.Copy(io.MultiWriter(w, bar), resp.Body)
	bar.Done()
	if err != nil {
		return fmt.Errorf("backup cut short: %w", err)
	}
	return nil
}
