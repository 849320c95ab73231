package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gregdhill/go-openrpc/types"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// JSON-RPC 2.0 error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcMethodNotFound = -32601
	rpcInvalidParams  = -32602
	rpcInternalError  = -32603
	rpcNotFound       = -32004
	rpcConflict       = -32009
)

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *types.Error    `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// rpcError is an error with a JSON-RPC code.
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string { return e.msg }

func invalidParams(format string, args ...any) error {
	return &rpcError{rpcInvalidParams, fmt.Sprintf(format, args...)}
}

// rpcHandler serves one method for an administrator, with the request's params.
type rpcHandler func(ctx context.Context, admin usecase.Admin, params json.RawMessage) (any, error)

// rpcMethod is a control API method. Methods change state unless marked read-only:
// a new method is an account change until someone decides otherwise.
type rpcMethod struct {
	call     rpcHandler
	readOnly bool
}

// rpcMaxBody is the largest control API request body, a batch included.
const rpcMaxBody = 1 << 20

// rpcStepUp is the JSON-RPC error code of a refused state change: the session has no
// recent second factor (or is a device's); data says which, as the self-service API
// does.
const rpcStepUp = -32001

// LoadOpenRPC parses the OpenRPC document (docs/openrpc.json), for Options.OpenRPC.
func LoadOpenRPC(doc []byte) (*types.OpenRPCSpec1, error) {
	spec := types.NewOpenRPCSpec1()
	if err := json.Unmarshal(doc, spec); err != nil {
		return nil, fmt.Errorf("openrpc document: %w", err)
	}
	return spec, nil
}

// RPCMethods lists the methods the control API serves, sorted.
func (s *Server) RPCMethods() []string {
	var out []string
	for name := range s.rpcTable() {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// rpcTable is every control API method.
func (s *Server) rpcTable() map[string]rpcMethod {
	read := func(h rpcHandler) rpcMethod { return rpcMethod{call: h, readOnly: true} }
	change := func(h rpcHandler) rpcMethod { return rpcMethod{call: h} }
	return map[string]rpcMethod{
		"notify.test":          change(s.rpcNotifyTest),
		"notify.test_email":    change(s.rpcNotifyTestEmail),
		"notify.status":        read(s.rpcNotifyStatus),
		"rpc.discover":         read(s.rpcDiscover),
		"system.status":        read(s.rpcStatus),
		"system.doctor":        read(s.rpcDoctor),
		"users.list":           read(s.rpcUsersList),
		"users.get":            read(s.rpcUserGet),
		"users.reset":          change(s.rpcUserReset),
		"users.forget":         change(s.rpcUserForget),
		"users.revoke_all":     change(s.rpcUserRevokeAll),
		"passwords.release":    change(s.rpcReleasePasswordHold),
		"bans.list":            read(s.rpcBansList),
		"bans.add":             change(s.rpcBan),
		"bans.remove":          change(s.rpcUnban),
		"settings.get":         read(s.rpcSettingsGet),
		"settings.set":         change(s.rpcSettingsSet),
		"sessions.adopt":       change(s.rpcSessionsAdopt),
		"audit.checkpoint":     change(s.rpcAuditCheckpoint),
		"audit.query":          read(s.rpcAuditQuery),
		"audit.verify":         read(s.rpcAuditVerify),
		"replay.at":            read(s.rpcReplayAt),
		"audit.public_key":     read(s.rpcAuditPublicKey),
		"api_keys.usage":       read(s.rpcAPIKeyUsage),
		"devices.revoke":       change(s.rpcDeviceRevoke),
		"devices.preapprove":   change(s.rpcDevicePreapprove),
		"keys.rotate":          change(s.rpcKeysRotate),
		"subscribers.add":      change(s.rpcSubscribersAdd),
		"subscribers.list":     read(s.rpcSubscribersList),
		"subscribers.remove":   change(s.rpcSubscribersRemove),
		"users.set_networks":   change(s.rpcUserSetNetworks),
		"sessions.revoke":      change(s.rpcSessionRevoke),
		"app_passwords.revoke": change(s.rpcAppPasswordRevoke),
		"pairings.answer":      change(s.rpcPairingAnswer),
		"challenges.list":      read(s.rpcChallengesList),
		"challenges.end":       change(s.rpcChallengeEnd),
	}
}

// handleRPC serves JSON-RPC 2.0 (single requests and batches) to administrators.
func (s *Server) handleRPC(c *gin.Context) {
	caller, ok := s.adminCaller(c.Request)
	if !ok && s.isAuditor(c.Request) {
		caller, ok = adminCaller{auditor: true}, true
	}
	if !ok {
		c.JSON(http.StatusForbidden, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcInvalidRequest, Message: "administrators only"}, ID: json.RawMessage("null")})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, rpcMaxBody))
	if err != nil {
		msg := "cannot read the request body: " + err.Error()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			msg = fmt.Sprintf("request body too large: the control API accepts at most %d bytes", tooLarge.Limit)
		}
		c.JSON(http.StatusOK, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcParseError, Message: msg}, ID: json.RawMessage("null")})
		return
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		var reqs []rpcRequest
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) == 0 {
			c.JSON(http.StatusOK, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcParseError, Message: "invalid batch"}, ID: json.RawMessage("null")})
			return
		}
		out := make([]rpcResponse, 0, len(reqs))
		for _, r := range reqs {
			out = append(out, s.rpcCall(c, caller, r))
		}
		c.JSON(http.StatusOK, out)
		return
	}
	var req rpcRequest
	if err := json.Unmarshal(body, &req); err != nil {
		c.JSON(http.StatusOK, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcParseError, Message: "invalid JSON"}, ID: json.RawMessage("null")})
		return
	}
	resp := s.rpcCall(c, caller, req)
	status := http.StatusOK
	if resp.Error != nil && (resp.Error.Code == rpcStepUp || resp.Error.Code == rpcForbidden) {
		status = http.StatusForbidden
	}
	c.JSON(status, resp)
}

func (s *Server) rpcCall(c *gin.Context, caller adminCaller, req rpcRequest) rpcResponse {
	ctx := c.Request.Context()
	creds, _ := upstream.ExtractCredentials(c.Request)
	admin := usecase.Admin{UserID: caller.userID, TokenHash: caller.tokenHash, Caller: callerOf(clientAddr(c), creds)}
	resp := rpcResponse{JSONRPC: "2.0", ID: req.ID}
	if resp.ID == nil {
		resp.ID = json.RawMessage("null")
	}
	if req.JSONRPC != "2.0" || req.Method == "" {
		resp.Error = &types.Error{Code: rpcInvalidRequest, Message: `not a JSON-RPC 2.0 request (need "jsonrpc":"2.0" and a method)`}
		return resp
	}
	h, ok := s.rpcTable()[req.Method]
	if !ok {
		resp.Error = &types.Error{Code: rpcMethodNotFound, Message: "no method " + req.Method + "; rpc.discover lists them"}
		return resp
	}
	if !h.readOnly && caller.auditor {
		resp.Error = &types.Error{Code: rpcForbidden, Message: msgAuditorReadOnly(req.Method)}
		return resp
	}
	if !h.readOnly && !caller.token {
		if err := s.app.AuthorizeAdmin(ctx, admin); err != nil {
			resp.Error = s.rpcRefusal(err)
			return resp
		}
	}
	res, err := h.call(ctx, admin, req.Params)
	if err != nil {
		resp.Error = s.rpcErrorOf(req.Method, err)
		return resp
	}
	resp.Result = res
	return resp
}

// rpcErrorOf maps a method's error to its JSON-RPC error: the one place the control
// API's errors get their codes.
func (s *Server) rpcErrorOf(method string, err error) *types.Error {
	var re *rpcError
	switch {
	case errors.As(err, &re):
		return &types.Error{Code: re.code, Message: re.msg}
	case errors.Is(err, domain.ErrBanTarget):
		return &types.Error{Code: rpcInvalidParams, Message: "ip " + strings.TrimPrefix(err.Error(), domain.ErrBanTarget.Error()+": ")}
	case errors.Is(err, domain.ErrSubscriberName):
		return &types.Error{Code: rpcInvalidParams, Message: err.Error()}
	case errors.Is(err, domain.ErrSubscriberExists), errors.Is(err, usecase.ErrAlreadyAdopted):
		return &types.Error{Code: rpcConflict, Message: err.Error()}
	case errors.Is(err, domain.ErrNotFound):
		return &types.Error{Code: rpcNotFound, Message: err.Error()}
	}
	s.log.Error("control API", "method", method, "err", err)
	return &types.Error{Code: rpcInternalError, Message: err.Error()}
}

// rpcRefusal is the JSON-RPC error of a refused state change: the self-service
// API's answer to the same refusal (step_up_required, device_session,
// second_factor_required) as its data.
func (s *Server) rpcRefusal(err error) *types.Error {
	if isStepUpRefusal(err) {
		a := s.errorAnswer(err, nil)
		return &types.Error{Code: rpcStepUp, Message: a.Message, Data: a.body()}
	}
	return &types.Error{Code: rpcInternalError, Message: err.Error()}
}

// params decodes named parameters (an object) into T.
func params[T any](raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 || string(raw) == "null" {
		return v, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, invalidParams("params: %v", err)
	}
	return v, nil
}

func (s *Server) rpcDiscover(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	if s.opts.OpenRPC == nil {
		return nil, errors.New("the OpenRPC document is not loaded")
	}
	return s.opts.OpenRPC, nil
}

func (s *Server) rpcStatus(ctx context.Context, _ usecase.Admin, _ json.RawMessage) (any, error) {
	last, err := s.opts.Store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	var users, addrs int
	var forged uint64
	var counts map[events.Type]uint64
	s.read(func(st *projections.State) {
		users, addrs, forged = len(st.Users), len(st.Addresses), st.ForgedTotal
		counts = make(map[events.Type]uint64, len(st.Counts))
		for k, v := range st.Counts {
			counts[k] = v
		}
	})
	return map[string]any{
		"version": s.opts.Version, "last_sequence": last, "applied_sequence": s.opts.Projector.Applied(),
		"users": users, "addresses": addrs, "events_by_type": counts, "forged_events": forged,
	}, nil
}

type userSummary struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Admin        bool       `json:"admin"`
	Methods      []string   `json:"methods"`
	Sessions     int        `json:"sessions"`
	Browsers     int        `json:"trusted_browsers"`
	Devices      int        `json:"devices"`
	AppPasswords int        `json:"app_passwords"`
	LockedUntil  *time.Time `json:"locked_until,omitempty"`
	Forgotten    bool       `json:"forgotten,omitempty"`

	// The password step: held until, and wrong passwords in a row as jfguard saw them.
	PasswordHeldUntil *time.Time `json:"password_held_until,omitempty"`
	WrongPasswords    int        `json:"wrong_passwords,omitempty"`

	// Networks are where the user may sign in from; empty: anywhere.
	Networks []string `json:"networks"`
}

func (s *Server) rpcUsersList(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	now := s.now()
	var out []userSummary
	s.read(func(st *projections.State) {
		for _, u := range st.Users {
			us := userSummary{ID: u.ID, Name: u.Name, Admin: u.Admin, Methods: u.Methods(), Sessions: len(u.Sessions),
				Browsers: len(u.Browsers), AppPasswords: len(u.AppPasswords), Forgotten: u.Forgotten}
			for _, p := range u.Pairings {
				if p.Status == domain.PairingPaired {
					us.Devices++
				}
			}
			if u.Locked(now) {
				t := u.LockedUntil
				us.LockedUntil = &t
			}
			if u.PasswordHeld(now) {
				t := u.Password.HeldUntil
				us.PasswordHeldUntil = &t
			}
			us.WrongPasswords = u.Password.Consecutive
			us.Networks = domain.NetworkStrings(u.Networks)
			if us.Methods == nil {
				us.Methods = []string{}
			}
			out = append(out, us)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []userSummary{}
	}
	return out, nil
}

type userGetParams struct {
	User string `json:"user"`
}

// userView is the setup page's overview of a user as an administrator sees it: the
// email address is left out, since only its owner may unseal it.
type userView struct {
	meView
	Email *struct {
		Confirmed bool `json:"confirmed"`
	} `json:"email,omitempty"`
}

// rpcUserGet is one user's overview as the setup page shows it to the user: factors,
// sessions, trusted browsers, paired devices, pairings waiting, app passwords and
// passkeys. users.list only counts these; the admin page needs each device to revoke
// it.
func (s *Server) rpcUserGet(_ context.Context, _ usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[userGetParams](raw)
	if err != nil {
		return nil, err
	}
	if p.User == "" {
		return nil, invalidParams("user is required (a Jellyfin user name or id)")
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	me, ok := s.buildMe(uid, "", "")
	if !ok {
		return nil, fmt.Errorf("%w: no user %q", domain.ErrNotFound, p.User)
	}
	me.Features = featuresView{Passkeys: s.passkeyStatus(), Email: s.opts.Mailer != nil}
	v := userView{meView: me}
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil && u.Email != nil {
			v.Email = &struct {
				Confirmed bool `json:"confirmed"`
			}{u.Email.Confirmed}
		}
	})
	return v, nil
}

type userParams struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// rpcUserReset is account recovery (usecase.Service.ResetUser).
func (s *Server) rpcUserReset(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, uid, err := s.userParam(raw)
	if err != nil {
		return nil, err
	}
	r, err := s.app.ResetUser(ctx, admin, uid, p.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "reset": true, "revoked": revokedCounts(r)}, nil
}

// rpcUserRevokeAll signs a user out everywhere (usecase.Service.RevokeUserEverywhere).
func (s *Server) rpcUserRevokeAll(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, uid, err := s.userParam(raw)
	if err != nil {
		return nil, err
	}
	r, err := s.app.RevokeUserEverywhere(ctx, admin, uid, p.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "revoked": revokedCounts(r)}, nil
}

// rpcUserForget destroys a user's data key (usecase.Service.ForgetUser).
func (s *Server) rpcUserForget(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, uid, err := s.userParam(raw)
	if err != nil {
		return nil, err
	}
	if err := s.app.ForgetUser(ctx, admin, uid, p.Reason); err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "forgotten": true}, nil
}

// userParam decodes {"user","reason"} and resolves the user.
func (s *Server) userParam(raw json.RawMessage) (userParams, string, error) {
	p, err := params[userParams](raw)
	if err != nil {
		return p, "", err
	}
	if p.User == "" {
		return p, "", invalidParams("user is required (a Jellyfin user name or id)")
	}
	uid, err := s.app.FindUser(p.User)
	return p, uid, err
}

func (s *Server) rpcBansList(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	return s.app.Bans(), nil
}

type banParams struct {
	IP       string `json:"ip"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// rpcBan bans the block of the given address (or the given prefix), and says which
// block that is.
func (s *Server) rpcBan(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[banParams](raw)
	if err != nil {
		return nil, err
	}
	var d time.Duration
	if p.Duration != "" {
		if d, err = time.ParseDuration(p.Duration); err != nil || d <= 0 {
			return nil, invalidParams("duration %q is not a positive duration like 24h", p.Duration)
		}
	}
	b, err := s.app.Ban(ctx, admin, p.IP, d, p.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ip": b.Input, "prefix": b.Prefix, "banned": true}, nil
}

// rpcUnban lifts the ban on the block of the given address (or on the given prefix).
func (s *Server) rpcUnban(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[banParams](raw)
	if err != nil {
		return nil, err
	}
	b, err := s.app.Unban(ctx, admin, p.IP, p.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ip": b.Input, "prefix": b.Prefix, "unbanned": true}, nil
}

func (s *Server) rpcSettingsGet(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	p := s.Policy()
	out := map[string]string{}
	for _, k := range PolicyKeys() {
		out[k], _ = PolicyValue(p, k)
	}
	return out, nil
}

type settingParams struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// rpcSettingsSet changes a policy key at run time: the value is validated and put
// in the policy's own spelling here, the change recorded by the use case.
func (s *Server) rpcSettingsSet(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[settingParams](raw)
	if err != nil {
		return nil, err
	}
	cur := s.Policy()
	next := cur
	if err := ApplySetting(&next, p.Key, p.Value); err != nil {
		return nil, invalidParams("%v", err)
	}
	old, _ := PolicyValue(cur, p.Key)
	val, _ := PolicyValue(next, p.Key)
	changed, err := s.app.SetSetting(ctx, admin, p.Key, old, val)
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": p.Key, "value": val, "changed": changed}, nil
}

type adoptParams struct {
	Force bool `json:"force"`
}

// rpcSessionsAdopt marks the Jellyfin sessions that exist now as verified, once
// (usecase.Service.AdoptSessions).
func (s *Server) rpcSessionsAdopt(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[adoptParams](raw)
	if err != nil {
		return nil, err
	}
	n, err := s.app.AdoptSessions(ctx, admin, p.Force)
	if err != nil {
		return nil, err
	}
	return map[string]any{"adopted": n}, nil
}

func (s *Server) rpcAuditCheckpoint(ctx context.Context, _ usecase.Admin, _ json.RawMessage) (any, error) {
	if s.opts.Notary == nil {
		return nil, errors.New("this node does not write checkpoints")
	}
	if err := s.opts.Notary.Flush(ctx); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true}, nil
}

func (s *Server) rpcAuditPublicKey(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	if s.opts.Notary == nil {
		return nil, errors.New("this node does not write checkpoints")
	}
	return map[string]any{"public_key": audit.FormatPublicKey(s.opts.Notary.PublicKey())}, nil
}

func (s *Server) rpcAPIKeyUsage(context.Context, usecase.Admin, json.RawMessage) (any, error) {
	return s.apiKeyUsage(), nil
}

type deviceParams struct {
	User     string `json:"user"`
	Pairing  string `json:"pairing"`
	DeviceID string `json:"device_id"`
	Client   string `json:"client"`
	Name     string `json:"name"`
}

// rpcDeviceRevoke removes a paired device and logs its session out.
func (s *Server) rpcDeviceRevoke(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[deviceParams](raw)
	if err != nil {
		return nil, err
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	if err := s.app.RevokeUserDevice(ctx, admin, uid, p.Pairing); err != nil {
		return nil, err
	}
	return map[string]any{"revoked": true}, nil
}

// rpcDevicePreapprove approves a device for a user before it signs in: its next
// sign-in within the pairing window succeeds.
func (s *Server) rpcDevicePreapprove(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[deviceParams](raw)
	if err != nil {
		return nil, err
	}
	if p.DeviceID == "" || p.Client == "" {
		return nil, invalidParams("device_id and client are required (as the app sends them)")
	}
	uid, err := s.app.FindUser(p.User)
	if err != nil {
		return nil, err
	}
	ok, err := s.app.PreapproveDevice(ctx, admin, uid, usecase.Device{ID: p.DeviceID, Client: p.Client, Name: p.Name})
	if err != nil {
		return nil, err
	}
	return map[string]any{"pairing": ok.PairingID, "approved_until": ok.Until}, nil
}
