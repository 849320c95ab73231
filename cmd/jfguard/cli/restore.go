package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	broker "github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/backup"
	"github.com/jfguard/jfguard/events/keyfile"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
)

// RestoreCmd restores a backup archive into a new data directory, jfguard stopped.
type RestoreCmd struct {
	In             string `required:"" help:"The archive (jfguard backup --out)." placeholder:"FILE"`
	PassphraseFile string `help:"A file holding the passphrase the archive's master key was wrapped with." placeholder:"FILE"`
	MasterKeyFile  string `help:"For an archive made with --exclude-master-key: a copy of the master keyring (data_dir/master.key) it was made with." placeholder:"FILE"`
	Force          bool   `help:"Restore into a data directory that holds jfguard data, replacing its store and keys."`
}

// restoredFiles are what a restore writes into the data directory; --force
// replaces them.
var restoredFiles = append([]string{"nats", "snapshots", backup.MasterKeyFile}, backup.KeyFiles...)

// Run checks the whole archive first (checksums, the master key, the manifest's
// MAC), then restores the streams and key files and verifies the audit log of
// the result.
func (c *RestoreCmd) Run(ctx context.Context, g *Globals) error {
	if g.DataDir == "" {
		return errors.New("give the data directory to restore into: --data-dir DIR (a new one)")
	}
	dir, err := filepath.Abs(g.DataDir)
	if err != nil {
		return err
	}
	if err := checkRestoreTarget(dir, c.Force); err != nil {
		return err
	}
	var opts backup.OpenOptions
	if c.PassphraseFile != "" {
		if opts.Passphrase, err = readPassphrase(c.PassphraseFile); err != nil {
			return err
		}
	}
	if c.MasterKeyFile != "" {
		if opts.Keyring, err = os.ReadFile(c.MasterKeyFile); err != nil {
			return fmt.Errorf("--master-key-file: %w", err)
		}
	}
	a, err := openArchive(c.In, opts, g.stderr)
	if err != nil {
		return fmt.Errorf("%s refused, nothing was restored: %w", c.In, err)
	}
	defer a.Close()

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	lock, err := LockDataDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	}()
	if c.Force {
		for _, name := range restoredFiles {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	rep, err := restoreInto(ctx, a, dir, g.stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "restored %s into %s\n", c.In, dir)
	printManifest(g, c.In, &a.Manifest)
	fmt.Fprintf(g.stdout, "events: %d, checkpoints: %d, sealed through: %d, not yet sealed: %d\n", rep.Events, rep.Checkpoints, rep.SealedThrough, rep.Unsealed)
	fmt.Fprintln(g.stdout, "audit verify: OK")
	fmt.Fprintf(g.stdout, "next: set data_dir to %s (and master_key_file, if your settings name one, to %s), then start jfguard\n", dir, filepath.Join(dir, backup.MasterKeyFile))
	return nil
}

// openArchive reads and checks the archive at path whole, reporting the bytes
// read on progressTo.
func openArchive(path string, opts backup.OpenOptions, progressTo io.Writer) (*backup.Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--in: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--in: %w", err)
	}
	plainStep(progressTo, "checking "+path)
	bar := newBytesProgress(progressTo, uint64(info.Size()), "checking "+filepath.Base(path))
	a, err := backup.Open(io.TeeReader(f, bar), opts)
	bar.Done()
	if err != nil {
		return nil, fmt.Errorf("%s refused, nothing was restored: %w", path, err)
	}
	return a, nil
}

// checkRestoreTarget refuses a data directory with jfguard data in it, unless
// forced.
func checkRestoreTarget(dir string, force bool) error {
	for _, name := range restoredFiles {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil && !force {
			return fmt.Errorf("%s holds jfguard data (%s): restore into a new directory, or give --force to replace its store and keys", dir, name)
		}
	}
	return nil
}

// restoreInto writes the archive's streams and key files into dir and verifies
// the result as `audit verify` does: every event's MAC under the restored master
// key, the hash chain and the signed checkpoints. It reports its progress on
// progressTo.
func restoreInto(ctx context.Context, a *backup.Archive, dir string, progressTo io.Writer) (audit.VerifyReport, error) {
	var rep audit.VerifyReport
	conn, err := broker.Start(broker.Options{StoreDir: filepath.Join(dir, "nats"), Sync: broker.SyncAlways, Name: "jfguard-restore"})
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	bars := newStreamBars(progressTo, "restore of")
	err = a.RestoreStreams(ctx, conn.NC, cliProgress(progressTo, bars))
	bars.Done()
	if err != nil {
		return rep, err
	}
	if err := keyfile.WriteExclusive(filepath.Join(dir, backup.MasterKeyFile), a.Keyring); err != nil {
		return rep, err
	}
	for name, data := range a.Files {
		if err := keyfile.WriteExclusive(filepath.Join(dir, name), data); err != nil {
			return rep, err
		}
	}
	ring, err := seal.LoadMasterKeyring("", filepath.Join(dir, backup.MasterKeyFile))
	if err != nil {
		return rep, err
	}
	auth, err := ring.EventAuthenticator()
	if err != nil {
		return rep, err
	}
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: filepath.Join(dir, "nats"), Auth: auth})
	if err != nil {
		return rep, err
	}
	if rep, err = verifyRestored(ctx, st, dir, progressTo); err != nil {
		return rep, err
	}
	if !rep.OK() {
		return rep, fmt.Errorf("the restored audit log does not verify (first bad sequence %d): %v", rep.FirstBad, rep.Problems)
	}
	if want, _ := a.Manifest.Stream(store.StreamName); rep.Events != want.Messages {
		return rep, fmt.Errorf("the restored stream holds %d events, the manifest %d", rep.Events, want.Messages)
	}
	return rep, nil
}

// verifyRestored verifies the restored log with the restored audit keys,
// reporting the events checked on progressTo.
func verifyRestored(ctx context.Context, st *store.Store, dir string, progressTo io.Writer) (audit.VerifyReport, error) {
	priv, previous, err := audit.LoadKeys(dir)
	if err != nil {
		return audit.VerifyReport{}, err
	}
	plainStep(progressTo, "verifying the restored audit log")
	bar := newProgress(progressTo, 0, "verifying the restored audit log")
	defer bar.Done()
	return audit.Verify(ctx, st, audit.VerifyOptions{Keys: append([]ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}, previous...),
		Progress: func(n, total uint64) {
			bar.SetTotal(total)
			bar.Set(n)
		}})
}
