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
	"progress":     {Japanese: "ステップ %d / %d", English: "Step %d of %d"},
	"btn.next":     {Japanese: "次へ", English: "Next"},
	"btn.back":     {Japanese: "戻る", English: "Back"},
	"btn.cancel":   {Japanese: "中止", English: "Cancel"},
	"btn.helpdesk": {Japanese: "ヘルプデスクに相談", English: "Ask the helpdesk"},
	"btn.lost":     {Japanese: "紛失・故障した", English: "Lost or broken"},
	"btn.start":    {Japanese: "交換を始める", English: "Start"},
	"btn.resume":   {Japanese: "続きから", English: "Continue"},
	"btn.restart":  {Japanese: "最初から", English: "Start over"},

	"welcome.text": {
		Japanese: "こんにちは。MFA 用スマートフォンの交換をご案内するボットです。「スマホ交換」と送るか、下のボタンを押して始めてください。",
		English:  "Hello. I guide you through replacing the smartphone you use for MFA. Send \"change phone\" or press the button below to begin.",
	},
	"start.title": {Japanese: "MFA 用スマートフォンの交換", English: "Replace your MFA smartphone"},
	"start.body": {
		Japanese: "新しいスマートフォンに Microsoft Authenticator を登録し、古いスマートフォンの登録を削除する手順を、1 ステップずつご案内します。",
		English:  "I will take you step by step through registering Microsoft Authenticator on your new phone and removing the old phone.",
	},
	"help.title": {Japanese: "使い方", English: "How to use this bot"},
	"help.body": {
		Japanese: "MFA 用スマートフォンの交換手順をご案内します。使える言葉:\n\n- **スマホ交換**: 手順を始める\n- **状況**: 今どのステップにいるか\n- **最初から**: 手順をやり直す\n- **中止**: 手順をやめる\n- **ヘルプ**: この説明",
		English:  "I guide you through replacing your MFA smartphone. You can say:\n\n- **change phone**: start the procedure\n- **status**: where you are\n- **restart**: start over\n- **cancel**: stop\n- **help**: this text",
	},
	"stale.notice": {
		Japanese: "このカードは古くなっています。現在のステップを表示します。",
		English:  "This card is out of date. Here is your current step.",
	},
	"resume.title": {Japanese: "交換手順の途中です", English: "You are in the middle of the procedure"},
	"resume.body": {
		Japanese: "現在 %s(ステップ %d / %d)です。続きから進めるか、最初からやり直すかを選んでください。",
		English:  "You are at \"%s\" (step %d of %d). Continue where you left off, or start over?",
	},
	"status.title": {Japanese: "現在の状況", English: "Where you are"},
	"status.body": {
		Japanese: "ステップ %d / %d: %s",
		English:  "Step %d of %d: %s",
	},
	"status.next": {Japanese: "次は: %s", English: "Next: %s"},
	"status.none": {
		Japanese: "進行中の交換手順はありません。「スマホ交換」と送ると始められます。",
		English:  "No procedure is in progress. Send \"change phone\" to start one.",
	},
	"cancel.title": {Japanese: "交換手順を中止しました", English: "Procedure cancelled"},
	"cancel.body": {
		Japanese: "いつでも「スマホ交換」と送れば、もう一度始められます。新しいスマホを登録済みで古いスマホの登録が残っている場合は、後で必ず削除してください。",
		English:  "Send \"change phone\" any time to start again. If you registered the new phone but the old one is still listed, remember to delete it later.",
	},
	"done.title": {Japanese: "交換が完了しました", English: "All done"},
	"done.body": {
		Japanese: "お疲れさまでした。新しいスマホへの MFA の移行と、古いスマホの登録削除が完了しました。",
		English:  "Thank you. Your MFA has moved to the new phone and the old phone has been removed.",
	},
	"done.summary": {Japanese: "所要時間: %d 分", English: "Time taken: %d min"},
	"done.steps":   {Japanese: "完了したステップ", English: "Steps completed"},
	"lost.title":   {Japanese: "古いスマホが使えない場合", English: "If your old phone is lost or broken"},
	"lost.body": {
		Japanese: "通常の手順では、新しいスマホを登録するために古いスマホ(または別のサインイン方法)でのサインインが必要です。古いスマホを紛失・故障した場合は、ヘルプデスクでの対応が必要です。",
		English:  "The normal procedure needs your old phone (or another sign-in method) to sign in before the new phone can be added. If the old phone is lost or broken, the helpdesk must help you.",
	},
	"helpdesk.title": {Japanese: "ヘルプデスクへの相談", English: "Asking the helpdesk"},
	"helpdesk.body": {
		Japanese: "手順の途中で困ったときは、次の方法でヘルプデスクに相談してください。相談の際は、今のステップ(%s)をお伝えください。",
		English:  "If you are stuck, contact the helpdesk as below, and tell them the step you are at (%s).",
	},
	"helpdesk.none": {Japanese: "(開始前)", English: "(not started)"},
	"unknown.text": {
		Japanese: "すみません、その言葉はわかりませんでした。",
		English:  "Sorry, I did not understand that.",
	},
	"error.retry": {
		Japanese: "申し訳ありません、処理できませんでした。もう一度お試しください。",
		English:  "Sorry, something went wrong. Please try again.",
	},
	"store.qr":   {Japanese: "%s の QR コード", English: "QR code for %s"},
	"store.link": {Japanese: "%s を開く", English: "Open %s"},
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
