package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// FuzzActivityDecode posts arbitrary bodies to the real Server handler in
// local mode (no Validator), with a handler that only reads the turn and no
// duplicate check. The server must never panic (it would recover and
// answer 500) and must answer every body with 2xx or 4xx: 200 for a JSON
// activity with a type and ids within bounds (checkIDs), 400 for anything
// else.
func FuzzActivityDecode(f *testing.F) {
	for _, s := range fuzzActivitySeeds {
		f.Add([]byte(s))
	}
	logs := &fuzzLogBuffer{}
	srv := NewServer(ServerOptions{
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Handler:   fuzzReadOnlyHandler{},
		Connector: NewConnector(ConnectorOptions{}),
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		logs.reset()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("status %d for body %q; logs:\n%s", rec.Code, body, logs.String())
		}
		if strings.Contains(logs.String(), `"msg":"panic`) {
			t.Fatalf("panic logged for body %q:\n%s", body, logs.String())
		}
		var a schema.Activity
		want := http.StatusOK
		if json.Unmarshal(body, &a) != nil || a.Type == "" || checkIDs(a) != nil {
			want = http.StatusBadRequest
		}
		if rec.Code != want {
			t.Fatalf("status %d for body %q, want %d", rec.Code, body, want)
		}
	})
}

// fuzzReadOnlyHandler reads everything a real handler reads of a turn and
// answers nothing.
type fuzzReadOnlyHandler struct{}

func (fuzzReadOnlyHandler) read(t *Turn) {
	a := t.Incoming()
	_ = t.Reference()
	_ = t.TenantID()
	_ = t.outbound(schema.Activity{Text: a.Text})
	t.Logger().Debug("read", "value", len(a.Value), "members", len(a.MembersAdded))
}

func (h fuzzReadOnlyHandler) OnMessage(ctx context.Context, t *Turn) error { h.read(t); return nil }
func (h fuzzReadOnlyHandler) OnInvoke(ctx context.Context, t *Turn) (InvokeResponse, error) {
	h.read(t)
	return InvokeResponse{}, nil
}
func (h fuzzReadOnlyHandler) OnConversationUpdate(ctx context.Context, t *Turn) error {
	h.read(t)
	return nil
}
func (h fuzzReadOnlyHandler) OnInstallationUpdate(ctx context.Context, t *Turn) error {
	h.read(t)
	return nil
}

type fuzzLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fuzzLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *fuzzLogBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *fuzzLogBuffer) reset()         { l.mu.Lock(); l.b.Reset(); l.mu.Unlock() }

// fuzzActivitySeeds are activities as Teams and the Agents Playground send
// them, and broken ones.
var fuzzActivitySeeds = []string{
	// A typed message in a 1:1 chat.
	`{"text":"スマホ交換","textFormat":"plain","type":"message","timestamp":"2026-11-24T01:02:03.4567890Z","localTimestamp":"2026-11-24T10:02:03.4567890+09:00","id":"1732410123456","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/jp/","from":{"id":"29:1abcDEF","name":"山田 太郎","aadObjectId":"c5e99701-2a32-49c1-a660-4629ceeb8c61"},"conversation":{"conversationType":"personal","tenantId":"9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718","id":"a:1xyz"},"recipient":{"id":"28:0d6c1f3e-7a2b-4c5d-9e8f-102132435465","name":"スマホ交換ボット"},"entities":[{"locale":"ja-JP","country":"JP","platform":"Windows","timezone":"Asia/Tokyo","type":"clientInfo"}],"channelData":{"tenant":{"id":"9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"}},"locale":"ja-JP","localTimezone":"Asia/Tokyo"}`,
	// An Action.Execute press.
	`{"name":"adaptiveCard/action","type":"invoke","timestamp":"2026-11-24T01:02:05.1Z","id":"f:123","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/jp/","from":{"id":"29:1abcDEF","aadObjectId":"c5e99701-2a32-49c1-a660-4629ceeb8c61"},"conversation":{"conversationType":"personal","tenantId":"9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718","id":"a:1xyz"},"recipient":{"id":"28:bot"},"replyToId":"1732410123999","value":{"action":{"type":"Action.Execute","id":"","verb":"next","data":{"verb":"next","dialog":"0a1b2c3d4e5f607182","step":"open_page","nonce":"93a8b7c6d5e4f30211"}},"trigger":"manual"},"channelData":{"tenant":{"id":"9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"},"source":{"name":"message"}},"locale":"ja-JP"}`,
	// An Action.Submit sent as a message.
	`{"type":"message","id":"2","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/jp/","from":{"id":"29:x"},"conversation":{"id":"a:1xyz"},"recipient":{"id":"28:bot"},"value":{"verb":"cancel","dialog":"d","step":"s","nonce":"n"}}`,
	// The app installed.
	`{"membersAdded":[{"id":"28:bot"},{"id":"29:1abcDEF","aadObjectId":"c5e99701-2a32-49c1-a660-4629ceeb8c61"}],"type":"conversationUpdate","id":"f:1","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/jp/","from":{"id":"29:1abcDEF"},"conversation":{"conversationType":"personal","tenantId":"t","id":"a:1xyz"},"recipient":{"id":"28:bot"},"channelData":{"tenant":{"id":"t"}}}`,
	`{"action":"add","type":"installationUpdate","id":"f:2","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/jp/","from":{"id":"29:1"},"conversation":{"id":"a:1"},"recipient":{"id":"28:bot"}}`,
	`{"action":"remove-upgrade","type":"installationUpdate","id":"f:3","from":{"id":"29:1"},"conversation":{"id":"a:1"}}`,
	`{"type":"messageReaction","reactionsAdded":[{"type":"like"}],"id":"4"}`,
	`{"type":"typing"}`,
	`{"type":"message"}`,
	// Broken ones.
	``, `{`, `null`, `[]`, `"message"`, `{"type":""}`, `{"type":null}`, `{"type":1}`, `{"type":["message"]}`,
	`{"type":"message","timestamp":"yesterday"}`, `{"type":"message","channelData":{"tenant":"t"}}`,
	`{"type":"message","channelData":{"tenant":{"id":7}}}`, `{"type":"message","channelData":[]}`,
	`{"type":"message","value":[1,2]}`, `{"type":"message","conversation":null,"from":null}`,
	`{"type":"message","membersAdded":[null]}`, `{"type":"message","attachments":[{"content":{"a":[{}]}}]}`,
	`{"type":"message"} {"type":"message"}`, `{"type":"message","type":""}`, "{\"type\":\"message\",\"text\":\"\xff\xfe\"}",
	"\xef\xbb\xbf{\"type\":\"message\"}", `{"type":"invoke","name":"adaptiveCard/action","value":null}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	`{"type":"message","id":` + strings.Repeat("9", 400) + `}`,
}
