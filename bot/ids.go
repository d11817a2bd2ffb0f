package bot

import (
	"fmt"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// The ids of an activity are checked at the edge, once it is
// authenticated and before anything is recorded: every later layer keys
// state on them (Redis keys, conversation references, tickets), so an id
// of 10 KB or one with control characters or braces (which would cut a
// Redis Cluster hash tag) is refused with 400 and nothing is stored.
//
// Bounds that real Teams ids keep well within:
//   - tenant ids and Entra object ids (aadObjectId) are GUIDs: letters,
//     digits, '-', '.', '_', at most maxGUIDLike;
//   - channel ids — users "29:1…", bots "28:…", conversations "a:1…" (a
//     few hundred characters), "19:…@thread.tacv2;messageid=…", activity
//     ids — are printable ASCII without spaces, quotes, backslashes, angle
//     brackets or braces, at most maxChannelID.
const (
	maxGUIDLike  = 64
	maxChannelID = 512
)

// idError says which id of an activity was refused and why; its text is
// the 400's body, safe to show the sender.
type idError struct {
	field, problem string
}

func (e *idError) Error() string { return "invalid " + e.field + ": " + e.problem }

// checkIDs returns an *idError for the first id of a that is out of
// bounds, nil when all are within them. Empty ids are left to the
// handler (not every activity carries every id).
func checkIDs(a schema.Activity) error {
	guids := []struct{ field, v string }{
		{"channelData.tenant.id", TenantOf(a)},
		{"conversation.tenantId", a.Conversation.TenantID},
		{"from.aadObjectId", a.From.AadObjectID},
	}
	for _, g := range guids {
		if err := checkID(g.field, g.v, maxGUIDLike, &guidBytes); err != nil {
			return err
		}
	}
	ids := []struct{ field, v string }{
		{"conversation.id", a.Conversation.ID},
		{"from.id", a.From.ID},
		{"recipient.id", a.Recipient.ID},
		{"id", a.ID},
		{"replyToId", a.ReplyToID},
		{"channelData.team.id", channelDataID(a, "team")},
		{"channelData.channel.id", channelDataID(a, "channel")},
	}
	for _, id := range ids {
		if err := checkID(id.field, id.v, maxChannelID, &channelIDBytes); err != nil {
			return err
		}
	}
	return nil
}

func checkID(field, v string, limit int, allowed *[256]bool) error {
	if len(v) > limit {
		return &idError{field, fmt.Sprintf("longer than %d characters", limit)}
	}
	for i := 0; i < len(v); i++ {
		if !allowed[v[i]] {
			return &idError{field, fmt.Sprintf("character %q not allowed at %d", rune(v[i]), i)}
		}
	}
	return nil
}

func guidLike(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_'
}

// channelIDByte: printable ASCII but space, quotes, backslash, angle
// brackets, braces and backtick.
func channelIDByte(c byte) bool {
	switch c {
	case '"', '\'', '\\', '<', '>', '{', '}', '`':
		return false
	}
	return c > ' ' && c < 0x7f
}

// guidBytes and channelIDBytes are guidLike and channelIDByte as tables:
// every turn checks a few hundred bytes of ids.
var guidBytes, channelIDBytes = func() (g, c [256]bool) {
	for i := range 256 {
		g[i], c[i] = guidLike(byte(i)), channelIDByte(byte(i))
	}
	return g, c
}()

// channelDataID is channelData.<key>.id ("" when absent).
func channelDataID(a schema.Activity, key string) string {
	if m, ok := a.ChannelData[key].(map[string]any); ok {
		id, _ := m["id"].(string)
		return id
	}
	return ""
}
