package main

import "testing"

// Commands pasted from mail or a web page carry invisible format
// characters: a zero-width space after the command, a soft hyphen inside
// it. Through the real handler, they start the procedure all the same
// (dialogs' TestCommandsWithFormatCharacters covers every command).
func TestCommandWithInvisibleCharactersStartsTheProcedure(t *testing.T) {
	for name, text := range map[string]string{
		"zero-width space after": "スマホ交換\u200B",
		"soft hyphen inside":     "スマホ\u00AD交換",
		"BOM and word joiner":    "\uFEFFスマ\u2060ホ交換",
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newChat(t, "")
			wantCard(t, c.say(text), stepCard("cautions"))
		})
	}
}
