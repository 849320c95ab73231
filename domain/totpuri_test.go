package domain

import (
	"math/rand/v2"
	"testing"
)

func TestTOTPURIRebuildsTheEnrollmentURI(t *testing.T) {
	key, err := NewTOTPSecret("Jellyfin", "alice", rand.NewChaCha8([32]byte{7}))
	if err != nil {
		t.Fatal(err)
	}
	if got := TOTPURI("Jellyfin", "alice", key.Secret); got != key.URI {
		t.Fatalf("rebuilt URI\n%s\nwant\n%s", got, key.URI)
	}
}
