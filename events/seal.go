package events

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// KeysStream holds the wrapped per-user data keys, one message per user on subject
// jfguard.keys.<user id>. Unlike the event stream it allows (secure) deletion: that
// is how a user is forgotten.
const KeysStream = "JFGUARD_KEYS"

const keysPrefix = "jfguard.keys."

// Errors of sealed fields.
var (
	// ErrShredded: the value was sealed with a data key that has been destroyed.
	ErrShredded = errors.New("sealed value is shredded: its data key was destroyed")
	// ErrSealCorrupt: the value or its key does not decrypt.
	ErrSealCorrupt = errors.New("sealed value does not decrypt")
)

// Sealer encrypts secret fields with AES-256-GCM under a data key per user. Data keys
// live in a JetStream KV bucket, wrapped (AES-256-GCM) by the master key, so neither
// the event stream nor the key stream alone reveals a secret. Destroying a user's data
// key shreds every value sealed for that user.
type Sealer struct {
	master cipher.AEAD
	stream jetstream.Stream
	js     jetstream.JetStream

	mu    sync.RWMutex
	cache map[string]dataKey
}

type dataKey struct {
	id   string
	aead cipher.AEAD
}

// LoadMasterKey returns the 32-byte master key from env (base64 or hex in
// JFGUARD_MASTER_KEY), else from dataDir/master.key, creating that file (mode 0600)
// on first start.
func LoadMasterKey(envValue, dataDir string) ([]byte, error) {
	if envValue != "" {
		return decodeKey(envValue, "JFGUARD_MASTER_KEY")
	}
	path := filepath.Join(dataDir, "master.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		if err := writeFileExclusive(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n")); err != nil {
			return nil, fmt.Errorf("create master key %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	return decodeKey(string(b), path)
}

func decodeKey(s, where string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("%s: not a 32-byte key in base64 or hex; fix: generate one with `head -c 32 /dev/urandom | base64`", where)
}

func writeFileExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// NewSealer opens (or creates) the key bucket.
func NewSealer(ctx context.Context, js jetstream.JetStream, masterKey []byte, replicas int) (*Sealer, error) {
	if len(masterKey) != 32 {
		return nil, errors.New("master key must be 32 bytes")
	}
	master, err := newGCM(masterKey)
	if err != nil {
		return nil, err
	}
	if replicas <= 0 {
		replicas = 1
	}
	stream, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:                 KeysStream,
		Description:          "jfguard per-user data keys, wrapped by the master key",
		Subjects:             []string{keysPrefix + ">"},
		Storage:              jetstream.FileStorage,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		Replicas:             replicas,
		AllowDirect:          true,
	}, func(jetstream.StreamConfig) error { return nil })
	if err != nil {
		return nil, err
	}
	return &Sealer{master: master, stream: stream, js: js, cache: map[string]dataKey{}}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func keySubject(userID string) string { return keysPrefix + userID }

// key returns the user's data key, creating it when create is set.
func (s *Sealer) key(ctx context.Context, userID string, create bool) (dataKey, error) {
	s.mu.RLock()
	k, ok := s.cache[userID]
	s.mu.RUnlock()
	if ok {
		return k, nil
	}
	entry, err := s.stream.GetLastMsgForSubject(ctx, keySubject(userID))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound) && create:
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return dataKey{}, err
		}
		idb := make([]byte, 6)
		if _, err := rand.Read(idb); err != nil {
			return dataKey{}, err
		}
		id := hex.EncodeToString(idb)
		nonce := make([]byte, s.master.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return dataKey{}, err
		}
		wrapped := append([]byte(id+"."), s.master.Seal(nonce, nonce, raw, []byte(userID))...)
		_, err := s.js.Publish(ctx, keySubject(userID), wrapped, jetstream.WithExpectLastSequencePerSubject(0))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return s.key(ctx, userID, false) // another node created it first
		}
		if err != nil {
			return dataKey{}, fmt.Errorf("store data key: %w", err)
		}
		return s.remember(userID, id, raw)
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return dataKey{}, ErrShredded
	case err != nil:
		return dataKey{}, fmt.Errorf("load data key: %w", err)
	}
	val := entry.Data
	dot := strings.IndexByte(string(val), '.')
	ns := s.master.NonceSize()
	if dot < 0 || len(val) < dot+1+ns {
		return dataKey{}, ErrSealCorrupt
	}
	id, box := string(val[:dot]), val[dot+1:]
	raw, err := s.master.Open(nil, box[:ns], box[ns:], []byte(userID))
	if err != nil {
		return dataKey{}, fmt.Errorf("unwrap data key of %s (is this the right master key?): %w", userID, ErrSealCorrupt)
	}
	return s.remember(userID, id, raw)
}

func (s *Sealer) remember(userID, id string, raw []byte) (dataKey, error) {
	aead, err := newGCM(raw)
	if err != nil {
		return dataKey{}, err
	}
	k := dataKey{id: id, aead: aead}
	s.mu.Lock()
	s.cache[userID] = k
	s.mu.Unlock()
	return k, nil
}

// Seal encrypts plaintext for userID.
func (s *Sealer) Seal(ctx context.Context, userID string, plaintext []byte) (Sealed, error) {
	k, err := s.key(ctx, userID, true)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	box := k.aead.Seal(nonce, nonce, plaintext, []byte(userID))
	return Sealed("v1." + k.id + "." + base64.RawURLEncoding.EncodeToString(box)), nil
}

// Open decrypts a value sealed for userID. It returns ErrShredded when the value's
// data key has been destroyed.
func (s *Sealer) Open(ctx context.Context, userID string, v Sealed) ([]byte, error) {
	parts := strings.SplitN(string(v), ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, ErrSealCorrupt
	}
	box, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, ErrSealCorrupt
	}
	k, err := s.key(ctx, userID, false)
	if err != nil {
		return nil, err
	}
	if k.id != parts[1] {
		return nil, ErrShredded // sealed under a key that no longer exists
	}
	ns := k.aead.NonceSize()
	if len(box) < ns {
		return nil, ErrSealCorrupt
	}
	pt, err := k.aead.Open(nil, box[:ns], box[ns:], []byte(userID))
	if err != nil {
		return nil, ErrSealCorrupt
	}
	return pt, nil
}

// Destroy erases the user's data key: the stored message is overwritten on disk
// (secure delete) and the in-memory copy is dropped.
func (s *Sealer) Destroy(ctx context.Context, userID string) error {
	s.mu.Lock()
	delete(s.cache, userID)
	s.mu.Unlock()
	entry, err := s.stream.GetLastMsgForSubject(ctx, keySubject(userID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find data key: %w", err)
	}
	if err := s.stream.SecureDeleteMsg(ctx, entry.Sequence); err != nil {
		return fmt.Errorf("erase data key: %w", err)
	}
	return nil
}

// Forget drops a cached key (another node destroyed it).
func (s *Sealer) Forget(userID string) {
	s.mu.Lock()
	delete(s.cache, userID)
	s.mu.Unlock()
}
