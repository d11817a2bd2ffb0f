package cards

import (
	"fmt"
	"strings"
)

// Locale is a language the bot speaks.
type Locale string

// The supported locales. Japanese is the default.
const (
	Japanese Locale = "ja"
	English  Locale = "en"
)

// LocaleFor maps a Bot Framework locale ("ja-JP", "en-US", …) to the
// language the bot answers in: English for en-*, Japanese otherwise.
func LocaleFor(activityLocale string) Locale {
	l := strings.ToLower(activityLocale)
	if l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_") {
		return English
	}
	return Japanese
}

// catalog holds every user-facing string, by key, in each locale.
var catalog = map[string]map[Locale]string{
	"welcome.text": {
		Japanese: "こんにちは。MFA 用スマートフォンの交換をご案内するボットです。「スマホ交換」と送るか、下のボタンを押して始めてください。",
		English:  "Hello. I guide you through replacing the smartphone you use for MFA. Send \"change phone\" or press the button below to begin.",
	},
	"start.title": {
		Japanese: "MFA 用スマートフォンの交換",
		English:  "Replace your MFA smartphone",
	},
	"start.body": {
		Japanese: "新しいスマートフォンに Microsoft Authenticator を登録し、古いスマートフォンの登録を削除する手順を、1 ステップずつご案内します。",
		English:  "I will take you step by step through registering Microsoft Authenticator on your new phone and removing the old phone.",
	},
	"start.button": {
		Japanese: "交換を始める",
		English:  "Start",
	},
	"help.text": {
		Japanese: "「スマホ交換」と送ると、MFA 用スマートフォンの交換手順をご案内します。",
		English:  "Send \"change phone\" and I will guide you through replacing your MFA smartphone.",
	},
	"started.text": {
		Japanese: "交換手順の受付を確認しました。",
		English:  "Your request to start has been received.",
	},
}

// Text returns the catalog string key in loc, formatted with args. A key
// missing from the catalog is a programming error caught by the tests; it
// returns the key itself rather than nothing.
func Text(loc Locale, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	s, ok := m[loc]
	if !ok {
		s = m[Japanese]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
