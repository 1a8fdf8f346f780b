package fakeslack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds every websocket write.
const writeTimeout = 5 * time.Second

// socket is one Socket Mode websocket connection.
type socket struct {
	conn    *websocket.Conn
	writeMu sync.Mutex    // gorilla allows one writer of data messages at a time
	done    chan struct{} // closed when the connection's reader ends
}

func (k *socket) write(msg []byte) error {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	_ = k.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return k.conn.WriteMessage(websocket.TextMessage, msg)
}

// SetPingInterval sets how often the fake sends a websocket ping on each
// Socket Mode connection (default 1 s; one is also sent right after hello).
// slack-go reconnects when no ping arrives within its
// socketmode.OptionPingInterval (30 s by default), so a client given a
// shorter one needs a shorter interval here. It applies to connections
// made afterwards.
func (s *Server) SetPingInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingInterval = d
}

// RefuseSocket makes apps.connections.open answer "ok": false with code
// (link_disabled, account_inactive, ...) to a valid app token until
// RefuseSocket(""), as Slack does when it refuses an app's Socket Mode
// connection for good. (A wrong app token, SetAppToken, gets invalid_auth.)
func (s *Server) RefuseSocket(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusal = code
}

// appsConnectionsOpen hands out a single-use websocket URL on this server,
// as Slack does with its wss://...?ticket= URLs.
func (s *Server) appsConnectionsOpen(*Call) obj {
	if s.refusal != "" {
		return fail(s.refusal)
	}
	ticket := "ticket-" + strconv.Itoa(s.nextIDLocked())
	s.tickets[ticket] = true
	return obj{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket?ticket=" + ticket}
}

// serveSocket runs one Socket Mode connection: hello, pings, envelopes
// from SendEnvelope out, acknowledgements in.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ticket := r.URL.Query().Get("ticket")
	switch {
	case s.closed:
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	case !s.tickets[ticket]:
		s.mu.Unlock()
		s.t.Logf("fakeslack: websocket dial with unknown or used ticket %q", ticket)
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	delete(s.tickets, ticket)
	s.wg.Add(1) // under s.mu, with s.closed false: Close has not begun to wait
	numConnections := len(s.sockets) + 1
	s.mu.Unlock()
	defer s.wg.Done()

	// slack-go sends Origin: https://api.slack.com, which gorilla's default
	// check refuses for any other host.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.t.Logf("fakeslack: websocket upgrade: %v", err)
		return // Upgrade has answered
	}
	sock := &socket{conn: conn, done: make(chan struct{})}
	defer func() { _ = conn.Close() }()

	// hello goes out before the connection becomes current, so that every
	// envelope follows it.
	hello := mustJSON(obj{
		"type":            "hello",
		"num_connections": numConnections,
		"debug_info":      obj{"host": "applink-fakeslack", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": obj{"app_id": AppID},
	})
	if err := sock.write(hello); err != nil {
		return
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.sockets[sock] = true
	s.current = sock
	s.connections++
	interval := s.pingInterval
	s.notifyLocked()
	s.mu.Unlock()

	s.wg.Go(func() { sock.ping(interval) })
	s.readAcks(sock)
	close(sock.done)

	s.mu.Lock()
	delete(s.sockets, sock)
	if s.current == sock {
		s.current = nil
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// ping sends a websocket ping at once and then every interval until the
// connection's reader ends.
func (k *socket) ping(interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := k.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
			return
		}
		select {
		case <-k.done:
			return
		case <-ticker.C:
		}
	}
}

// readAcks records every acknowledgement the client sends until the
// connection fails or is closed.
func (s *Server) readAcks(sock *socket) {
	for {
		_, data, err := sock.conn.ReadMessage()
		if err != nil {
			return
		}
		var ack map[string]any
		if err := json.Unmarshal(data, &ack); err != nil || ack["envelope_id"] == nil {
			s.t.Logf("fakeslack: websocket message that is no acknowledgement: %s", truncate(string(data), 200))
			continue
		}
		s.mu.Lock()
		s.acks = append(s.acks, ack)
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// SocketConnected waits until a Socket Mode client is connected (it has
// been sent hello) and fails the test on timeout. After DropSocket it waits
// for the client to reconnect.
func (s *Server) SocketConnected(t testing.TB, timeout time.Duration) {
	t.Helper()
	if !s.waitUntil(timeout, func() bool { return s.current != nil }) {
		t.Fatalf("fakeslack: no Socket Mode client connected within %v; calls seen:\n%s", timeout, s.describeCalls())
	}
}

// SocketConnections is how many websocket connections the fake has
// accepted so far: after one DropSocket and a reconnection, 2.
func (s *Server) SocketConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// SendEnvelope sends env to the connected Socket Mode client and returns
// its envelope_id. env is {"type": "slash_commands" | "interactive" |
// "events_api", "payload": ...}, as SlashCommand and BlockAction build it;
// a missing "envelope_id" is generated, and a missing
// "accepts_response_payload" is true for slash commands and false
// otherwise, as Slack sets it. The test fails if no client is connected
// (see SocketConnected) or the write fails.
func (s *Server) SendEnvelope(t testing.TB, env map[string]any) (envelopeID string) {
	t.Helper()
	out := make(map[string]any, len(env)+2)
	for k, v := range env {
		out[k] = v
	}
	typ, _ := out["type"].(string)
	if typ == "" {
		t.Fatalf("fakeslack: SendEnvelope: envelope without a type: %v", env)
	}
	if _, ok := out["accepts_response_payload"]; !ok {
		out["accepts_response_payload"] = typ == "slash_commands"
	}
	s.mu.Lock()
	envelopeID, _ = out["envelope_id"].(string)
	if envelopeID == "" {
		envelopeID = fmt.Sprintf("envelope-%d", s.nextIDLocked())
		out["envelope_id"] = envelopeID
	}
	sock := s.current
	s.mu.Unlock()
	if sock == nil {
		t.Fatalf("fakeslack: SendEnvelope: no Socket Mode client connected (call SocketConnected first)")
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("fakeslack: SendEnvelope: %v", err)
	}
	if err := sock.write(data); err != nil {
		t.Fatalf("fakeslack: SendEnvelope: write: %v", err)
	}
	return envelopeID
}

// WaitAck waits for the client's acknowledgement of envelopeID,
// {"envelope_id": ..., "payload": ...} (payload only when the client sent
// one), and fails the test on timeout.
func (s *Server) WaitAck(t testing.TB, envelopeID string, timeout time.Duration) map[string]any {
	t.Helper()
	var ack map[string]any
	if !s.waitUntil(timeout, func() bool {
		for _, a := range s.acks {
			if a["envelope_id"] == envelopeID {
				ack = a
				return true
			}
		}
		return false
	}) {
		s.mu.Lock()
		seen := mustJSON(s.acks)
		s.mu.Unlock()
		t.Fatalf("fakeslack: no acknowledgement of %s within %v; acknowledgements seen: %s", envelopeID, timeout, seen)
	}
	return ack
}

// DropSocket closes the current Socket Mode connection abruptly, without a
// close frame, as a network failure would; slack-go's client then opens a
// new one. It does nothing when no client is connected.
func (s *Server) DropSocket() {
	s.mu.Lock()
	sock := s.current
	s.current = nil
	s.notifyLocked()
	s.mu.Unlock()
	if sock != nil {
		_ = sock.conn.Close()
	}
}

// SlashCommand builds a slash_commands envelope for SendEnvelope, with a
// new response URL, which it also returns. userID's and channelID's names
// come from SetUser and SetChannel.
func (s *Server) SlashCommand(command, text, userID, channelID string) (env map[string]any, responseURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	responseURL = s.newResponseURLLocked()
	payload := obj{
		"token": "verification-token", "team_id": TeamID, "team_domain": "sanasend", "api_app_id": AppID,
		"channel_id": channelID, "channel_name": s.channels[channelID],
		"user_id": userID, "user_name": s.users[userID],
		"command": command, "text": text, "response_url": responseURL,
		"trigger_id": fmt.Sprintf("trigger-%d", s.nextIDLocked()),
	}
	return obj{"type": "slash_commands", "payload": payload}, responseURL
}

// BlockAction builds an interactive envelope for a click on a button
// (block_actions) for SendEnvelope, with a new response URL, which it also
// returns. The button's message is a new message of the bot in channelID.
func (s *Server) BlockAction(actionID, value, userID, channelID string) (env map[string]any, responseURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	responseURL = s.newResponseURLLocked()
	ts := s.nextTSLocked()
	s.messages[channelID+" "+ts] = true
	payload := obj{
		"type": "block_actions", "token": "verification-token", "api_app_id": AppID,
		"trigger_id":   fmt.Sprintf("trigger-%d", s.nextIDLocked()),
		"team":         obj{"id": TeamID, "domain": "sanasend"},
		"user":         obj{"id": userID, "username": s.users[userID], "name": s.users[userID], "team_id": TeamID},
		"channel":      obj{"id": channelID, "name": s.channels[channelID]},
		"container":    obj{"type": "message", "message_ts": ts, "channel_id": channelID, "is_ephemeral": false},
		"message":      obj{"type": "message", "user": BotUserID, "bot_id": BotID, "ts": ts, "text": ""},
		"response_url": responseURL,
		"actions": []obj{{
			"type": "button", "action_id": actionID, "block_id": "fakeslack", "value": value, "action_ts": ts,
		}},
	}
	return obj{"type": "interactive", "payload": payload}, responseURL
}
