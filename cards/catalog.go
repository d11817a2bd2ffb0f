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
	"sweep.title":  {Japanese: "古いスマホの登録が残っている可能性があります", English: "An old phone may still be registered"},
	"sweep.body": {
		Japanese: "あなたのアカウントには Microsoft Authenticator の登録が複数あります。使わなくなったスマホの登録が残っていると、そのスマホでサインインを承認できてしまいます。",
		English:  "Your account has more than one Microsoft Authenticator registration. While an old phone stays registered, it can still approve sign-ins.",
	},
	"sweep.choose":       {Japanese: "古いスマホ（削除する登録）を選んでください", English: "Choose the old phone (the registrations to delete)"},
	"sweep.choose.label": {Japanese: "削除する登録", English: "Registrations to delete"},
	"sweep.after": {
		Japanese: "削除はあなた自身が「セキュリティ情報」のページで行い、ボットが Microsoft Graph で確認します。",
		English:  "You delete it on the Security info page, and the bot checks through Microsoft Graph that it is gone.",
	},
	"sweep.kind.push":    {Japanese: "Authenticator アプリ", English: "Authenticator"},
	"sweep.kind.passkey": {Japanese: "パスキー", English: "Passkey"},
	"btn.sweepstart":     {Japanese: "選んだ登録を削除する", English: "Delete the chosen registrations"},
	"btn.sweepboth":      {Japanese: "これは両方使っています", English: "I use both"},
	"sweep.both.title":   {Japanese: "記録しました", English: "Noted"},
	"sweep.both.body": {
		Japanese: "両方のスマホを使っていると記録しました。今後の棚卸しでは、次の登録について確認しません。",
		English:  "We noted that you use both phones. Later sweeps will not ask about these registrations again.",
	},
	"sweep.pick.none": {Japanese: "削除する登録を選んでください。", English: "Choose the registrations to delete."},
	"sweep.pick.all": {
		Japanese: "すべての登録を削除するとサインインを承認できなくなります。今使っているスマホの Authenticator は残してください。",
		English:  "Deleting every registration would leave you unable to approve sign-ins. Keep the Authenticator of the phone you use now.",
	},
	"sweep.pick.unknown": {Japanese: "選んだ登録が見つかりません。もう一度選んでください。", English: "The chosen registration was not found. Please choose again."},
	"notify.sweep":       {Japanese: "古いスマホの登録が残っている可能性があります", English: "An old phone may still be registered"},
	"btn.lost":           {Japanese: "紛失・故障した", English: "Lost or broken"},
	"btn.start":          {Japanese: "交換を始める", English: "Start"},
	"btn.resume":         {Japanese: "続きから", English: "Continue"},
	"btn.restart":        {Japanese: "最初から", English: "Start over"},

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
	"done.deleted": {Japanese: "削除した古い登録: %s", English: "Old registration removed: %s"},
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
	"card.toolarge": {
		Japanese: "このカードは大きすぎて表示できません。お手数ですが、ヘルプデスクにお知らせください。",
		English:  "This card is too large to show. Please tell the helpdesk.",
	},
	"btn.retry":         {Japanese: "再確認", English: "Check again"},
	"btn.botdelete":     {Japanese: "ボットで削除", English: "Let the bot delete it"},
	"btn.confirmdelete": {Japanese: "削除する", English: "Delete"},
	"check.waiting": {
		Japanese: "Microsoft Authenticator の登録を確認しています。少々お待ちください(最大 2 分)。",
		English:  "Checking your Microsoft Authenticator registration. Please wait (up to 2 minutes).",
	},
	"check.found": {Japanese: "新しいスマホ「%s」の登録を確認しました。", English: "Your new phone \"%s\" is registered."},
	"check.notfound": {
		Japanese: "新しい Microsoft Authenticator の登録がまだ見つかりません。次の点を確認してから「再確認」を押してください。\n\n- PC の画面で最後の「次へ」まで押しましたか?\n- スマホで 2 桁の番号を入力して承認しましたか?\n- セキュリティ情報の一覧に新しい Microsoft Authenticator が表示されていますか?",
		English:  "No new Microsoft Authenticator registration yet. Check the following, then press \"Check again\".\n\n- Did you press the last \"Next\" on the PC?\n- Did you enter the 2-digit number on the phone and approve?\n- Does the new Microsoft Authenticator appear in the security info list?",
	},
	"check.waiting.passkey": {
		Japanese: "新しいスマホの Authenticator のパスキーを確認しています。少々お待ちください(最大 2 分)。",
		English:  "Checking the passkey in Authenticator on your new phone. Please wait (up to 2 minutes).",
	},
	"check.passkey.found": {Japanese: "新しいスマホ「%s」の Authenticator のパスキーを確認しました。", English: "The passkey in Authenticator on your new phone \"%s\" is registered."},
	"check.passkey.notfound": {
		Japanese: "新しいスマホの Authenticator のパスキーがまだ見つかりません。セキュリティ情報の一覧に新しいパスキーが表示されているか確認してから「再確認」を押してください。パスキーを使わない場合は「パスキーは使わない」を押してください。",
		English:  "No new passkey in Authenticator yet. Check that the new passkey appears in the security info list, then press \"Check again\". If you will not use a passkey, press \"I won't use a passkey\".",
	},
	"btn.nopasskey": {Japanese: "パスキーは使わない", English: "I won't use a passkey"},
	"btn.oathold":   {Japanese: "はい、古いスマホにあった", English: "Yes, on the old phone"},
	"btn.oathkept":  {Japanese: "いいえ、今も使っている", English: "No, still in use"},
	"oath.ask": {
		Japanese: "このほか「その他の認証アプリ」の登録が %d 件あります。古いスマホに入っていたものですか?(入っていた場合は、それも削除します)",
		English:  "You also have %d \"other authenticator app\" registration(s). Were they on the old phone? (If so, delete them too.)",
	},
	"oath.unanswered": {
		Japanese: "「その他の認証アプリ」が古いスマホに入っていたかどうかを、下のボタンで教えてください。",
		English:  "Please tell us with the buttons below whether the \"other authenticator app\" was on the old phone.",
	},
	"passkey.declined": {Japanese: "パスキーは使わないことを記録しました。", English: "Noted: you will not use a passkey."},
	"tap.deleted": {
		Japanese: "新しいスマホを確認できたため、ヘルプデスクが発行した一時アクセスパスを削除しました。",
		English:  "Your new phone is confirmed, so the Temporary Access Pass the helpdesk issued has been deleted.",
	},
	"delete.newpasskeygone": {
		Japanese: "新しいスマホのパスキー「%s」が削除されています。もう一度パスキーを登録してください。",
		English:  "The new phone's passkey \"%s\" has been deleted too. Please register the passkey again.",
	},
	"hd.cred.push":      {Japanese: "Authenticator アプリ: %s", English: "Authenticator: %s"},
	"hd.cred.passkey":   {Japanese: "パスキー (Authenticator): %s", English: "Passkey (Authenticator): %s"},
	"hd.cred.fido2":     {Japanese: "パスキー (その他・セキュリティキー): %s", English: "Passkey (other provider or security key): %s"},
	"hd.cred.oath":      {Japanese: "その他の認証アプリ%.0s", English: "Other authenticator app%.0s"},
	"hd.cred.phone":     {Japanese: "電話: %s", English: "Phone: %s"},
	"hd.cred.tap":       {Japanese: "一時アクセスパス%.0s(有効期限内)", English: "Temporary Access Pass%.0s (not expired)"},
	"cred.passkey":      {Japanese: "%s のパスキー(%s)", English: "Passkey on %s (%s)"},
	"cred.oath":         {Japanese: "その他の認証アプリ(名前は表示されません)", English: "Other authenticator app (no name shown)"},
	"name.push":         {Japanese: "%s の Authenticator", English: "Authenticator on %s"},
	"name.passkey":      {Japanese: "%s のパスキー", English: "passkey on %s"},
	"name.passkey.date": {Japanese: "%s のパスキー(%s 登録)", English: "passkey on %s (registered %s)"},
	"old.title":         {Japanese: "削除する古いスマホ", English: "Old phone(s) to delete"},
	"old.registered":    {Japanese: "登録日: %s", English: "Registered: %s"},
	"old.unknown":       {Japanese: "登録日不明", English: "registration date unknown"},
	"more":              {Japanese: "ほか %d 件", English: "and %d more"},
	"old.none": {
		Japanese: "以前の Microsoft Authenticator の登録はありませんでした。削除する登録はないため、古いスマホのアプリの確認に進みます。",
		English:  "There was no earlier Microsoft Authenticator registration, so there is nothing to delete. Next, check the app on your old phone.",
	},
	"delete.still": {
		Japanese: "まだ削除されていません: %s。セキュリティ情報の一覧でその行の「削除」→「OK」を選んでから、もう一度「次へ」を押してください。",
		English:  "Not deleted yet: %s. In the security info list, choose \"Delete\" then \"OK\" on that line, and press \"Next\" again.",
	},
	"delete.newgone": {
		Japanese: "新しいスマホ「%s」の登録が削除されています。新しいスマホをもう一度追加してください(サインイン方法の追加から)。",
		English:  "The new phone \"%s\" has been deleted too. Please add the new phone again (from \"Add sign-in method\").",
	},
	"delete.ok": {Japanese: "古いスマホの登録が削除されたことを確認しました。", English: "The old phone's registration is gone."},
	"graph.forbidden": {
		Japanese: "ボットに登録状況を確認する権限がありません(管理者による設定が必要です)。ヘルプデスクにご相談ください。",
		English:  "The bot is not permitted to check your registration (an administrator must grant it). Please ask the helpdesk.",
	},
	"graph.throttled": {
		Japanese: "Microsoft のサービスが混み合っています。少し待ってから「再確認」を押してください。",
		English:  "Microsoft's service is busy. Please wait a moment and press \"Check again\".",
	},
	"graph.down": {
		Japanese: "Microsoft のサービスに接続できませんでした。少し待ってから「再確認」を押してください。",
		English:  "Could not reach Microsoft's service. Please wait a moment and press \"Check again\".",
	},
	"botdelete.title": {Japanese: "古いスマホの登録をボットが削除します", English: "The bot will delete the old phone's registration"},
	"botdelete.body": {
		Japanese: "次の登録を削除します。新しいスマホの登録は削除しません。よろしいですか?",
		English:  "The following registration(s) will be deleted. The new phone is not touched. Continue?",
	},
	"btn.snooze":     {Japanese: "あとで", English: "Later"},
	"reminder.title": {Japanese: "スマホ交換の手順が途中です", English: "Your phone replacement is not finished"},
	"reminder.old": {
		Japanese: "古いスマホの登録がまだ残っています。古いスマホでサインインを承認できる状態のままです。削除まで進めてください。",
		English:  "Your old phone is still registered and can still approve sign-ins. Please finish by deleting it.",
	},
	"reminder.abandoned": {
		Japanese: "スマホ交換の手順が途中で止まっています。続きから進めるか、中止してください。",
		English:  "Your phone replacement stopped halfway. Continue where you left off, or cancel it.",
	},
	"reminder.at":        {Japanese: "現在: ステップ %d / %d「%s」", English: "Now at: step %d of %d, \"%s\""},
	"reminder.snoozed":   {Japanese: "承知しました。明日またお知らせします。", English: "All right, I will remind you tomorrow."},
	"reminder.nosnooze":  {Japanese: "これ以上あとにはできません。手順を続けてください。", English: "This reminder cannot be put off again. Please continue."},
	"reminder.confirmed": {Japanese: "完了を確認しました。古いスマホの登録は削除されています。", English: "Confirmed complete: your old phone's registration is gone."},
	"hd.form.title":      {Japanese: "ヘルプデスクに相談", English: "Ask the helpdesk"},
	"hd.form.body": {
		Japanese: "困っていることを選んでください(任意)。ヘルプデスクには、今のステップと登録状況が一緒に届きます。",
		English:  "Tell us what is wrong (optional). The helpdesk also receives the step you are at and your registrations.",
	},
	"hd.reason.label":  {Japanese: "困っていること", English: "What is wrong"},
	"hd.reason.qr":     {Japanese: "QR コードが読み取れない", English: "The QR code cannot be scanned"},
	"hd.reason.number": {Japanese: "2桁の番号が表示されない", English: "The 2-digit number does not appear"},
	"hd.reason.lost":   {Japanese: "旧端末を紛失・故障した", English: "The old phone is lost or broken"},
	"hd.reason.other":  {Japanese: "その他", English: "Other"},
	"hd.reason.noold":  {Japanese: "旧端末なし", English: "No old phone"},
	"hd.note.label":    {Japanese: "詳しく(任意)", English: "Details (optional)"},
	"hd.ratelimited": {
		Japanese: "短い時間に何度も送信されたため、いったん受け付けを止めています。1 分ほど待ってから、もう一度「送信」を押してください(入力した内容は下に残っています)。",
		English:  "You have sent this form several times in a short while, so it is paused. Please wait a minute and press \"Send\" again (what you entered is kept below).",
	},
	"btn.send":          {Japanese: "送信", English: "Send"},
	"hd.received.title": {Japanese: "ヘルプデスクに連絡しました", English: "The helpdesk has been contacted"},
	"hd.received.body": {
		Japanese: "チケット番号は **#%d** です。担当者が決まるとこのチャットでお知らせします。",
		English:  "Your ticket number is **#%d**. You will be told here when someone takes it.",
	},
	"hd.added.body": {
		Japanese: "チケット **#%d** に追記しました。",
		English:  "Added to your ticket **#%d**.",
	},
	"hd.nochannel": {
		Japanese: "ヘルプデスクの窓口がまだ設定されていないため、チケットは記録のみです。次の方法でも連絡してください。",
		English:  "The helpdesk channel is not set up yet, so the ticket is only recorded. Please also contact the helpdesk as below.",
	},
	"hd.lost.ticket": {
		Japanese: "ヘルプデスクへのチケット **#%d** を作成しました(理由: 旧端末なし)。担当者からの連絡をお待ちください。",
		English:  "Helpdesk ticket **#%d** has been opened (reason: no old phone). Someone will contact you.",
	},
	"hd.notify.assigned": {Japanese: "チケット #%d: ヘルプデスクの %s さんが担当します。", English: "Ticket #%d: %s from the helpdesk is taking care of it."},
	"hd.notify.resolved": {Japanese: "チケット #%d は解決済みになりました。", English: "Ticket #%d has been resolved."},
	"hd.notify.reopened": {Japanese: "チケット #%d が再オープンされました。", English: "Ticket #%d has been reopened."},
	"hd.notify.revoked": {
		Japanese: "ヘルプデスクがあなたのすべてのサインイン セッションをサインアウトしました。もう一度サインインしてください。",
		English:  "The helpdesk has signed out all your sign-in sessions. Please sign in again.",
	},
	"hd.denied": {
		Japanese: "この操作はヘルプデスクのメンバーだけが行えます。",
		English:  "Only members of the helpdesk can do this.",
	},
	"hd.setup.done": {
		Japanese: "このチャネルをヘルプデスクの窓口に設定しました。チケットはここに届きます。",
		English:  "This channel is now the helpdesk channel. Tickets will arrive here.",
	},
	"hd.setup.admins": {
		Japanese: "ヘルプデスクの窓口を別のチャネルに移せるのは、HELPDESK_ADMINS に登録された管理者だけです。窓口は変更していません。",
		English:  "Only the administrators listed in HELPDESK_ADMINS can move the helpdesk channel. The helpdesk channel has not changed.",
	},
	"hd.setup.env": {
		Japanese: "ヘルプデスクの窓口は環境変数 HELPDESK_CONVERSATION_ID で設定されているため、変更できません。",
		English:  "The helpdesk channel is set by HELPDESK_CONVERSATION_ID and cannot be changed here.",
	},
	"hd.setup.where": {
		Japanese: "このボットは 1:1 チャットでご利用ください。チャネルでは、ヘルプデスクにするチームのチャネルでボットにメンションして「ヘルプデスク設定」と送れます。",
		English:  "Please use this bot in a 1:1 chat. In the helpdesk team's channel, mention the bot with \"helpdesk setup\" to make it the helpdesk channel.",
	},
	"hd.stats.where": {
		Japanese: "統計は、ヘルプデスクのチャネルでボットにメンションして「統計」と送ると表示されます(ヘルプデスクのメンバーのみ)。",
		English:  "To see the statistics, mention the bot with \"stats\" in the helpdesk channel (helpdesk members only).",
	},
	// The tenant sweep in the helpdesk channel (棚卸し): the desk card, the
	// confirmation, one card per job (progress, then its summary) and the
	// report.
	"hd.sweep.where": {
		Japanese: "棚卸しは、ヘルプデスクのチャネルでボットにメンションして「棚卸し」と送ると表示されます(ヘルプデスクのメンバーのみ)。",
		English:  "To run a sweep, mention the bot with \"sweep\" in the helpdesk channel (helpdesk members only).",
	},
	"sweepdesk.title": {Japanese: "棚卸し(古いスマホの登録)", English: "Tenant sweep (old phones still registered)"},
	"sweepdesk.intro": {
		Japanese: "直近の棚卸しです。ドライランは候補者(Authenticator の登録が 2 つ以上ある人)を数えるだけで、誰にも通知しません。「通知を開始」は候補者全員にカードを送ります。",
		English:  "The latest sweeps. A dry run only counts the candidates (users with two or more Authenticator registrations) and tells no one. Start notifying sends every candidate the card.",
	},
	"sweepdesk.none":            {Japanese: "まだ棚卸しはありません。", English: "No sweep yet."},
	"sweepdesk.job":             {Japanese: "棚卸し %s: %s", English: "Sweep %s: %s"},
	"sweepdesk.mode.dryrun":     {Japanese: "ドライラン", English: "dry run"},
	"sweepdesk.mode.notify":     {Japanese: "通知あり", English: "notifying"},
	"sweepdesk.state.running":   {Japanese: "実行中", English: "running"},
	"sweepdesk.state.paused":    {Japanese: "一時停止中", English: "paused"},
	"sweepdesk.state.done":      {Japanese: "終了", English: "finished"},
	"sweepdesk.state.cancelled": {Japanese: "中止", English: "cancelled"},
	"sweepdesk.state.failed":    {Japanese: "失敗", English: "failed"},
	"sweepdesk.started":         {Japanese: "%s が %s に開始(%s)", English: "Started by %s at %s (%s)"},
	"sweepdesk.ended":           {Japanese: "終了時刻: %s", English: "Ended at %s"},
	"sweepdesk.group":           {Japanese: "対象: グループ %s のメンバー", English: "Scope: the members of group %s"},
	"sweepdesk.error":           {Japanese: "失敗の理由: %s", English: "Why it failed: %s"},
	"sweepdesk.fact.scanned":    {Japanese: "確認したユーザー", English: "Users scanned"},
	"sweepdesk.fact.candidates": {Japanese: "候補者", English: "Candidates"},
	"sweepdesk.fact.notified":   {Japanese: "カードを送信", English: "Cards sent"},
	"sweepdesk.fact.completed":  {Japanese: "削除まで完了", English: "Completed"},
	"sweepdesk.fact.both":       {Japanese: "辞退(両方使用中)", English: "Declined (uses both)"},
	"sweepdesk.fact.open":       {Japanese: "未対応", English: "Still open"},
	"sweepdesk.fact.graph":      {Japanese: "Graph リクエスト", English: "Graph requests"},
	"sweepdesk.scanned":         {Japanese: "%d / %d 人", English: "%d of %d"},
	"sweepdesk.scanned.listing": {Japanese: "%d / %d 人(一覧を取得中)", English: "%d of %d so far (still listing)"},
	"sweepdesk.count":           {Japanese: "%d 人", English: "%d"},
	"sweepdesk.graph":           {Japanese: "%d 件(スロットル %d 件)", English: "%d (%d throttled)"},
	"btn.sweepdesk.dryrun":      {Japanese: "ドライランを開始", English: "Start a dry run"},
	"btn.sweepdesk.notify":      {Japanese: "通知を開始", English: "Start notifying"},
	"btn.sweepdesk.go":          {Japanese: "実行", English: "Run"},
	"btn.sweepdesk.pause":       {Japanese: "一時停止", English: "Pause"},
	"btn.sweepdesk.resume":      {Japanese: "再開", English: "Resume"},
	"btn.sweepdesk.report":      {Japanese: "レポート", English: "Report"},
	"btn.sweepdesk.refresh":     {Japanese: "更新", English: "Refresh"},
	"btn.sweepdesk.list":        {Japanese: "棚卸しの一覧", English: "All sweeps"},
	"sweepdesk.confirm.title":   {Japanese: "通知の開始", English: "Start notifying"},
	"sweepdesk.confirm.body":    {Japanese: "全社員の候補者にカードを送ります。よろしいですか？", English: "The card will be sent to every candidate in the company. Continue?"},
	"sweepdesk.confirm.group": {
		Japanese: "グループ %s のメンバーの候補者にカードを送ります。よろしいですか？",
		English:  "The card will be sent to the candidates among the members of group %s. Continue?",
	},
	"sweepdesk.group.label":       {Japanese: "対象のグループ(オブジェクト ID、空欄なら全社員)", English: "Group to sweep (object ID; empty: everyone)"},
	"sweepdesk.group.placeholder": {Japanese: "例: パイロット部門のグループ ID", English: "e.g. the pilot group's ID"},
	"sweepdesk.group.bad": {
		Japanese: "グループのオブジェクト ID(GUID)を入力してください。空欄なら全社員が対象です。",
		English:  "Enter the group's object ID (a GUID), or leave it empty for everyone.",
	},
	"sweepdesk.confirm.note": {
		Japanese: "候補者ひとりひとりのボットとのチャットに「古いスマホの登録が残っている可能性があります」のカードが届きます。アプリを入れていない人には届かず、レポートに載ります。途中で一時停止・中止できます。",
		English:  "Each candidate gets the card \"An old phone may still be registered\" in their chat with the bot; those without the app are listed in the report instead. You can pause or cancel at any time.",
	},
	"sweepdesk.busy": {
		Japanese: "棚卸し %s が実行中か一時停止中です。終わるのを待つか、中止してから始めてください。",
		English:  "Sweep %s is running or paused. Wait for it to end, or cancel it, before starting another.",
	},
	"sweepdesk.begun": {
		Japanese: "棚卸し %s を開始しました。進み具合はこのチャネルのカードでお知らせします。",
		English:  "Sweep %s has started. A card in this channel shows its progress.",
	},
	"sweepdesk.paused":    {Japanese: "棚卸し %s を一時停止しました。", English: "Sweep %s is paused."},
	"sweepdesk.resumed":   {Japanese: "棚卸し %s を再開しました。", English: "Sweep %s is running again."},
	"sweepdesk.cancelled": {Japanese: "棚卸し %s を中止しました。", English: "Sweep %s is cancelled."},
	"sweepdesk.unchanged": {
		Japanese: "棚卸し %s は「%s」のため、この操作はできません。",
		English:  "Sweep %s is %s: this cannot be done now.",
	},
	"sweepdesk.notfound": {
		Japanese: "棚卸し %s が見つかりません(保存期間が過ぎた可能性があります)。",
		English:  "Sweep %s was not found (it may have expired).",
	},
	"sweepdesk.unfinished": {
		Japanese: "棚卸し %s はまだ終わっていません。レポートは終わってから作れます。",
		English:  "Sweep %s has not ended yet. Its report can be made once it has.",
	},
	"sweepdesk.progress.title": {Japanese: "棚卸しの進み具合: %s", English: "Sweep in progress: %s"},
	"sweepdesk.summary.title":  {Japanese: "棚卸しの結果: %s", English: "Sweep result: %s"},
	"notify.sweepdesk":         {Japanese: "棚卸し %s: %s", English: "Sweep %s: %s"},
	"sweepdesk.report.title":   {Japanese: "棚卸しのレポート: %s", English: "Sweep report: %s"},
	"sweepdesk.report.attached": {
		Japanese: "候補者の一覧を CSV ファイル %s で添付しました(UTF-8、BOM 付き。Excel で開けます)。",
		English:  "The candidates are attached as the CSV file %s (UTF-8 with a BOM; Excel opens it).",
	},
	"sweepdesk.report.cli": {
		Japanese: "添付ファイルが表示されないときは、ボットの環境で次のコマンドを実行すると同じ CSV を取得できます: `go run . sweep --resume %s --report file.csv`",
		English:  "If the attachment is not shown, the same CSV can be had by running this where the bot runs: `go run . sweep --resume %s --report file.csv`",
	},
	"sweepdesk.report.toolarge": {
		Japanese: "レポートが大きすぎるため、このチャネルには添付できません。ボットの環境で次のコマンドを実行して取得してください: `go run . sweep --resume %s --report file.csv`",
		English:  "The report is too large to attach in this channel. Run this where the bot runs to get it: `go run . sweep --resume %s --report file.csv`",
	},
	"sweepdesk.report.first":           {Japanese: "候補者(最初の %d 人)", English: "Candidates (the first %d)"},
	"sweepdesk.report.none":            {Japanese: "候補者はいませんでした。", English: "No candidates were found."},
	"sweepdesk.action.":                {Japanese: "対応なし", English: "nothing done"},
	"sweepdesk.action.notified":        {Japanese: "通知済み", English: "notified"},
	"sweepdesk.action.no_conversation": {Japanese: "アプリ未インストール(通知できず)", English: "no chat with the bot (not notified)"},
	"sweepdesk.action.in_procedure":    {Japanese: "手順の途中(通知せず)", English: "in the procedure already (not notified)"},
	"sweepdesk.action.both_in_use":     {Japanese: "両方使用中", English: "uses both"},
	"sweepdesk.action.started":         {Japanese: "削除を開始", English: "started deleting"},
	"sweepdesk.action.completed":       {Japanese: "削除まで完了", English: "completed"},
	"sweepdesk.action.unreachable":     {Japanese: "届かず(アプリの削除など)", English: "unreachable (app removed)"},
	"sweepdesk.action.failed":          {Japanese: "失敗(%s)", English: "failed (%s)"},
	// Helpdesk staff's side: ticket cards, their notices and history.
	"hd.ticket.notfound": {
		Japanese: "チケットが見つかりません(90 日を過ぎたものは削除されます)。",
		English:  "Ticket not found (tickets are deleted after 90 days).",
	},
	"hd.tap.verify": {
		Japanese: "本人確認を行ったことを確認欄でチェックしてから発行してください。",
		English:  "Tick the box confirming that you verified the user's identity, then issue the pass.",
	},
	"hd.tap.failed":    {Japanese: "一時アクセスパスを発行できませんでした: %s", English: "The Temporary Access Pass was not issued: %s"},
	"hd.revoke.failed": {Japanese: "サインアウトできませんでした: %s", English: "The sessions were not signed out: %s"},
	"hd.graph.forbidden": {
		Japanese: "ボットに Graph の権限がありません(UserAuthenticationMethod.ReadWrite.All / User.RevokeSessions.All と管理者の同意が必要です)。",
		English:  "The bot lacks a Graph permission (UserAuthenticationMethod.ReadWrite.All / User.RevokeSessions.All with admin consent).",
	},
	"hd.graph.throttled": {Japanese: "Graph が混み合っています。少し待ってからもう一度。", English: "Graph is busy. Wait a moment and try again."},
	"hd.graph.down": {
		Japanese: "Graph に接続できませんでした。少し待ってからもう一度。詳しくはボットのログをご覧ください。",
		English:  "Could not reach Graph. Wait a moment and try again; the bot's log has the details.",
	},
	"hd.tap.nochat": {
		Japanese: "ユーザーの 1:1 チャットが分かりません(ユーザーにアプリがインストールされていません)。",
		English:  "The user's 1:1 chat is unknown (the app is not installed for them).",
	},
	"hd.history.assigned": {Japanese: "%s %s が担当", English: "%s %s took it"},
	"hd.history.resolved": {Japanese: "%s %s が解決済みに", English: "%s %s resolved it"},
	"hd.history.reopened": {Japanese: "%s %s が再オープン", English: "%s %s reopened it"},
	"hd.history.tap": {
		Japanese: "%s %s が一時アクセスパスを発行(ユーザーの 1:1 チャットにのみ送信)",
		English:  "%s %s issued a Temporary Access Pass (sent to the user's 1:1 chat only)",
	},
	"notify.reminder.old": {
		Japanese: "スマホ交換: 古いスマホの登録がまだ残っています",
		English:  "Phone swap: your old phone is still registered",
	},
	"notify.reminder.resume": {
		Japanese: "スマホ交換: 手順の続きがあります",
		English:  "Phone swap: your procedure is waiting for you",
	},
	"notify.tap": {
		Japanese: "スマホ交換: ヘルプデスクから一時アクセスパスが届きました",
		English:  "Phone swap: the helpdesk sent you a Temporary Access Pass",
	},
	"notify.ticket": {
		Japanese: "スマホ交換: ヘルプデスクへの相談 #%d",
		English:  "Phone swap: helpdesk request #%d",
	},
	"hd.history.tapdeleted": {
		Japanese: "%s 新しいスマホを確認したため、ボットが一時アクセスパスを削除",
		English:  "%s the new phone is verified: the bot deleted the Temporary Access Pass",
	},
	"hd.history.revoked": {Japanese: "%s %s がすべてのセッションをサインアウト", English: "%s %s signed out all sessions"},
	"hd.escalated": {
		Japanese: "自動エスカレーション: リマインダーをすべて送った後も古いスマホの登録が残っています。",
		English:  "Escalated automatically: the old phone is still registered after every reminder.",
	},
	"hd.device.registered": {Japanese: "%s(登録日 %s)", English: "%s (registered %s)"},
	"hd.devices.none":      {Japanese: "(なし)", English: "(none)"},
	"hd.devices.unknown":   {Japanese: "(取得できませんでした: %s)", English: "(could not be read: %s)"},
	"tap.title":            {Japanese: "一時アクセスパス", English: "Temporary Access Pass"},
	"tap.body": {
		Japanese: "ヘルプデスクが一時アクセスパスを発行しました。**1 回だけ**、**%d 分間** 使えます。誰にも教えないでください。",
		English:  "The helpdesk issued a Temporary Access Pass. It works **once**, for **%d minutes**. Do not share it.",
	},
	"tap.next": {
		Japanese: "「続きから」を押して、セキュリティ情報のページでこのパスを使ってサインインし、新しいスマホを登録してください。",
		English:  "Press \"Continue\", then sign in to the security info page with this pass and add your new phone.",
	},
	"store.qr":   {Japanese: "%s の QR コード", English: "QR code for %s"},
	"store.link": {Japanese: "%s を開く", English: "Open %s"},
}

// Known reports whether key is in the catalog.
func Known(key string) bool {
	_, ok := catalog[key]
	return ok
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
