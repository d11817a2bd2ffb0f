package cards

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxPlain bounds what Plain returns, in UTF-16 code units (how Teams
// counts a message) and escapes included: room for the longest note of the
// helpdesk form (500 characters) with its time and reason. Longer text is
// cut and ends with "…".
const MaxPlain = 540

// Plain makes text that comes from outside the bot's own catalog and
// content file — what a user typed, a name from Graph (a phone's name is
// set by its owner), a helpdesk member's display name, a timeline or
// history line built from those — safe to put in a TextBlock, a FactSet
// or a text message, where Teams renders Markdown. It is the one function
// for that: every builder applies it where it puts such a string into
// its text, so that a catalog string's own Markdown (**%s**) still works.
// The catalog and the step content file are the bot's own words, whose
// Markdown (bold, the store links) is meant: they are not passed through
// Plain. A secret that must be typed exactly (a Temporary Access Pass) is
// not Plain either: it goes in a TextRun, which is never Markdown.
//
// What it does:
//   - Markdown that could make a link, an image, emphasis, code, a heading
//     or an entity is backslash-escaped (\ ` * _ ~ [ ] # & and a "(" right
//     after "]"), so it reads as typed; a "-", "+" or "1." that would start
//     a list is escaped at the start;
//   - "<" and ">" become the full-width ＜ and ＞: no <at> mention, no HTML,
//     no autolink and no quote, whatever the renderer;
//   - line structure is flattened: line breaks, tabs and other control
//     characters become a space, and bidirectional overrides (which can
//     make text read backwards) are dropped;
//   - it is cut at MaxPlain UTF-16 code units.
func Plain(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	// lead: only spaces so far; number: only spaces, then digits.
	n, lead, number, prev := 0, true, false, rune(0)
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029' || r == '\u0085' || unicode.IsControl(r):
			r = ' '
		case bidiControl(r):
			continue
		}
		esc := false
		switch r {
		case '\\', '`', '*', '_', '~', '[', ']', '#', '&':
			esc = true
		case '(':
			if prev == ']' {
				esc = true
			}
		case '-', '+':
			if lead {
				esc = true
			}
		case '.', ')':
			// "1." or "1)" at the start is an ordered list.
			if number {
				esc = true
			}
		case '<':
			r = '＜'
		case '>':
			r = '＞'
		}
		w := utf16.RuneLen(r)
		if esc {
			w++
		}
		if n+w > MaxPlain {
			b.WriteString("…")
			break
		}
		n += w
		if esc {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		digit := r >= '0' && r <= '9'
		number = (lead || number) && digit
		lead = lead && r == ' '
		prev = r
	}
	return b.String()
}

// bidiControl reports the characters that reorder text on screen (U+202A
// to U+202E, U+2066 to U+2069, and the marks U+200E, U+200F, U+061C).
func bidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069' || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// MaxSize is the largest card or message the bot sends, as Size counts
// it: Teams refuses a bot message of about 100 KB or more (HTTP 413), so
// this keeps a margin below that.
const MaxSize = 90_000

// Size measures encoded JSON as Teams counts a message: in UTF-16 code
// units.
func Size(encoded []byte) int {
	n := 0
	for len(encoded) > 0 {
		r, w := utf8.DecodeRune(encoded)
		encoded = encoded[w:]
		n += utf16.RuneLen(r)
	}
	return n
}
