package jellyfin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"time"
)

// The types and functions in this file model Jellyfin's users and the
// access tokens ("devices") issued to them.

// user is an account. The password is kept as a salted hash so that the
// stand-in, shipped inside the binary for dev mode, never holds it in clear.
type user struct {
	id           string
	name         string
	admin        bool
	hasPassword  bool
	salt         [16]byte
	hash         [32]byte
	lastLogin    time.Time
	lastActivity time.Time

	// The lockout, as Jellyfin's UserManager keeps it (see lockout.go).
	invalidLogins int
	lockoutAfter  *int // LoginAttemptsBeforeLockout; nil is null: no lockout
	disabled      bool
	// policy holds the rest of the user's UserPolicy as last set.
	policy userPolicy
}

// device is an access token issued to a user, Jellyfin's Device entity.
type device struct {
	token        string
	userID       string
	appName      string
	appVersion   string
	deviceID     string
	deviceName   string
	created      time.Time
	lastActivity time.Time
	remote       string
}

// apiKey is a Jellyfin API key: a token that belongs to no user.
type apiKey struct {
	id      int64
	token   string
	name    string
	created time.Time
}

// userByNameLocked finds a user as Jellyfin's GetUserByName does, ignoring
// case.
func (s *Server) userByNameLocked(name string) *user {
	for _, u := range s.users {
		if equalFoldOrdinal(u.name, name) {
			return u
		}
	}
	return nil
}

func (u *user) checkPassword(password string) bool {
	if !u.hasPassword {
		return password == ""
	}
	h := passwordHash(u.salt, password)
	return subtle.ConstantTimeCompare(h[:], u.hash[:]) == 1
}

func passwordHash(salt [16]byte, password string) [32]byte {
	return sha256.Sum256(append(salt[:], password...))
}

// newSessionLocked issues a token as Jellyfin's SessionManager does after a
// successful sign-in: every earlier token of the same user on the same
// DeviceId is logged out first.
func (s *Server) newSessionLocked(u *user, creds Credentials, remote string) *device {
	for token, d := range s.tokens {
		if d.userID == u.id && d.deviceID == creds.DeviceID {
			delete(s.tokens, token)
		}
	}
	now := s.now()
	d := &device{
		token:        randomHex(16),
		userID:       u.id,
		appName:      creds.Client,
		appVersion:   creds.Version,
		deviceID:     creds.DeviceID,
		deviceName:   creds.Device,
		created:      now,
		lastActivity: now,
		remote:       remote,
	}
	s.tokens[d.token] = d
	u.lastLogin = now
	u.lastActivity = now
	return d
}

// authenticationResultLocked builds the body of a successful sign-in.
func (s *Server) authenticationResultLocked(u *user, d *device) authenticationResult {
	dto := s.userDto(u)
	session := s.sessionInfo(u, d)
	return authenticationResult{User: &dto, SessionInfo: &session, AccessToken: d.token, ServerID: s.serverID}
}

func (s *Server) sessionInfo(u *user, d *device) sessionInfoDto {
	return sessionInfoDto{
		PlayState:           playerStateInfo{RepeatMode: "RepeatNone", PlaybackOrder: "Default"},
		AdditionalUsers:     []any{},
		Capabilities:        clientCapabilitiesDto{PlayableMediaTypes: []string{}, SupportedCommands: []string{}, SupportsPersistentIdentifier: true},
		RemoteEndPoint:      d.remote,
		PlayableMediaTypes:  []string{},
		ID:                  sessionKey(d.appName, d.deviceID),
		UserID:              u.id,
		UserName:            u.name,
		Client:              d.appName,
		LastActivityDate:    jfTime(d.lastActivity),
		LastPlaybackCheckIn: zeroTime,
		DeviceName:          d.deviceName,
		DeviceID:            d.deviceID,
		ApplicationVersion:  d.appVersion,
		IsActive:            true,
		NowPlayingQueue:     []any{},
		ServerID:            s.serverID,
		SupportedCommands:   []string{},
	}
}

// sessionKey is Jellyfin's session id: a hash of the client name and device
// id, so one device running one client has one session.
func sessionKey(client, deviceID string) string {
	sum := sha256.Sum256([]byte(client + deviceID))
	return hex.EncodeToString(sum[:16])
}

func (s *Server) userDto(u *user) userDto {
	return userDto{
		Name:                  u.name,
		ServerID:              s.serverID,
		ID:                    u.id,
		HasPassword:           u.hasPassword,
		HasConfiguredPassword: u.hasPassword,
		LastLoginDate:         timeOrNil(u.lastLogin),
		LastActivityDate:      timeOrNil(u.lastActivity),
		Configuration:         defaultConfiguration(),
		Policy:                u.currentPolicy(),
	}
}

// defaultConfiguration is a new user's UserConfiguration.
func defaultConfiguration() userConfiguration {
	return userConfiguration{
		PlayDefaultAudioTrack:      true,
		GroupedFolders:             []string{},
		SubtitleMode:               "Default",
		OrderedViews:               []string{},
		LatestItemsExcludes:        []string{},
		MyMediaExcludes:            []string{},
		HidePlayedInLatest:         true,
		RememberAudioSelections:    true,
		RememberSubtitleSelections: true,
		EnableNextEpisodeAutoPlay:  true,
	}
}

// defaultPolicy is the UserPolicy of a user created with the given role.
func defaultPolicy(admin bool) userPolicy {
	return userPolicy{
		IsAdministrator:                  admin,
		BlockedTags:                      []string{},
		AllowedTags:                      []string{},
		EnableUserPreferenceAccess:       true,
		AccessSchedules:                  []any{},
		BlockUnratedItems:                []string{},
		EnableRemoteControlOfOtherUsers:  admin,
		EnableSharedDeviceControl:        true,
		EnableRemoteAccess:               true,
		EnableLiveTvManagement:           admin,
		EnableLiveTvAccess:               true,
		EnableMediaPlayback:              true,
		EnableAudioPlaybackTranscoding:   true,
		EnableVideoPlaybackTranscoding:   true,
		EnablePlaybackRemuxing:           true,
		EnableContentDeletion:            admin,
		EnableContentDeletionFromFolders: []string{},
		EnableContentDownloading:         true,
		EnableSyncTranscoding:            true,
		EnableMediaConversion:            true,
		EnabledDevices:                   []string{},
		EnableAllDevices:                 true,
		EnabledChannels:                  []string{},
		EnableAllChannels:                true,
		EnabledFolders:                   []string{},
		EnableAllFolders:                 true,
		LoginAttemptsBeforeLockout:       -1,
		EnablePublicSharing:              true,
		BlockedMediaFolders:              []string{},
		BlockedChannels:                  []string{},
		AuthenticationProviderID:         "Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider",
		PasswordResetProviderID:          "Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider",
		SyncPlayAccess:                   "CreateAndJoinGroups",
	}
}

// remoteIP is the TCP peer's address. Jellyfin reads X-Forwarded-For only
// from configured known proxies, and the stand-in has none.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
