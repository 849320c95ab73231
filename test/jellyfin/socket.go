package jellyfin

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/coder/websocket"
)

// socketMessage is the envelope of every message on Jellyfin's WebSocket.
type socketMessage struct {
	MessageType string          `json:"MessageType"`
	Data        json.RawMessage `json:"Data,omitempty"`
	MessageID   string          `json:"MessageId,omitempty"`
}

// keepAliveSeconds is what Jellyfin sends in ForceKeepAlive: the number of
// seconds after which it drops a silent connection.
const keepAliveSeconds = 60

// handleSocket is /socket. Jellyfin authenticates before it upgrades: a
// request without a valid token (Authorization header, ?ApiKey=, or
// ?api_key= with legacy authorization on) is refused with the
// SecurityException answer, 403 and "Error processing request.".
//
// After the upgrade the server sends ForceKeepAlive, answers each KeepAlive
// with KeepAlive, and (unlike Jellyfin, so tests can see traffic both ways)
// echoes any other message back as {"MessageType":"Echo","Data":<message>}.
// The Origin is not checked, as Jellyfin does not check it.
func (s *Server) handleSocket(w http.ResponseWriter, r *http.Request, req *request) {
	if !isWebSocketUpgrade(r) {
		// Jellyfin's WebSocket middleware passes other requests on, and no
		// endpoint serves /socket, so this is an unknown path.
		writeUnknownPath(w, req.caller)
		return
	}
	if !req.caller.authenticated() {
		writeException(w, http.StatusForbidden)
		return
	}
	s.mu.Lock()
	closed := s.socketsClosed
	s.mu.Unlock()
	if closed {
		writeException(w, http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	stop := context.AfterFunc(s.closing, func() {
		_ = conn.Close(websocket.StatusGoingAway, "server closing")
	})
	defer stop()

	ctx := r.Context()
	if err := writeSocket(ctx, conn, socketMessage{MessageType: "ForceKeepAlive", Data: json.RawMessage(strconv.Itoa(keepAliveSeconds))}); err != nil {
		return
	}
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var in socketMessage
		if typ == websocket.MessageText && json.Unmarshal(data, &in) == nil && in.MessageType == "KeepAlive" {
			err = writeSocket(ctx, conn, socketMessage{MessageType: "KeepAlive"})
		} else {
			err = writeSocket(ctx, conn, socketMessage{MessageType: "Echo", Data: echoData(typ, data)})
		}
		if err != nil {
			return
		}
	}
}

// echoData embeds a received message in an Echo: JSON text as it is, other
// text as a JSON string, binary as base64.
func echoData(typ websocket.MessageType, data []byte) json.RawMessage {
	if typ == websocket.MessageText && json.Valid(data) {
		return data
	}
	var v any = string(data)
	if typ == websocket.MessageBinary {
		v = data
	}
	out, _ := json.Marshal(v)
	return out
}

func writeSocket(ctx context.Context, conn *websocket.Conn, m socketMessage) error {
	m.MessageID = randomHex(16)
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, data)
}
