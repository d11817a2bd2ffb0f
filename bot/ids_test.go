package bot

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/redistest"
)

// realLooking is an activity with ids shaped as Teams sends them.
func realLooking() schema.Activity {
	return schema.Activity{
		Type: schema.Message, ID: "1701234567890",
		ReplyToID: "f:5f3e6f2b-8a3c-4c1e-9d2a-3b4c5d6e7f80",
		From: schema.ChannelAccount{
			ID:          "29:1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz-_0123456789AbCdEfGh",
			AadObjectID: "c5e99701-2a32-49c1-a660-4629ceeb8c61",
		},
		Recipient: schema.ChannelAccount{ID: "28:5f3e6f2b-8a3c-4c1e-9d2a-3b4c5d6e7f80"},
		Conversation: schema.ConversationAccount{
			ID:       "a:1Xp" + strings.Repeat("Qz8_kLm-N0pR7sT2uVwXyZ", 13),
			TenantID: testTenant,
		},
		ChannelData: map[string]any{"tenant": map[string]any{"id": testTenant}},
	}
}

func TestCheckIDsAcceptsRealTeamsIDs(t *testing.T) {
	channel := realLooking()
	channel.Conversation.ID = "19:a1b2c3d4e5f60718293a4b5c6d7e8f90@thread.tacv2;messageid=1701234567890"
	channel.ChannelData["team"] = map[string]any{"id": "19:Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE@thread.tacv2"}
	channel.ChannelData["channel"] = map[string]any{"id": "19:a1b2c3d4e5f60718293a4b5c6d7e8f90@thread.tacv2"}
	group := realLooking()
	group.Conversation.ID = "19:meeting_NjQ5ZDk3YjYtZDU1Ni00YjM3LWE0ZjAtMjg0NTdmOTg1ZTk5@thread.v2"
	noAAD := realLooking()
	noAAD.From.AadObjectID, noAAD.ReplyToID, noAAD.ChannelData = "", "", nil
	for name, a := range map[string]schema.Activity{"personal": realLooking(), "channel": channel, "meeting": group, "no aadObjectId": noAAD} {
		if err := checkIDs(a); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckIDsRefusesOutOfBounds(t *testing.T) {
	huge := strings.Repeat("a", 10<<10)
	for name, c := range map[string]struct {
		edit  func(a *schema.Activity)
		field string
	}{
		"10 KB conversation id": {func(a *schema.Activity) { a.Conversation.ID = "a:" + huge }, "conversation.id"},
		"10 KB user id":         {func(a *schema.Activity) { a.From.ID = "29:" + huge }, "from.id"},
		"10 KB aadObjectId":     {func(a *schema.Activity) { a.From.AadObjectID = huge }, "from.aadObjectId"},
		"10 KB tenant":          {func(a *schema.Activity) { a.ChannelData["tenant"] = map[string]any{"id": huge} }, "channelData.tenant.id"},
		"10 KB activity id":     {func(a *schema.Activity) { a.ID = huge }, "id"},
		"NUL in conversation":   {func(a *schema.Activity) { a.Conversation.ID = "a:1\x00x" }, "conversation.id"},
		"newline in user id":    {func(a *schema.Activity) { a.From.ID = "29:1\nx" }, "from.id"},
		"DEL in reply id":       {func(a *schema.Activity) { a.ReplyToID = "1\x7f" }, "replyToId"},
		"space in user id":      {func(a *schema.Activity) { a.From.ID = "29:a b" }, "from.id"},
		"brace (hash tag)":      {func(a *schema.Activity) { a.Conversation.ID = "a:}{x" }, "conversation.id"},
		"non-ASCII id":          {func(a *schema.Activity) { a.From.ID = "29:ユーザー" }, "from.id"},
		"colon in tenant":       {func(a *schema.Activity) { a.ChannelData["tenant"] = map[string]any{"id": "T:u:A"} }, "channelData.tenant.id"},
		"colon in tenantId":     {func(a *schema.Activity) { a.Conversation.TenantID = "T:u:A" }, "conversation.tenantId"},
		"colon in aadObjectId":  {func(a *schema.Activity) { a.From.AadObjectID = "A:u:B" }, "from.aadObjectId"},
		"team id too long":      {func(a *schema.Activity) { a.ChannelData["team"] = map[string]any{"id": "19:" + huge} }, "channelData.team.id"},
	} {
		a := realLooking()
		c.edit(&a)
		err := checkIDs(a)
		var ie *idError
		if !errors.As(err, &ie) || ie.field != c.field {
			t.Errorf("%s: %v, want an error for %s", name, err, c.field)
		}
		if err != nil && len(err.Error()) > 120 {
			t.Errorf("%s: the error repeats the id (%d bytes)", name, len(err.Error()))
		}
	}
}

// Through the handler: 400 with the reason, the handler not run, nothing
// recorded in Redis, nothing sent; the same activity with sane ids is
// handled.
func TestOutOfBoundsIDsAre400AndNothingStored(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	tb := newTestBot(t, func(o *ServerOptions) { o.Dedupe = storeDeduper{redisstore.New(rdb, redisstore.WithPrefix(prefix))} })
	for _, edit := range []func(a *schema.Activity){
		func(a *schema.Activity) { a.Conversation.ID = "a:" + strings.Repeat("x", 10<<10) },
		func(a *schema.Activity) { a.From.ID = "29:user\r\nX-Injected: 1" },
		func(a *schema.Activity) { a.ChannelData["tenant"] = map[string]any{"id": testTenant + ":u:x"} },
	} {
		a := tb.activity(schema.Message, uniqueID(t), "スマホ交換")
		edit(&a)
		rec := tb.post(t, a, "")
		if rec.Code != http.StatusBadRequest || !strings.HasPrefix(rec.Body.String(), "invalid ") {
			t.Errorf("status %d %q, want 400 naming the id", rec.Code, rec.Body.String())
		}
	}
	if n := tb.handler.messages.Load(); n != 0 {
		t.Errorf("handler ran %d times", n)
	}
	if keys := rdb.Keys(context.Background(), prefix+"*").Val(); len(keys) != 0 {
		t.Errorf("stored %v", keys)
	}
	if got := tb.conn.received(); len(got) != 0 {
		t.Errorf("sent %d activities", len(got))
	}
	if rec := tb.post(t, tb.activity(schema.Message, uniqueID(t), "スマホ交換"), ""); rec.Code != http.StatusOK || tb.handler.messages.Load() != 1 {
		t.Errorf("a sane activity: status %d", rec.Code)
	}
	if keys := rdb.Keys(context.Background(), prefix+"*").Val(); len(keys) == 0 {
		t.Error("a sane activity recorded nothing: the check above proves nothing")
	}
}
