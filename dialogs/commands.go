package dialogs

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/smartswap/mfabot/cards"
)

// commands maps folded text (NFKC, lower case, no spaces or punctuation)
// to a verb.
var commands = map[string]string{
	"スマホ交換": cards.VerbStart, "スマホ変更": cards.VerbStart, "機種変更": cards.VerbStart,
	"スマートフォン交換": cards.VerbStart, "mfa変更": cards.VerbStart, "mfaデバイス変更": cards.VerbStart,
	"changephone": cards.VerbStart, "replacephone": cards.VerbStart, "start": cards.VerbStart,

	"キャンセル": cards.VerbCancel, "中止": cards.VerbCancel, "やめる": cards.VerbCancel,
	"cancel": cards.VerbCancel, "stop": cards.VerbCancel, "quit": cards.VerbCancel,

	"ヘルプ": cards.VerbHelp, "help": cards.VerbHelp, "使い方": cards.VerbHelp,

	"状況": cards.VerbStatus, "status": cards.VerbStatus, "whereami": cards.VerbStatus,

	"最初から": cards.VerbRestart, "やり直し": cards.VerbRestart, "restart": cards.VerbRestart, "startover": cards.VerbRestart,

	"続きから": cards.VerbResume, "resume": cards.VerbResume, "continue": cards.VerbResume,

	"ヘルプデスク": cards.VerbHelpdesk, "helpdesk": cards.VerbHelpdesk,

	"ヘルプデスク設定": verbSetup, "helpdesksetup": verbSetup,

	"統計": cards.VerbStats, "stats": cards.VerbStats,

	"棚卸し": cards.VerbSweepDesk, "棚卸": cards.VerbSweepDesk, "sweep": cards.VerbSweepDesk,
}

// verbSetup is ヘルプデスク設定, typed in the helpdesk team's channel.
const verbSetup = "setup"

// parseCommand maps typed text to a verb; "" when it is not a command.
func parseCommand(text string) string {
	return commands[fold(text)]
}

// fold normalizes typed text: format characters removed (Unicode category
// Cf: zero-width spaces and joiners, soft hyphens, the BOM, bidi controls,
// which text pasted from mail and web pages carries unseen), full-width
// and half-width forms unified (NFKC), lower case, spaces and punctuation
// removed, and a leading bot mention (<at>…</at>) dropped. Format
// characters go first, so that one between a letter and its combining
// mark does not keep NFKC from composing them.
func fold(text string) string {
	if i := strings.Index(text, "</at>"); i >= 0 {
		text = text[i+len("</at>"):]
	}
	text = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, text)
	text = strings.ToLower(norm.NFKC.String(text))
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, text)
}

// actionFromValue reads the verb and dialog reference from card action
// data. ok is false when there is no verb.
func actionFromValue(v map[string]any) (verb string, ref *cards.Ref, ok bool) {
	if v == nil {
		return "", nil, false
	}
	if data, isMap := v["data"].(map[string]any); isMap {
		v = data
	}
	verb, _ = v["verb"].(string)
	if verb == "" {
		return "", nil, false
	}
	d, _ := v["dialog"].(string)
	s, _ := v["step"].(string)
	n, _ := v["nonce"].(string)
	if d != "" || s != "" || n != "" {
		ref = &cards.Ref{Dialog: d, Step: s, Nonce: n}
	}
	return verb, ref, true
}

// actionData returns the data of an action value (with the inputs Teams
// merges into it), or the value itself for Action.Submit messages.
func actionData(v map[string]any) map[string]any {
	if d, ok := v["data"].(map[string]any); ok {
		return d
	}
	if v == nil {
		return map[string]any{}
	}
	return v
}
