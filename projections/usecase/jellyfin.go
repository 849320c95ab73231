package usecase

import (
	"context"
	"encoding/json"

	"github.com/jfguard/jfguard/http/upstream"
)

// Jellyfin is what the use cases ask of Jellyfin (http/upstream's client).
type Jellyfin interface {
	// HasAdminKey: an admin API key is configured (Quick Connect minting, user
	// policies).
	HasAdminKey() bool
	Users(ctx context.Context) ([]upstream.User, error)
	UserPolicy(ctx context.Context, id string) (json.RawMessage, error)
	SetUserPolicy(ctx context.Context, id string, policy json.RawMessage) error
	Logout(ctx context.Context, token string) error
	// Devices lists Jellyfin's devices with their tokens (admin key).
	Devices(ctx context.Context) ([]upstream.DeviceSession, error)
	// MintSession makes a real Jellyfin session for a user through Quick Connect,
	// for the device given, and returns the AuthenticationResult as Jellyfin wrote it.
	MintSession(ctx context.Context, userID, client, device, deviceID, version string) ([]byte, upstream.AuthResult, error)
	// AuthorizeQuickConnect approves a Quick Connect code with a user's token.
	AuthorizeQuickConnect(ctx context.Context, token, code string) error
	// Me is the user a token belongs to.
	Me(ctx context.Context, token string) (upstream.User, error)
}

// The client jfguard uses is the one in http/upstream.
var _ Jellyfin = (*upstream.Client)(nil)
