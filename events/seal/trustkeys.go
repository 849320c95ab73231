package seal

import (
	"fmt"
	"github.com/jfguard/jfguard/events"
	"time"
)

// TrustKeyGeneration is one generation of the trust-cookie key.
type TrustKeyGeneration struct {
	Generation int
	// MasterKeyID names the master key the generation's key is derived from;
	// empty for generation 0 before any rotation, which uses the current one.
	MasterKeyID string
	// Until is when a previous generation stops being accepted; zero for the
	// current one.
	Until time.Time
}

// maxPreviousTrustKeys bounds the previous generations kept: rotations more
// frequent than their grace are odd, and the oldest are over by then anyway.
const maxPreviousTrustKeys = 8

// TrustKeyState is the trust-cookie key as the stream records it: the current
// generation and the previous ones, folded from trust_key_rotated. Every node
// folds the same events, so every node signs with the same key and accepts the
// same previous ones, whichever node rotated.
type TrustKeyState struct {
	Current  TrustKeyGeneration
	Previous []TrustKeyGeneration
}

// Apply folds a rotation. A rotation to a generation that is not newer changes
// nothing: two nodes rotating at once both record the next generation, derived
// from the same master key, hence the same key.
func (s *TrustKeyState) Apply(e *events.TrustKeyRotated) {
	if e.Generation <= s.Current.Generation {
		return
	}
	prev := s.Current
	if prev.MasterKeyID == "" {
		prev.MasterKeyID = e.PreviousMasterKeyID
	}
	prev.Until = e.PreviousValidUntil
	s.Previous = append(s.Previous, prev)
	if len(s.Previous) > maxPreviousTrustKeys {
		s.Previous = append([]TrustKeyGeneration(nil), s.Previous[len(s.Previous)-maxPreviousTrustKeys:]...)
	}
	s.Current = TrustKeyGeneration{Generation: e.Generation, MasterKeyID: e.MasterKeyID}
}

// Keys derives the keys in force at now from the master keyring: the current
// generation's, and those of previous generations still in their grace. A
// generation whose master key the ring does not hold (this node has not been
// given the new master key yet) has no key here.
func (s TrustKeyState) Keys(ring *MasterKeyring, now time.Time) (current []byte, previous [][]byte) {
	current, _ = trustKey(ring, s.Current)
	for _, p := range s.Previous {
		if !now.Before(p.Until) {
			continue
		}
		if k, ok := trustKey(ring, p); ok {
			previous = append(previous, k)
		}
	}
	return current, previous
}

func trustKey(ring *MasterKeyring, g TrustKeyGeneration) ([]byte, bool) {
	id := g.MasterKeyID
	if id == "" {
		id = ring.Current().ID
	}
	return ring.Derive(id, fmt.Sprintf("jfguard trust cookie v2 generation %d", g.Generation))
}

// Clone returns a copy that shares nothing with s.
func (s TrustKeyState) Clone() TrustKeyState {
	s.Previous = append([]TrustKeyGeneration(nil), s.Previous...)
	return s
}
