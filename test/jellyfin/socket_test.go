package jellyfin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dialSocket(t *testing.T, ctx context.Context, f *fixture, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/socket" + query
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: header, HTTPClient: f.ts.Client()})
}

func readSocket(t *testing.T, ctx context.Context, conn *websocket.Conn) socketMessage {
	t.Helper()
	typ, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v", typ)
	}
	var m socketMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return m
}

func TestSocketKeepAliveAndEcho(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")

	ways := map[string]func() (*websocket.Conn, *http.Response, error){
		"ApiKey query": func() (*websocket.Conn, *http.Response, error) {
			return dialSocket(t, ctx, f, "?ApiKey="+alice.AccessToken+"&deviceId=d1", nil)
		},
		"Authorization header": func() (*websocket.Conn, *http.Response, error) {
			return dialSocket(t, ctx, f, "", http.Header{"Authorization": {tokenHeader(alice.AccessToken)}})
		},
	}
	for name, dial := range ways {
		conn, _, err := dial()
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		if m := readSocket(t, ctx, conn); m.MessageType != "ForceKeepAlive" || string(m.Data) != "60" {
			t.Errorf("%s: first message %+v", name, m)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"MessageType":"KeepAlive"}`)); err != nil {
			t.Fatal(err)
		}
		if m := readSocket(t, ctx, conn); m.MessageType != "KeepAlive" {
			t.Errorf("%s: answer to KeepAlive %+v", name, m)
		}
		sent := `{"MessageType":"SessionsStart","Data":"0,1500"}`
		if err := conn.Write(ctx, websocket.MessageText, []byte(sent)); err != nil {
			t.Fatal(err)
		}
		if m := readSocket(t, ctx, conn); m.MessageType != "Echo" || string(m.Data) != sent {
			t.Errorf("%s: echo %+v", name, m)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte("not json")); err != nil {
			t.Fatal(err)
		}
		if m := readSocket(t, ctx, conn); m.MessageType != "Echo" || string(m.Data) != `"not json"` {
			t.Errorf("%s: echo of text %+v", name, m)
		}
		conn.Close(websocket.StatusNormalClosure, "")
	}
}

func TestSocketRefusesWithoutToken(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := newFixture(t, Options{})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	for name, query := range map[string]string{
		"no token":                 "",
		"unknown token":            "?ApiKey=ffffffffffffffffffffffffffffffff",
		"api_key with legacy off":  "?api_key=" + alice.AccessToken,
		"deviceId is not a secret": "?deviceId=d1",
	} {
		_, res, err := dialSocket(t, ctx, f, query, nil)
		if err == nil {
			t.Errorf("%s: upgraded", name)
			continue
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, want a 403 before the upgrade", name, err)
		}
	}
	if res := f.call(t, http.MethodGet, "/socket?ApiKey="+alice.AccessToken, nil); res.status != http.StatusNotFound {
		t.Errorf("a plain GET of /socket: status %d, want 404", res.status)
	}
	f.srv.SetLegacyAuthorization(true)
	conn, _, err := dialSocket(t, ctx, f, "?api_key="+alice.AccessToken, nil)
	if err != nil {
		t.Fatalf("api_key with legacy on: %v", err)
	}
	conn.CloseNow()
}

func TestCloseEndsSockets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := newFixture(t, Options{})
	conn, _, err := dialSocket(t, ctx, f, "?ApiKey="+f.apiKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	readSocket(t, ctx, conn)
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.Read(ctx)
	var closeErr websocket.CloseError
	if !errors.As(err, &closeErr) || closeErr.Code != websocket.StatusGoingAway {
		t.Errorf("read after Close: %v, want going away", err)
	}
	if _, res, err := dialSocket(t, ctx, f, "?ApiKey="+f.apiKey, nil); err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v", err)
	}
}
