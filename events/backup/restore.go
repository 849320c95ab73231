package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/nats-io/jsm.go"
	"github.com/nats-io/nats.go"
)

// maxSmallEntry bounds the entries read into memory (keys, tokens, the manifest).
const maxSmallEntry = 1 << 20

// contents is what reading an archive found: the manifest and its MAC as stored,
// the checksum of every entry, and the small entries themselves.
type contents struct {
	manifestJSON []byte
	manifest     Manifest
	mac          []byte
	sums         map[string]FileInfo
	small        map[string][]byte
}

// read reads every entry of an archive, hashing each; stream snapshots are copied
// into stage when it is not "". Entries outside the layout, or twice, are refused.
func read(r io.Reader, stage string) (*contents, error) {
	c := &contents{sums: map[string]FileInfo{}, small: map[string][]byte{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if h.Typeflag != tar.TypeReg || !validName(h.Name) {
			return nil, fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, h.Name)
		}
		if _, dup := c.sums[h.Name]; dup || (h.Name == manifestName && c.manifestJSON != nil) {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrCorrupt, h.Name)
		}
		hash := sha256.New()
		var sink io.Writer = hash
		var buf bytes.Buffer
		var f *os.File
		if strings.HasPrefix(h.Name, streamsDir) {
			if stage != "" {
				path := filepath.Join(stage, filepath.FromSlash(h.Name))
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					return nil, err
				}
				if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return nil, err
				}
				sink = io.MultiWriter(hash, f)
			}
		} else {
			if h.Size > maxSmallEntry {
				return nil, fmt.Errorf("%w: entry %q is too large", ErrCorrupt, h.Name)
			}
			sink = io.MultiWriter(hash, &buf)
		}
		n, err := io.Copy(sink, tr)
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, h.Name, err)
		}
		switch h.Name {
		case manifestName:
			c.manifestJSON = buf.Bytes()
		case macName:
			c.mac = buf.Bytes()
		default:
			c.sums[h.Name] = FileInfo{Name: h.Name, Size: n, SHA256: hex.EncodeToString(hash.Sum(nil))}
			if buf.Len() > 0 || !strings.HasPrefix(h.Name, streamsDir) {
				c.small[h.Name] = buf.Bytes()
			}
		}
	}
	if c.manifestJSON == nil || c.mac == nil {
		return nil, fmt.Errorf("%w: no manifest (the archive is incomplete)", ErrCorrupt)
	}
	if err := json.Unmarshal(c.manifestJSON, &c.manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if c.manifest.Format != Format {
		return nil, fmt.Errorf("archive format %d: this jfguard reads format %d; restore with the version that made it (%s)", c.manifest.Format, Format, c.manifest.Version)
	}
	return c, c.checkSums()
}

// checkSums compares the entries with the manifest: the same names, sizes and
// checksums, and a snapshot of every stream.
func (c *contents) checkSums() error {
	if len(c.manifest.Files) != len(c.sums) {
		return fmt.Errorf("%w: the manifest lists %d entries, the archive holds %d", ErrCorrupt, len(c.manifest.Files), len(c.sums))
	}
	for _, want := range c.manifest.Files {
		got, ok := c.sums[want.Name]
		if !ok {
			return fmt.Errorf("%w: %s is missing", ErrCorrupt, want.Name)
		}
		if got != want {
			return fmt.Errorf("%w: %s does not match its checksum", ErrCorrupt, want.Name)
		}
	}
	for _, s := range Streams {
		if _, ok := c.manifest.Stream(s); !ok {
			return fmt.Errorf("%w: no snapshot of %s", ErrCorrupt, s)
		}
		for _, f := range []string{jsm.SnapshotMetaFile, jsm.SnapshotDataFile} {
			if _, ok := c.sums[streamsDir+s+"/"+f]; !ok {
				return fmt.Errorf("%w: %s%s/%s is missing", ErrCorrupt, streamsDir, s, f)
			}
		}
	}
	if _, ok := c.sums[masterKeyName]; ok != c.manifest.MasterKeyIncluded {
		return fmt.Errorf("%w: the master key entry does not match the manifest", ErrCorrupt)
	}
	return nil
}

// Check reads an archive and checks every entry against its manifest, without any
// key: it finds damage (a truncated download, a changed byte), not a forgery. Open
// also checks the manifest's MAC.
func Check(r io.Reader) (*Manifest, error) {
	c, err := read(r, "")
	if err != nil {
		return nil, err
	}
	return &c.manifest, nil
}

// OpenOptions give the keys an archive is opened with.
type OpenOptions struct {
	// Passphrase opens the master keyring the archive holds.
	Passphrase string
	// Keyring is the master keyring, for an archive made without it. When the
	// archive holds one too, the archive's is used and this is ignored.
	Keyring []byte
}

// Archive is an archive that was read and checked whole: every entry matches the
// manifest, and the manifest its MAC. Its snapshots wait in a private staging
// directory until Close.
type Archive struct {
	Manifest Manifest
	// Keyring is the master keyring to restore (from the archive or the options).
	Keyring []byte
	// Files are the key files to restore, opened, by name.
	Files map[string][]byte

	stage string
}

// Open reads an archive into a private staging directory and checks it: the
// checksums, the master key (opened with the passphrase, or given), and the
// manifest's MAC under that key. Nothing of it is returned unless all of it holds.
func Open(r io.Reader, opts OpenOptions) (*Archive, error) {
	stage, err := os.MkdirTemp("", "jfguard-restore-")
	if err != nil {
		return nil, err
	}
	a, err := open(r, stage, opts)
	if err != nil {
		os.RemoveAll(stage)
		return nil, err
	}
	return a, nil
}

func open(r io.Reader, stage string, opts OpenOptions) (*Archive, error) {
	c, err := read(r, stage)
	if err != nil {
		return nil, err
	}
	keyring := opts.Keyring
	if c.manifest.MasterKeyIncluded {
		if opts.Passphrase == "" {
			return nil, errors.New("the archive holds the master key wrapped with a passphrase: give it with --passphrase-file")
		}
		id, err := age.NewScryptIdentity(opts.Passphrase)
		if err != nil {
			return nil, err
		}
		ar, err := age.Decrypt(bytes.NewReader(c.small[masterKeyName]), id)
		if err != nil {
			var wrong *age.NoIdentityMatchError
			if errors.As(err, &wrong) || strings.Contains(err.Error(), "incorrect passphrase") {
				return nil, ErrPassphrase
			}
			return nil, fmt.Errorf("%w: master key: %v", ErrCorrupt, err)
		}
		if keyring, err = io.ReadAll(io.LimitReader(ar, maxSmallEntry)); err != nil {
			return nil, fmt.Errorf("%w: master key: %v", ErrCorrupt, err)
		}
	} else if len(keyring) == 0 {
		return nil, ErrNeedMasterKey
	}
	ring, err := seal.LoadMasterKeyring(string(keyring), "")
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	macKey, ok := ring.Derive(c.manifest.MasterKeyID, purposeManifest)
	if !ok {
		return nil, ErrWrongMasterKey
	}
	mac, err := hex.DecodeString(strings.TrimSpace(string(c.mac)))
	if err != nil || !hmac.Equal(mac, manifestMAC(macKey, c.manifestJSON)) {
		return nil, fmt.Errorf("%w: the manifest's MAC does not match", ErrCorrupt)
	}
	filesKey, _ := ring.Derive(c.manifest.MasterKeyID, purposeFiles)
	a := &Archive{Manifest: c.manifest, Keyring: keyring, Files: map[string][]byte{}, stage: stage}
	for name, sealed := range c.small {
		base, ok := strings.CutPrefix(name, filesDir)
		if !ok {
			continue
		}
		if a.Files[base], err = openFile(filesKey, name, sealed); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// snapshotSize is the size of a stream's staged snapshot, 0 when unknown.
func (a *Archive) snapshotSize(stream string) uint64 {
	info, err := os.Stat(filepath.Join(a.stage, "streams", stream, jsm.SnapshotDataFile))
	if err != nil {
		return 0
	}
	return uint64(info.Size())
}

// Close removes the staging directory.
func (a *Archive) Close() error { return os.RemoveAll(a.stage) }

// RestoreStreams creates every stream of the archive from its snapshot, consumers
// included, on a JetStream server that holds none of them, and checks that each
// holds the messages and last sequence the manifest records.
func (a *Archive) RestoreStreams(ctx context.Context, nc *nats.Conn, progress Progress) error {
	mgr, err := jsm.New(nc, jsm.WithTimeout(30*time.Second))
	if err != nil {
		return err
	}
	for _, name := range Streams {
		if known, err := mgr.IsKnownStream(name); err != nil {
			return err
		} else if known {
			return fmt.Errorf("stream %s exists already: restore into an empty data directory", name)
		}
	}
	for _, name := range Streams {
		want, _ := a.Manifest.Stream(name)
		progress.line(fmt.Sprintf("restore of %s: %d messages", name, want.Messages))
		dir := filepath.Join(a.stage, "streams", name)
		_, state, err := mgr.RestoreSnapshotFromDirectory(ctx, name, dir, progress.transfer(name, a.snapshotSize(name))...)
		if err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
		if state.Msgs != want.Messages || state.LastSeq != want.LastSeq {
			return fmt.Errorf("restore %s: %d messages through sequence %d, the manifest says %d through %d",
				name, state.Msgs, state.LastSeq, want.Messages, want.LastSeq)
		}
	}
	return nil
}
