package dialogs

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// formatChars are format characters (Unicode category Cf) that text pasted
// from mail, chat and web pages carries unseen.
var formatChars = map[string]rune{
	"zero-width space":        '\u200B',
	"zero-width non-joiner":   '\u200C',
	"zero-width joiner":       '\u200D',
	"left-to-right mark":      '\u200E',
	"right-to-left mark":      '\u200F',
	"left-to-right embedding": '\u202A',
	"right-to-left override":  '\u202E',
	"pop directional":         '\u202C',
	"word joiner":             '\u2060',
	"first strong isolate":    '\u2068',
	"byte order mark":         '\uFEFF',
	"soft hyphen":             '\u00AD',
	"arabic letter mark":      '\u061C',
	"tag space":               '\U000E0020',
}

// TestCommandsWithFormatCharacters: every command is recognised with a
// format character before it, after it and inside it (after its first
// letter), and with a soft hyphen between every two of its letters.
func TestCommandsWithFormatCharacters(t *testing.T) {
	for name, r := range formatChars {
		if !unicode.Is(unicode.Cf, r) {
			t.Fatalf("%s U+%04X is not a format character", name, r)
		}
	}
	for cmd, verb := range commands {
		_, size := utf8.DecodeRuneInString(cmd)
		for name, r := range formatChars {
			f := string(r)
			for where, text := range map[string]string{
				"after":  cmd + f,
				"before": f + cmd,
				"inside": cmd[:size] + f + cmd[size:],
				"around": f + cmd[:size] + f + f + cmd[size:] + f,
			} {
				if got := parseCommand(text); got != verb {
					t.Errorf("%q with a %s (U+%04X) %s: verb %q, want %q", cmd, name, r, where, got, verb)
				}
			}
		}
		hyphenated := ""
		for i, c := range []rune(cmd) {
			if i > 0 {
				hyphenated += "\u00AD"
			}
			hyphenated += string(c)
		}
		if got := parseCommand(hyphenated); got != verb {
			t.Errorf("%q with soft hyphens between its letters: verb %q, want %q", cmd, got, verb)
		}
		// The way a chat client sends it: a mention of the bot first.
		if got := parseCommand("<at>MFA Bot</at> " + cmd + "\u200B"); got != verb {
			t.Errorf("%q after a mention, with a zero-width space: verb %q, want %q", cmd, got, verb)
		}
	}
}

// TestFormatCharactersAloneAreNoCommand: a message of format characters
// only is not a command, and they make no other word into one.
func TestFormatCharactersAloneAreNoCommand(t *testing.T) {
	for _, text := range []string{"\u200B", "\u00AD\uFEFF\u2060", "スマ\u200Bホ", "help\u200Bme"} {
		if got := parseCommand(text); got != "" {
			t.Errorf("parseCommand(%q) = %q, want no command", text, got)
		}
	}
}
