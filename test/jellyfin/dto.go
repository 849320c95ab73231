package jellyfin

import (
	"time"
)

// The types in this file are the JSON bodies Jellyfin sends, named after the
// schemas of its OpenAPI document. Jellyfin writes PascalCase names, leaves
// out null values, writes GUIDs as 32 lower-case hex digits and writes
// times in UTC with seven fractional digits; the types keep those habits so
// that strict clients (the generated Go client refuses unknown UserPolicy
// fields) read them as they read Jellyfin.

// jfTime is a time written the way Jellyfin writes a DateTime.
type jfTime time.Time

// zeroTime is .NET's DateTime.MinValue, which Jellyfin writes for dates that
// were never set.
var zeroTime = jfTime(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))

func (t jfTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.0000000Z") + `"`), nil
}

func timeOrNil(t time.Time) *jfTime {
	if t.IsZero() {
		return nil
	}
	v := jfTime(t)
	return &v
}

// emptyGUID is Guid.Empty in Jellyfin's "N" format.
const emptyGUID = "00000000000000000000000000000000"

type authenticationResult struct {
	User        *userDto        `json:"User,omitempty"`
	SessionInfo *sessionInfoDto `json:"SessionInfo,omitempty"`
	AccessToken string          `json:"AccessToken,omitempty"`
	ServerID    string          `json:"ServerId,omitempty"`
}

type userDto struct {
	Name                      string            `json:"Name"`
	ServerID                  string            `json:"ServerId"`
	ID                        string            `json:"Id"`
	HasPassword               bool              `json:"HasPassword"`
	HasConfiguredPassword     bool              `json:"HasConfiguredPassword"`
	HasConfiguredEasyPassword bool              `json:"HasConfiguredEasyPassword"`
	EnableAutoLogin           bool              `json:"EnableAutoLogin"`
	LastLoginDate             *jfTime           `json:"LastLoginDate,omitempty"`
	LastActivityDate          *jfTime           `json:"LastActivityDate,omitempty"`
	Configuration             userConfiguration `json:"Configuration"`
	Policy                    userPolicy        `json:"Policy"`
}

type userConfiguration struct {
	PlayDefaultAudioTrack      bool     `json:"PlayDefaultAudioTrack"`
	SubtitleLanguagePreference string   `json:"SubtitleLanguagePreference"`
	DisplayMissingEpisodes     bool     `json:"DisplayMissingEpisodes"`
	GroupedFolders             []string `json:"GroupedFolders"`
	SubtitleMode               string   `json:"SubtitleMode"`
	DisplayCollectionsView     bool     `json:"DisplayCollectionsView"`
	EnableLocalPassword        bool     `json:"EnableLocalPassword"`
	OrderedViews               []string `json:"OrderedViews"`
	LatestItemsExcludes        []string `json:"LatestItemsExcludes"`
	MyMediaExcludes            []string `json:"MyMediaExcludes"`
	HidePlayedInLatest         bool     `json:"HidePlayedInLatest"`
	RememberAudioSelections    bool     `json:"RememberAudioSelections"`
	RememberSubtitleSelections bool     `json:"RememberSubtitleSelections"`
	EnableNextEpisodeAutoPlay  bool     `json:"EnableNextEpisodeAutoPlay"`
}

type userPolicy struct {
	IsAdministrator                  bool     `json:"IsAdministrator"`
	IsHidden                         bool     `json:"IsHidden"`
	EnableCollectionManagement       bool     `json:"EnableCollectionManagement"`
	EnableSubtitleManagement         bool     `json:"EnableSubtitleManagement"`
	EnableLyricManagement            bool     `json:"EnableLyricManagement"`
	IsDisabled                       bool     `json:"IsDisabled"`
	BlockedTags                      []string `json:"BlockedTags"`
	AllowedTags                      []string `json:"AllowedTags"`
	EnableUserPreferenceAccess       bool     `json:"EnableUserPreferenceAccess"`
	AccessSchedules                  []any    `json:"AccessSchedules"`
	BlockUnratedItems                []string `json:"BlockUnratedItems"`
	EnableRemoteControlOfOtherUsers  bool     `json:"EnableRemoteControlOfOtherUsers"`
	EnableSharedDeviceControl        bool     `json:"EnableSharedDeviceControl"`
	EnableRemoteAccess               bool     `json:"EnableRemoteAccess"`
	EnableLiveTvManagement           bool     `json:"EnableLiveTvManagement"`
	EnableLiveTvAccess               bool     `json:"EnableLiveTvAccess"`
	EnableMediaPlayback              bool     `json:"EnableMediaPlayback"`
	EnableAudioPlaybackTranscoding   bool     `json:"EnableAudioPlaybackTranscoding"`
	EnableVideoPlaybackTranscoding   bool     `json:"EnableVideoPlaybackTranscoding"`
	EnablePlaybackRemuxing           bool     `json:"EnablePlaybackRemuxing"`
	ForceRemoteSourceTranscoding     bool     `json:"ForceRemoteSourceTranscoding"`
	EnableContentDeletion            bool     `json:"EnableContentDeletion"`
	EnableContentDeletionFromFolders []string `json:"EnableContentDeletionFromFolders"`
	EnableContentDownloading         bool     `json:"EnableContentDownloading"`
	EnableSyncTranscoding            bool     `json:"EnableSyncTranscoding"`
	EnableMediaConversion            bool     `json:"EnableMediaConversion"`
	EnabledDevices                   []string `json:"EnabledDevices"`
	EnableAllDevices                 bool     `json:"EnableAllDevices"`
	EnabledChannels                  []string `json:"EnabledChannels"`
	EnableAllChannels                bool     `json:"EnableAllChannels"`
	EnabledFolders                   []string `json:"EnabledFolders"`
	EnableAllFolders                 bool     `json:"EnableAllFolders"`
	InvalidLoginAttemptCount         int      `json:"InvalidLoginAttemptCount"`
	LoginAttemptsBeforeLockout       int      `json:"LoginAttemptsBeforeLockout"`
	MaxActiveSessions                int      `json:"MaxActiveSessions"`
	EnablePublicSharing              bool     `json:"EnablePublicSharing"`
	BlockedMediaFolders              []string `json:"BlockedMediaFolders"`
	BlockedChannels                  []string `json:"BlockedChannels"`
	RemoteClientBitrateLimit         int      `json:"RemoteClientBitrateLimit"`
	AuthenticationProviderID         string   `json:"AuthenticationProviderId"`
	PasswordResetProviderID          string   `json:"PasswordResetProviderId"`
	SyncPlayAccess                   string   `json:"SyncPlayAccess"`
}

type sessionInfoDto struct {
	PlayState             playerStateInfo       `json:"PlayState"`
	AdditionalUsers       []any                 `json:"AdditionalUsers"`
	Capabilities          clientCapabilitiesDto `json:"Capabilities"`
	RemoteEndPoint        string                `json:"RemoteEndPoint,omitempty"`
	PlayableMediaTypes    []string              `json:"PlayableMediaTypes"`
	ID                    string                `json:"Id"`
	UserID                string                `json:"UserId"`
	UserName              string                `json:"UserName"`
	Client                string                `json:"Client"`
	LastActivityDate      jfTime                `json:"LastActivityDate"`
	LastPlaybackCheckIn   jfTime                `json:"LastPlaybackCheckIn"`
	DeviceName            string                `json:"DeviceName"`
	DeviceID              string                `json:"DeviceId"`
	ApplicationVersion    string                `json:"ApplicationVersion"`
	IsActive              bool                  `json:"IsActive"`
	SupportsMediaControl  bool                  `json:"SupportsMediaControl"`
	SupportsRemoteControl bool                  `json:"SupportsRemoteControl"`
	NowPlayingQueue       []any                 `json:"NowPlayingQueue"`
	HasCustomDeviceName   bool                  `json:"HasCustomDeviceName"`
	ServerID              string                `json:"ServerId"`
	SupportedCommands     []string              `json:"SupportedCommands"`
}

type playerStateInfo struct {
	CanSeek       bool   `json:"CanSeek"`
	IsPaused      bool   `json:"IsPaused"`
	IsMuted       bool   `json:"IsMuted"`
	RepeatMode    string `json:"RepeatMode"`
	PlaybackOrder string `json:"PlaybackOrder"`
}

type clientCapabilitiesDto struct {
	PlayableMediaTypes           []string `json:"PlayableMediaTypes"`
	SupportedCommands            []string `json:"SupportedCommands"`
	SupportsMediaControl         bool     `json:"SupportsMediaControl"`
	SupportsPersistentIdentifier bool     `json:"SupportsPersistentIdentifier"`
}

type quickConnectResult struct {
	Authenticated bool   `json:"Authenticated"`
	Secret        string `json:"Secret"`
	Code          string `json:"Code"`
	DeviceID      string `json:"DeviceId"`
	DeviceName    string `json:"DeviceName"`
	AppName       string `json:"AppName"`
	AppVersion    string `json:"AppVersion"`
	DateAdded     jfTime `json:"DateAdded"`
}

type publicSystemInfo struct {
	LocalAddress           string `json:"LocalAddress,omitempty"`
	ServerName             string `json:"ServerName"`
	Version                string `json:"Version"`
	ProductName            string `json:"ProductName"`
	ID                     string `json:"Id"`
	StartupWizardCompleted bool   `json:"StartupWizardCompleted"`
}

type authenticationInfoQueryResult struct {
	Items            []authenticationInfo `json:"Items"`
	TotalRecordCount int                  `json:"TotalRecordCount"`
	StartIndex       int                  `json:"StartIndex"`
}

type authenticationInfo struct {
	ID               int64  `json:"Id"`
	AccessToken      string `json:"AccessToken"`
	DeviceID         string `json:"DeviceId"`
	AppName          string `json:"AppName"`
	AppVersion       string `json:"AppVersion"`
	DeviceName       string `json:"DeviceName"`
	UserID           string `json:"UserId"`
	IsActive         bool   `json:"IsActive"`
	DateCreated      jfTime `json:"DateCreated"`
	DateLastActivity jfTime `json:"DateLastActivity"`
}

type baseItemDto struct {
	Name              string            `json:"Name"`
	ServerID          string            `json:"ServerId"`
	ID                string            `json:"Id"`
	DateCreated       jfTime            `json:"DateCreated"`
	CanDelete         bool              `json:"CanDelete"`
	CanDownload       bool              `json:"CanDownload"`
	Container         string            `json:"Container"`
	SortName          string            `json:"SortName"`
	ProductionYear    int               `json:"ProductionYear"`
	RunTimeTicks      int64             `json:"RunTimeTicks"`
	IsFolder          bool              `json:"IsFolder"`
	Type              string            `json:"Type"`
	LocationType      string            `json:"LocationType"`
	MediaType         string            `json:"MediaType"`
	VideoType         string            `json:"VideoType"`
	Width             int               `json:"Width"`
	Height            int               `json:"Height"`
	ImageTags         map[string]string `json:"ImageTags"`
	BackdropImageTags []string          `json:"BackdropImageTags"`
}

// problemDetails is ASP.NET Core's RFC 9457 error body, which Jellyfin's
// OpenAPI document declares for its 4xx answers.
type problemDetails struct {
	Type    string              `json:"type"`
	Title   string              `json:"title"`
	Status  int                 `json:"status"`
	Detail  string              `json:"detail,omitempty"`
	Errors  map[string][]string `json:"errors,omitempty"`
	TraceID string              `json:"traceId"`
}
