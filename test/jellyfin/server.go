package jellyfin

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a stand-in server. The zero value is a Jellyfin 12.0
// server with default settings: legacy authorization off and Quick Connect
// off.
type Options struct {
	// ServerID is the server's id, 32 hex digits; random when empty. New
	// panics on any other value.
	ServerID string
	// ServerName defaults to "Jellyfin Stand-in".
	ServerName string
	// Version is the reported server version; defaults to "12.0.0".
	Version string
	// QuickConnect turns Quick Connect on (Jellyfin's QuickConnectAvailable).
	QuickConnect bool
	// LegacyAuthorization is Jellyfin's EnableLegacyAuthorization: when on,
	// the Emby scheme, X-Emby-Authorization, X-Emby-Token,
	// X-MediaBrowser-Token and ?api_key= are honoured too. Jellyfin 12.0
	// turns it off by default; 10.11 had it on.
	LegacyAuthorization bool
	// AnonymousStreams serves /Videos/{itemId}/stream without a token, as
	// Jellyfin 12.0 really does (its OpenAPI document gives the stream
	// endpoints no security requirement). By default the stand-in requires
	// a token there, so tests can see credentials travel with a stream.
	AnonymousStreams bool
	// DisableCompression stops the stand-in from compressing responses.
	// Jellyfin compresses text and JSON responses over plain HTTP whenever
	// the client accepts it (ASP.NET Core response compression with its
	// defaults), and so does the stand-in unless this is set.
	DisableCompression bool
	// MediaSize is the size in bytes of the media item's synthetic body;
	// defaults to 8 MiB.
	MediaSize int64
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Server is the stand-in Jellyfin. It is an http.Handler; create it with New.
type Server struct {
	serverID   string
	serverName string
	version    string
	mediaSize  int64
	itemID     string
	started    time.Time
	now        func() time.Time
	compress   bool
	anonStream bool
	routes     []route

	// closing is cancelled by Close to end open WebSockets.
	closing     context.Context
	closeSocket context.CancelFunc

	mu            sync.Mutex
	legacy        bool
	quickConnect  bool
	users         map[string]*user // by id
	tokens        map[string]*device
	apiKeys       map[string]*apiKey
	nextAPIKeyID  int64
	qcRequests    map[string]*qcRequest // by code
	qcAuthorized  map[string]qcAuthorization
	requestHooks  []func(*http.Request)
	socketsClosed bool
}

// User is an account on the stand-in server.
type User struct {
	// ID is 32 lower-case hex digits, Jellyfin's "N" format for a GUID.
	ID    string
	Name  string
	Admin bool
}

// Session is a live access token for a user, with the client details it was
// issued to. Jellyfin stores these as "devices"; signing in again from the
// same DeviceId replaces the user's earlier token for that device.
type Session struct {
	Token    string
	UserID   string
	Client   string
	Device   string
	DeviceID string
	Version  string
	Created  time.Time
}

// New returns a stand-in server with no users, no API keys and one media
// item.
func New(opts Options) *Server {
	s := &Server{
		serverID:     opts.ServerID,
		serverName:   opts.ServerName,
		version:      opts.Version,
		mediaSize:    opts.MediaSize,
		now:          opts.Now,
		compress:     !opts.DisableCompression,
		anonStream:   opts.AnonymousStreams,
		legacy:       opts.LegacyAuthorization,
		quickConnect: opts.QuickConnect,
		users:        map[string]*user{},
		tokens:       map[string]*device{},
		apiKeys:      map[string]*apiKey{},
		qcRequests:   map[string]*qcRequest{},
		qcAuthorized: map[string]qcAuthorization{},
		itemID:       randomHex(16),
	}
	if s.serverID == "" {
		s.serverID = randomHex(16)
	}
	if id, ok := parseGUID(s.serverID); ok && len(s.serverID) == 32 {
		s.serverID = id
	} else {
		panic(fmt.Sprintf("jellyfin: Options.ServerID %q is not 32 hex digits", opts.ServerID))
	}
	if s.serverName == "" {
		s.serverName = "Jellyfin Stand-in"
	}
	if s.version == "" {
		s.version = "12.0.0"
	}
	if s.mediaSize <= 0 {
		s.mediaSize = 8 << 20
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	s.closing, s.closeSocket = context.WithCancel(context.Background())
	s.routes = s.routeTable()
	return s
}

// AddUser creates a user. An empty password means the user has none, and
// then only an empty password signs in, as in Jellyfin. User names are
// unique ignoring case, as in Jellyfin; adding a taken name panics, because
// it is a mistake in the caller's setup.
func (s *Server) AddUser(name, password string, admin bool) User {
	u := &user{id: randomHex(16), name: name, admin: admin, hasPassword: password != "", policy: defaultPolicy(admin)}
	if _, err := rand.Read(u.salt[:]); err != nil {
		panic(err)
	}
	u.hash = passwordHash(u.salt, password)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userByNameLocked(name) != nil {
		panic(fmt.Sprintf("jellyfin: a user named %q already exists", name))
	}
	s.users[u.id] = u
	return User{ID: u.id, Name: u.name, Admin: u.admin}
}

// CreateAPIKey creates a Jellyfin API key: a token that belongs to no user
// and that Jellyfin treats as an administrator everywhere.
func (s *Server) CreateAPIKey(app string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createAPIKeyLocked(app)
}

func (s *Server) createAPIKeyLocked(app string) string {
	s.nextAPIKeyID++
	k := &apiKey{id: s.nextAPIKeyID, token: randomHex(16), name: app, created: s.now()}
	s.apiKeys[k.token] = k
	return k.token
}

// SetQuickConnect turns Quick Connect on or off, as the admin dashboard does.
func (s *Server) SetQuickConnect(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quickConnect = enabled
}

// SetLegacyAuthorization changes Jellyfin's EnableLegacyAuthorization.
func (s *Server) SetLegacyAuthorization(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacy = enabled
}

// ServerID returns the server's id as clients see it in ServerId fields.
func (s *Server) ServerID() string { return s.serverID }

// MediaItemID returns the id of the server's one media item.
func (s *Server) MediaItemID() string { return s.itemID }

// MediaSize returns the size in bytes of the media item's body.
func (s *Server) MediaSize() int64 { return s.mediaSize }

// TokenActive reports whether token is a live user session (not an API key).
func (s *Server) TokenActive(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[token]
	return ok
}

// RevokeToken ends a session as an administrator does from the dashboard's
// device list. It reports whether the token was live.
func (s *Server) RevokeToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[token]
	delete(s.tokens, token)
	return ok
}

// Sessions returns the live user sessions, oldest first.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.tokens))
	for _, d := range s.tokens {
		out = append(out, Session{
			Token:    d.token,
			UserID:   d.userID,
			Client:   d.appName,
			Device:   d.deviceName,
			DeviceID: d.deviceID,
			Version:  d.appVersion,
			Created:  d.created,
		})
	}
	slices.SortFunc(out, func(a, b Session) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Token, b.Token)
	})
	return out
}

// OnRequest registers fn to be called with every request the server
// receives, before it is handled, so tests can see what reached Jellyfin
// (method, path, query, headers such as Accept-Encoding and
// X-Forwarded-For). fn must not read the request body and must be safe for
// concurrent calls.
func (s *Server) OnRequest(fn func(r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requestHooks = append(s.requestHooks, fn)
}

// Close ends every open WebSocket with "going away" and refuses new ones.
// An http.Server does not track hijacked connections, so without Close a
// shutdown would leave sockets open.
func (s *Server) Close() error {
	s.mu.Lock()
	s.socketsClosed = true
	s.mu.Unlock()
	s.closeSocket()
	return nil
}

// ServeHTTP dispatches a request to the stand-in's routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hooks := s.requestHooks
	s.mu.Unlock()
	for _, fn := range hooks {
		fn(r)
	}
	r = withoutDotSegments(r)
	if s.compress && r.TLS == nil && !isWebSocketUpgrade(r) {
		cw := newCompressWriter(w, r)
		defer cw.Close()
		w = cw
	}
	s.dispatch(w, r)
}
