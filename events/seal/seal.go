// Package seal encrypts event fields with per-user data keys (destroying a user's
// key shreds the user's sealed values), wraps those keys with the master keyring,
// and derives the trust-cookie keys from it.
package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
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
// live in the JFGUARD_KEYS stream, wrapped (AES-256-GCM) by the master keyring, so
// neither the event stream nor the key stream alone reveals a secret. Destroying a
// user's data key shreds every value sealed for that user.
type Sealer struct {
	ring   *MasterKeyring
	clock  func() time.Time
	stream jetstream.Stream
	js     jetstream.JetStream

	mu    sync.RWMutex
	cache map[string]dataKey
}

type dataKey struct {
	id   string
	aead cipher.AEAD
}

// LoadMasterKey returns the current 32-byte master key from env (base64 or hex in
// JFGUARD_MASTER_KEY), else from dataDir/master.key, creating that file (mode 0600)
// on first start. See LoadMasterKeyring for the whole ring.
func LoadMasterKey(envValue, dataDir string) ([]byte, error) {
	ring, err := LoadMasterKeyring(envValue, filepath.Join(dataDir, "master.key"))
	if err != nil {
		return nil, err
	}
	return ring.Current().Key, nil
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

// Options tune a Sealer.
type Options struct {
	Replicas int
	// Clock decides when a previous master key's grace is over; default time.Now.
	Clock func() time.Time
}

// NewSealer opens (or creates) the key stream with a single master key.
func NewSealer(ctx context.Context, js jetstream.JetStream, masterKey []byte, replicas int) (*Sealer, error) {
	ring, err := NewMasterKeyring(masterKey)
	if err != nil {
		return nil, err
	}
	return OpenSealer(ctx, js, ring, Options{Replicas: replicas})
}

// OpenSealer opens (or creates) the key stream with a master keyring.
func OpenSealer(ctx context.Context, js jetstream.JetStream, ring *MasterKeyring, opts Options) (*Sealer, error) {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	// One message per subject, the newest: re-wrapping a data key publishes its
	// new wrapping expecting the old one as the subject's last message, and the
	// old one goes once the new one is stored, atomically. Creation still happens
	// once, expecting no message at all.
	cfg := jetstream.StreamConfig{
		Name:              KeysStream,
		Description:       "jfguard per-user data keys, wrapped by the master key",
		Subjects:          []string{keysPrefix + ">"},
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardNew,
		Replicas:          opts.Replicas,
		AllowDirect:       true,
	}
	stream, err := store.EnsureStream(ctx, js, cfg, func(jetstream.StreamConfig) error { return nil })
	if err != nil {
		return nil, err
	}
	if old := stream.CachedInfo().Config; old.DiscardNewPerSubject {
		// Streams created before re-wrapping existed refused any second message
		// on a subject.
		old.DiscardNewPerSubject = false
		if stream, err = js.UpdateStream(ctx, old); err != nil {
			return nil, fmt.Errorf("update stream %s to allow re-wrapping data keys: %w", KeysStream, err)
		}
	}
	return &Sealer{ring: ring, clock: opts.Clock, stream: stream, js: js, cache: map[string]dataKey{}}, nil
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
		wrapped, err := s.wrap(userID, id, raw)
		if err != nil {
			return dataKey{}, err
		}
		_, err = s.js.Publish(ctx, keySubject(userID), wrapped, jetstream.WithExpectLastSequencePerSubject(0))
		if wrongLast(err) {
			// Another node created it first. It exists, but in a cluster the replica
			// this read goes to may not have it yet: read again for a little while
			// rather than take it for shredded.
			for try := 0; ; try++ {
				k, err := s.key(ctx, userID, false)
				if !errors.Is(err, ErrShredded) || try == 40 {
					return k, err
				}
				select {
				case <-ctx.Done():
					return dataKey{}, ctx.Err()
				case <-time.After(25 * time.Millisecond):
				}
			}
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
	id, raw, _, err := s.unwrap(userID, entry.Data)
	if err != nil {
		return dataKey{}, err
	}
	return s.remember(userID, id, raw)
}

// wrappedV2 starts a data key wrapped under named master keys:
// "w2.<data key id>.<master key id>:<base64 box>[,<master key id>:<base64 box>…]".
// The first format, "<data key id>.<box>", named no master key.
const wrappedV2 = "w2."

// wrap wraps a data key under every master key in use now.
func (s *Sealer) wrap(userID, id string, raw []byte) ([]byte, error) {
	var boxes []string
	for _, mk := range s.ring.usable(s.clock()) {
		nonce := make([]byte, mk.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		box := mk.aead.Seal(nonce, nonce, raw, []byte(userID))
		boxes = append(boxes, mk.ID+":"+base64.RawURLEncoding.EncodeToString(box))
	}
	return []byte(wrappedV2 + id + "." + strings.Join(boxes, ",")), nil
}

// unwrap opens a stored data key with any key of the ring and returns its id, the
// key, and the ids of the master keys it is wrapped under.
func (s *Sealer) unwrap(userID string, val []byte) (string, []byte, []string, error) {
	corrupt := fmt.Errorf("unwrap data key of %s (is this the right master key?): %w", userID, ErrSealCorrupt)
	if rest, ok := strings.CutPrefix(string(val), wrappedV2); ok {
		id, boxes, ok := strings.Cut(rest, ".")
		if !ok {
			return "", nil, nil, corrupt
		}
		var ids []string
		var raw []byte
		for _, part := range strings.Split(boxes, ",") {
			mid, b64, _ := strings.Cut(part, ":")
			ids = append(ids, mid)
			mk, ok := s.ring.Key(mid)
			if !ok || raw != nil {
				continue
			}
			box, err := base64.RawURLEncoding.DecodeString(b64)
			if err != nil || len(box) < mk.aead.NonceSize() {
				continue
			}
			ns := mk.aead.NonceSize()
			if pt, err := mk.aead.Open(nil, box[:ns], box[ns:], []byte(userID)); err == nil {
				raw = pt
			}
		}
		if raw == nil {
			return "", nil, nil, corrupt
		}
		return id, raw, ids, nil
	}
	dot := strings.IndexByte(string(val), '.')
	if dot < 0 {
		return "", nil, nil, corrupt
	}
	id, box := string(val[:dot]), val[dot+1:]
	for _, mk := range s.ring.Keys() {
		ns := mk.aead.NonceSize()
		if len(box) < ns {
			break
		}
		if raw, err := mk.aead.Open(nil, box[:ns], box[ns:], []byte(userID)); err == nil {
			return id, raw, nil, nil
		}
	}
	return "", nil, nil, corrupt
}

func wrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
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
func (s *Sealer) Seal(ctx context.Context, userID string, plaintext []byte) (events.Sealed, error) {
	k, err := s.key(ctx, userID, true)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	box := k.aead.Seal(nonce, nonce, plaintext, []byte(userID))
	return events.Sealed("v1." + k.id + "." + base64.RawURLEncoding.EncodeToString(box)), nil
}

// Open decrypts a value sealed for userID. It returns ErrShredded when the value's
// data key has been destroyed.
func (s *Sealer) Open(ctx context.Context, userID string, v events.Sealed) ([]byte, error) {
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

// storedKey is a data key message as read from the key stream.
type storedKey struct {
	subject string
	seq     uint64
	data    []byte
}

// Rewrap wraps every data key under the master keys in use now (the current one
// and the previous ones still in their grace) and returns how many data keys there
// are. It is what makes a master key rotation take effect, and what retires a
// previous key once its grace is over.
//
// It is crash-safe: each data key is replaced by one publish that expects the old
// message as the subject's last, so at every moment a data key is stored wrapped
// either the old way or the new way, and the ring still holds every key either way
// needs (a previous key leaves the ring only after Rewrap finished, see
// RetireExpired). Running it again after a crash finishes the job. A data key
// destroyed meanwhile (a user forgotten) stays destroyed.
func (s *Sealer) Rewrap(ctx context.Context) (int, error) {
	var stored []storedKey
	if _, err := store.ScanStream(ctx, s.js, KeysStream, "", 1, nil, func(m store.RawMsg) error {
		stored = append(stored, storedKey{m.Subject, m.Seq, append([]byte(nil), m.Data...)})
		return nil
	}); err != nil {
		return 0, fmt.Errorf("read data keys: %w", err)
	}
	var errs []error
	n := 0
	for _, k := range stored {
		done, err := s.rewrapOne(ctx, k)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// rewrapOne re-wraps one data key, reading it again when another writer (another
// node's rotation) replaced it in between. It reports whether the key exists.
func (s *Sealer) rewrapOne(ctx context.Context, k storedKey) (bool, error) {
	userID := strings.TrimPrefix(k.subject, keysPrefix)
	for attempt := 0; attempt < 10; attempt++ {
		id, raw, wrappedBy, err := s.unwrap(userID, k.data)
		if err != nil {
			return false, err
		}
		want := s.ring.usable(s.clock())
		if len(wrappedBy) == len(want) && !slices.ContainsFunc(want, func(mk MasterKey) bool { return !slices.Contains(wrappedBy, mk.ID) }) {
			return true, nil
		}
		wrapped, err := s.wrap(userID, id, raw)
		if err != nil {
			return false, err
		}
		_, err = s.js.Publish(ctx, k.subject, wrapped, jetstream.WithExpectLastSequencePerSubject(k.seq))
		if err == nil {
			return true, nil
		}
		if !wrongLast(err) {
			return false, fmt.Errorf("re-wrap the data key of %s: %w", userID, err)
		}
		msg, err := s.stream.GetLastMsgForSubject(ctx, k.subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, nil // destroyed meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("re-read the data key of %s: %w", userID, err)
		}
		k = storedKey{k.subject, msg.Sequence, msg.Data}
	}
	return false, fmt.Errorf("re-wrap the data key of %s: %w", userID, ErrRewrapBusy)
}

// ErrRewrapBusy: a data key kept changing while it was being re-wrapped.
var ErrRewrapBusy = errors.New("the data key kept changing; run the rotation again")

// RetireExpired drops the previous master keys whose grace is over: first every
// data key is re-wrapped under the keys still in use, then the expired keys leave
// the ring and its file. It returns the ids of the keys dropped; with none expired
// it does nothing. Every node runs it now and then; running it on several nodes at
// once is safe.
func (s *Sealer) RetireExpired(ctx context.Context) ([]string, error) {
	now := s.clock()
	if !s.ring.expired(now) {
		return nil, nil
	}
	if _, err := s.Rewrap(ctx); err != nil {
		return nil, err
	}
	return s.ring.dropExpired(now)
}
