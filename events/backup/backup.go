// Package backup writes and reads jfguard's backup archives: a JetStream snapshot of
// every jfguard stream, the key files of the data directory and a manifest that says
// what the archive holds, taken while jfguard runs or while it is stopped.
//
// An archive is a tar file. Its entries, in order:
//
//	streams/<stream>/backup.json     the stream's configuration and state (JetStream's)
//	streams/<stream>/stream.arc.s2   the stream's snapshot, consumers included (JetStream's)
//	keys/master.key.age              the master keyring, encrypted with a passphrase (age,
//	                                 scrypt); absent from an archive made without it
//	files/<name>                     admin.token, auditor.token, audit.key, audit.pub,
//	                                 sealed (AES-256-GCM) with a key derived from the master key
//	manifest.json                    version, time, streams, the SHA-256 of every entry above
//	manifest.mac                     HMAC-SHA256 of manifest.json, keyed from the master key
//
// Nothing secret is in clear: the master key is wrapped by the passphrase (or left
// out), and every other secret is sealed under the master key, as the streams' sealed
// values already are. The manifest's MAC ties the whole archive to the master key,
// so an archive whose checksums were rewritten along with its content is refused too.
package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
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
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/jsm.go"
	"github.com/nats-io/nats.go"
)

// Format is the version of the archive layout this package writes and reads.
const Format = 1

// Streams are the streams an archive holds, in the order they are snapshotted.
// Checkpoints first, then events: a checkpoint never covers an event the archive
// lacks (the events after the last checkpoint are merely "not yet sealed"). Data
// keys last: every sealed value in the archived events has its key in the archive.
var Streams = []string{audit.StreamName, store.StreamName, seal.KeysStream}

// KeyFiles are the files of a data directory an archive keeps, besides the master
// keyring. A missing one (a token given in the settings instead) is left out.
var KeyFiles = []string{"admin.token", "auditor.token", "audit.key", "audit.pub"}

// MasterKeyFile is the name of the master keyring in a data directory.
const MasterKeyFile = "master.key"

// Entry names.
const (
	manifestName  = "manifest.json"
	macName       = "manifest.mac"
	masterKeyName = "keys/master.key.age"
	filesDir      = "files/"
	streamsDir    = "streams/"
)

// Purposes of the keys derived from the master key.
const (
	purposeFiles    = "jfguard backup v1: key files"
	purposeManifest = "jfguard backup v1: manifest"
)

// MinPassphrase is the shortest passphrase accepted to wrap the master key.
const MinPassphrase = 12

// Errors callers branch on.
var (
	// ErrCorrupt: the archive is damaged or was changed (a checksum or the
	// manifest's MAC does not match, an entry is missing or unexpected).
	ErrCorrupt = errors.New("the archive is damaged or was changed")
	// ErrPassphrase: the passphrase does not open the archive's master key.
	ErrPassphrase = errors.New("the passphrase does not open the archive's master key")
	// ErrNeedMasterKey: the archive was made without the master key, and none was given.
	ErrNeedMasterKey = errors.New("the archive was made without the master key: give it with --master-key-file")
	// ErrWrongMasterKey: the master key given is not the one the archive was made with.
	ErrWrongMasterKey = errors.New("the master key given is not the one this archive was made with")
)

// Manifest says what an archive holds.
type Manifest struct {
	Format    int       `json:"format"`
	Version   string    `json:"jfguard_version"`
	CreatedAt time.Time `json:"created_at"`
	// MasterKeyID names the master key the archive's secrets are sealed with.
	MasterKeyID       string       `json:"master_key_id"`
	MasterKeyIncluded bool         `json:"master_key_included"`
	Streams           []StreamInfo `json:"streams"`
	Files             []FileInfo   `json:"files"`
}

// StreamInfo is a stream as it was snapshotted.
type StreamInfo struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Bytes    uint64 `json:"bytes"`
}

// FileInfo is an entry of the archive.
type FileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Stream returns the manifest's record of a stream.
func (m *Manifest) Stream(name string) (StreamInfo, bool) {
	for _, s := range m.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return StreamInfo{}, false
}

// Source is what a backup reads.
type Source struct {
	// NC reaches the JetStream server holding the streams (embedded or external).
	NC *nats.Conn
	// Keyring is the master keyring as stored (the master key file, or the key given
	// in clear in the settings).
	Keyring []byte
	// DataDir holds the KeyFiles.
	DataDir string
	// Passphrase wraps the master keyring; ignored with ExcludeMasterKey.
	Passphrase string
	// ExcludeMasterKey leaves the master keyring out: restoring then needs it given.
	ExcludeMasterKey bool
	// Version is jfguard's version, recorded in the manifest.
	Version string
	// Progress is told how far the backup has got.
	Progress Progress
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Progress reports how far a backup or a restore has got. Either function may be
// nil.
type Progress struct {
	// Line is told what is being done, one line at a time.
	Line func(string)
	// Bytes is told how far a stream's transfer has got: done bytes of about
	// total (the stream's size on a backup, its snapshot's on a restore). It is
	// called often, from other goroutines, and may still be called for a stream
	// just after its transfer ended.
	Bytes func(stream string, done, total uint64)
}

// line reports a step.
func (p Progress) line(s string) {
	if p.Line != nil {
		p.Line(s)
	}
}

// transfer is the jsm options that report a stream's snapshot or restore to
// Bytes. A total of 0 takes the stream's size, as JetStream announces it at the
// start of a snapshot.
func (p Progress) transfer(stream string, total uint64) []jsm.SnapshotOption {
	if p.Bytes == nil {
		return nil
	}
	return []jsm.SnapshotOption{
		jsm.WithProgress(0),
		jsm.SnapshotNotify(func(sp jsm.SnapshotProgress) {
			t := total
			if t == 0 {
				t = sp.BytesExpected()
			}
			p.Bytes(stream, min(sp.UncompressedBytesReceived(), t), t)
		}),
		jsm.RestoreNotify(func(rp jsm.RestoreProgress) {
			done := rp.BytesSent()
			if total > 0 {
				done = min(done, total)
			}
			p.Bytes(stream, done, total)
		}),
	}
}

// CheckPassphrase says why a passphrase may not wrap a master key, or nil.
func CheckPassphrase(p string) error {
	if len(p) < MinPassphrase {
		return fmt.Errorf("the passphrase is shorter than %d characters; use a long one (e.g. six random words) and keep it apart from the archive", MinPassphrase)
	}
	return nil
}

// Write snapshots the streams and writes the archive to w. The streams are read
// through JetStream's snapshot API, so jfguard keeps running meanwhile; each
// stream's snapshot is consistent in itself, and the order of Streams makes the
// three consistent with each other.
func Write(ctx context.Context, w io.Writer, src Source) (*Manifest, error) {
	progress := src.Progress
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	ring, err := seal.LoadMasterKeyring(string(src.Keyring), "")
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if !src.ExcludeMasterKey {
		if err := CheckPassphrase(src.Passphrase); err != nil {
			return nil, err
		}
	}
	keyID := ring.Current().ID
	filesKey, _ := ring.Derive(keyID, purposeFiles)
	macKey, _ := ring.Derive(keyID, purposeManifest)

	tmp, err := os.MkdirTemp("", "jfguard-backup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	man := &Manifest{Format: Format, Version: src.Version, CreatedAt: now().UTC(), MasterKeyID: keyID, MasterKeyIncluded: !src.ExcludeMasterKey}
	tw := tar.NewWriter(w)
	add := func(name string, data []byte) error {
		sum := sha256.Sum256(data)
		man.Files = append(man.Files, FileInfo{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		return writeEntry(tw, name, int64(len(data)), bytes.NewReader(data), man.CreatedAt)
	}
	addFile := func(name, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		man.Files = append(man.Files, FileInfo{Name: name, Size: st.Size(), SHA256: hex.EncodeToString(h.Sum(nil))})
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return writeEntry(tw, name, st.Size(), f, man.CreatedAt)
	}

	mgr, err := jsm.New(src.NC, jsm.WithTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	for _, name := range Streams {
		progress.line(fmt.Sprintf("snapshot of %s: started", name))
		stream, err := mgr.LoadStream(name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		dir := filepath.Join(tmp, name)
		opts := append([]jsm.SnapshotOption{jsm.SnapshotConsumers()}, progress.transfer(name, 0)...)
		if _, err := stream.SnapshotToDirectory(ctx, dir, opts...); err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		info, err := snapshotState(dir)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		info.Name = name
		man.Streams = append(man.Streams, info)
		data, err := jsm.SnapshotDataPath(dir)
		if err != nil {
			return nil, err
		}
		for _, f := range []string{filepath.Join(dir, jsm.SnapshotMetaFile), data} {
			if err := addFile(streamsDir+name+"/"+filepath.Base(f), f); err != nil {
				return nil, fmt.Errorf("snapshot of %s: %w", name, err)
			}
		}
		progress.line(fmt.Sprintf("snapshot of %s: %d messages, last sequence %d", name, info.Messages, info.LastSeq))
	}

	if !src.ExcludeMasterKey {
		var wrapped bytes.Buffer
		rcpt, err := age.NewScryptRecipient(src.Passphrase)
		if err != nil {
			return nil, err
		}
		aw, err := age.Encrypt(&wrapped, rcpt)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(src.Keyring); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
		if err := add(masterKeyName, wrapped.Bytes()); err != nil {
			return nil, err
		}
	}
	for _, name := range KeyFiles {
		b, err := os.ReadFile(filepath.Join(src.DataDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sealed, err := sealFile(filesKey, filesDir+name, b)
		if err != nil {
			return nil, err
		}
		if err := add(filesDir+name, sealed); err != nil {
			return nil, err
		}
	}

	mj, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeEntry(tw, manifestName, int64(len(mj)), bytes.NewReader(mj), man.CreatedAt); err != nil {
		return nil, err
	}
	mac := []byte(hex.EncodeToString(manifestMAC(macKey, mj)) + "\n")
	if err := writeEntry(tw, macName, int64(len(mac)), bytes.NewReader(mac), man.CreatedAt); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	progress.line(fmt.Sprintf("archive complete: %d entries", len(man.Files)+2))
	return man, nil
}

// snapshotState reads the stream's state JetStream recorded beside its snapshot.
func snapshotState(dir string) (StreamInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, jsm.SnapshotMetaFile))
	if err != nil {
		return StreamInfo{}, err
	}
	var meta struct {
		State struct {
			Msgs     uint64 `json:"messages"`
			Bytes    uint64 `json:"bytes"`
			FirstSeq uint64 `json:"first_seq"`
			LastSeq  uint64 `json:"last_seq"`
		} `json:"state"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return StreamInfo{}, fmt.Errorf("%s: %w", jsm.SnapshotMetaFile, err)
	}
	s := meta.State
	return StreamInfo{Messages: s.Msgs, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq}, nil
}

func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: at, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := io.Copy(tw, r)
	return err
}

func manifestMAC(key, manifest []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(manifest)
	return m.Sum(nil)
}

// sealFile encrypts a key file under the archive's files key; its name is the
// associated data, so sealed files cannot be swapped.
func sealFile(key []byte, name string, data []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, data, []byte(name)), nil
}

func openFile(key []byte, name string, sealed []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("%w: %s is too short", ErrCorrupt, name)
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not decrypt", ErrCorrupt, name)
	}
	return out, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// validName reports whether an entry name is one an archive may hold: no absolute
// path, no "..", only the folders this package writes.
func validName(name string) bool {
	if name != filepath.Clean(name) || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return false
	}
	switch {
	case name == manifestName, name == macName, name == masterKeyName:
		return true
	case strings.HasPrefix(name, filesDir):
		base := strings.TrimPrefix(name, filesDir)
		for _, f := range KeyFiles {
			if base == f {
				return true
			}
		}
		return false
	case strings.HasPrefix(name, streamsDir):
		parts := strings.Split(strings.TrimPrefix(name, streamsDir), "/")
		if len(parts) != 2 {
			return false
		}
		known := false
		for _, s := range Streams {
			known = known || parts[0] == s
		}
		return known && (parts[1] == jsm.SnapshotMetaFile || parts[1] == jsm.SnapshotDataFile)
	}
	return false
}
