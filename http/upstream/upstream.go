// Package upstream is jfguard's side of the upstream Jellyfin: its own API client
// (Quick Connect sessions minted with the admin API key, /Users/Me, the API key list,
// logout, …) and the grammar of the credentials Jellyfin accepts (Authorization,
// X-Emby-Authorization, X-Emby-Token, X-MediaBrowser-Token, ApiKey, api_key), read the
// way Jellyfin reads them.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client is jfguard's own client of the upstream Jellyfin: logging tokens out,
// asking who a token belongs to, listing API keys and devices, and minting sessions
// through Quick Connect with the admin API key.
type Client struct {
	base    *url.URL
	hc      *http.Client
	apiKey  string // the admin API key (a master key: never logged)
	version string // jfguard's version, sent in its own authorization header
}

// NewClient returns a client of the Jellyfin at base. apiKey is the admin API key,
// "" when none is configured; version is jfguard's version, which the client sends
// as its own in the authorization header.
func NewClient(base *url.URL, apiKey, version string) *Client {
	return &Client{
		base:    base,
		apiKey:  apiKey,
		version: version,
		hc: &http.Client{
			Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// User is the part of Jellyfin's UserDto jfguard uses.
type User struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Policy struct {
		IsAdministrator bool `json:"IsAdministrator"`
		IsDisabled      bool `json:"IsDisabled"`
	} `json:"Policy"`
}

// AuthResult is the part of Jellyfin's AuthenticationResult jfguard uses.
type AuthResult struct {
	User        User   `json:"User"`
	AccessToken string `json:"AccessToken"`
	ServerID    string `json:"ServerId"`
}

// StatusError is a non-2xx answer from Jellyfin.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("jellyfin answered %d: %s", e.Status, e.Body)
}

// AuthHeader builds a MediaBrowser authorization header the way Jellyfin's own web
// client does (values URL-encoded and quoted). token is left out when "".
func AuthHeader(client, device, deviceID, version, token string) string {
	var b strings.Builder
	b.WriteString("MediaBrowser ")
	add := func(k, v string, comma bool) {
		if comma {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(url.QueryEscape(v))
		b.WriteString(`"`)
	}
	add("Client", client, false)
	add("Device", device, true)
	add("DeviceId", deviceID, true)
	add("Version", version, true)
	if token != "" {
		add("Token", token, true)
	}
	return b.String()
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, header string, body any, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("jellyfin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("jellyfin %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Status: resp.StatusCode, Body: strings.TrimSpace(string(data[:min(len(data), 200)]))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("jellyfin %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

const (
	ownClient   = "jfguard"
	ownDevice   = "jfguard"
	ownDeviceID = "jfguard-gateway"
)

func (c *Client) tokenHeader(token string) string {
	return AuthHeader(ownClient, ownDevice, ownDeviceID, c.version, token)
}

// Logout ends a token's session at Jellyfin.
func (c *Client) Logout(ctx context.Context, token string) error {
	err := c.do(ctx, http.MethodPost, "/Sessions/Logout", nil, c.tokenHeader(token), nil, nil)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		return nil // already gone
	}
	return err
}

// Me asks Jellyfin who a token belongs to.
func (c *Client) Me(ctx context.Context, token string) (User, error) {
	var u User
	err := c.do(ctx, http.MethodGet, "/Users/Me", nil, c.tokenHeader(token), nil, &u)
	return u, err
}

// HasAdminKey reports whether an admin API key is configured.
func (c *Client) HasAdminKey() bool { return c.apiKey != "" }

// APIKeys lists Jellyfin's API keys (tokens with no user).
func (c *Client) APIKeys(ctx context.Context) ([]string, error) {
	if c.apiKey == "" {
		return nil, ErrNoAdminKey
	}
	var res struct {
		Items []struct {
			AccessToken string `json:"AccessToken"`
		} `json:"Items"`
	}
	if err := c.do(ctx, http.MethodGet, "/Auth/Keys", nil, c.tokenHeader(c.apiKey), nil, &res); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(res.Items)+1)
	for _, it := range res.Items {
		if it.AccessToken != "" {
			keys = append(keys, it.AccessToken)
		}
	}
	return keys, nil
}

// DeviceSession is a signed-in device as Jellyfin lists it.
type DeviceSession struct {
	AccessToken string `json:"AccessToken"`
	ID          string `json:"Id"`
	Name        string `json:"Name"`
	AppName     string `json:"AppName"`
	AppVersion  string `json:"AppVersion"`
	LastUserID  string `json:"LastUserId"`
	LastUser    string `json:"LastUserName"`
}

// Devices lists every device with a session (admin key required).
func (c *Client) Devices(ctx context.Context) ([]DeviceSession, error) {
	if c.apiKey == "" {
		return nil, ErrNoAdminKey
	}
	var res struct {
		Items []DeviceSession `json:"Items"`
	}
	err := c.do(ctx, http.MethodGet, "/Devices", nil, c.tokenHeader(c.apiKey), nil, &res)
	return res.Items, err
}

// User fetches a user by id with the admin key.
func (c *Client) User(ctx context.Context, id string) (User, error) {
	var u User
	if c.apiKey == "" {
		return u, ErrNoAdminKey
	}
	err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(id), nil, c.tokenHeader(c.apiKey), nil, &u)
	return u, err
}

// ErrNoAdminKey is returned by the calls that need the admin API key when none is
// configured.
var ErrNoAdminKey = errors.New("no Jellyfin admin API key configured (jellyfin.api_key_file)")

// Users lists Jellyfin's users: every user with the admin key; without it, the
// public list that sign-in screens show (users neither hidden nor disabled).
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var users []User
	if c.apiKey == "" {
		err := c.do(ctx, http.MethodGet, "/Users/Public", nil, c.tokenHeader(""), nil, &users)
		return users, err
	}
	err := c.do(ctx, http.MethodGet, "/Users", nil, c.tokenHeader(c.apiKey), nil, &users)
	return users, err
}

// UserPolicy reads a user's whole UserPolicy with the admin key, as Jellyfin wrote
// it, so it can be posted back with one field changed and nothing else lost.
func (c *Client) UserPolicy(ctx context.Context, id string) (json.RawMessage, error) {
	if c.apiKey == "" {
		return nil, ErrNoAdminKey
	}
	var u struct {
		Policy json.RawMessage `json:"Policy"`
	}
	if err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(id), nil, c.tokenHeader(c.apiKey), nil, &u); err != nil {
		return nil, err
	}
	if len(u.Policy) == 0 || u.Policy[0] != '{' {
		return nil, errors.New("jellyfin GET /Users/{id}: no policy in the answer")
	}
	return u.Policy, nil
}

// SetUserPolicy replaces a user's UserPolicy with the admin key. Jellyfin replaces
// every field, InvalidLoginAttemptCount and IsDisabled included.
func (c *Client) SetUserPolicy(ctx context.Context, id string, policy json.RawMessage) error {
	if c.apiKey == "" {
		return ErrNoAdminKey
	}
	return c.do(ctx, http.MethodPost, "/Users/"+url.PathEscape(id)+"/Policy", nil, c.tokenHeader(c.apiKey), policy, nil)
}

// QuickConnectEnabled asks whether Quick Connect is on.
func (c *Client) QuickConnectEnabled(ctx context.Context) (bool, error) {
	var on bool
	err := c.do(ctx, http.MethodGet, "/QuickConnect/Enabled", nil, c.tokenHeader(""), nil, &on)
	return on, err
}

// AuthorizeQuickConnect authorizes a Quick Connect code for the user of token.
func (c *Client) AuthorizeQuickConnect(ctx context.Context, token, code string) error {
	return c.do(ctx, http.MethodPost, "/QuickConnect/Authorize", url.Values{"code": {code}}, c.tokenHeader(token), nil, nil)
}

// MintSession creates a real Jellyfin session for a user through Quick Connect with
// the admin API key, carrying the app's own device headers (Jellyfin creates the
// token at Authorize time from the headers captured at Initiate). It returns the raw
// AuthenticationResult body, exactly what AuthenticateByName would have answered.
func (c *Client) MintSession(ctx context.Context, userID, client, device, deviceID, version string) ([]byte, AuthResult, error) {
	if c.apiKey == "" {
		return nil, AuthResult{}, ErrNoAdminKey
	}
	appHeader := AuthHeader(client, device, deviceID, version, "")
	var qc struct {
		Secret string `json:"Secret"`
		Code   string `json:"Code"`
	}
	if err := c.do(ctx, http.MethodPost, "/QuickConnect/Initiate", nil, appHeader, nil, &qc); err != nil {
		return nil, AuthResult{}, fmt.Errorf("quick connect initiate: %w", err)
	}
	q := url.Values{"code": {qc.Code}, "userId": {userID}}
	if err := c.do(ctx, http.MethodPost, "/QuickConnect/Authorize", q, c.tokenHeader(c.apiKey), nil, nil); err != nil {
		return nil, AuthResult{}, fmt.Errorf("quick connect authorize: %w", err)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/Users/AuthenticateWithQuickConnect", nil, appHeader, map[string]string{"Secret": qc.Secret}, &raw); err != nil {
		return nil, AuthResult{}, fmt.Errorf("quick connect authenticate: %w", err)
	}
	var res AuthResult
	if err := json.Unmarshal(raw, &res); err != nil || res.AccessToken == "" {
		return nil, AuthResult{}, errors.New("quick connect authenticate: no access token in the answer")
	}
	return raw, res, nil
}
