package cards

import (
	"strconv"
	"time"
)

// VerbStats is the 更新 button of the stats card; typed, 統計 or stats asks
// for the card in the first place.
const VerbStats = "stats"

// StatsView is what the helpdesk's stats card shows.
type StatsView struct {
	// AsOf is when the numbers were read, in Japan time ("2006-01-02 15:04").
	AsOf string
	// OpenTickets counts the helpdesk tickets not resolved.
	OpenTickets int64
	// StepTitles are the steps of the procedure, in order.
	StepTitles []string
	// Windows are the periods shown side by side (the last 7 and 30 days).
	Windows []StatsWindow
}

// StatsWindow is the funnel of one period.
type StatsWindow struct {
	// Days is the length of the period, today included.
	Days int
	// Started, Completed, Cancelled and Lost count procedures started,
	// completed, cancelled and sent down the lost-phone path.
	Started, Completed, Cancelled, Lost int64
	// RemovedPush, RemovedPasskey and RemovedOath count the old
	// credentials the bot verified gone, by kind.
	RemovedPush, RemovedPasskey, RemovedOath int64
	// Entered counts, per step (in StatsView.StepTitles' order), the
	// procedures that reached it.
	Entered []int64
	// Median is the median time from start to completion; 0 when nothing
	// was completed.
	Median time.Duration
}

// Stats is the funnel of the last days and the open tickets, for the
// helpdesk channel (in Japanese, which the helpdesk staff read), with a
// 更新 button that redraws it in place.
func Stats(v StatsView) Card {
	body := []any{
		title("スマホ交換の統計"),
		textBlock("集計時点: "+v.AsOf+"(日本時間)。すべてのレプリカの合計です。", "isSubtle", true, "spacing", "None"),
		map[string]any{"type": "FactSet", "facts": []any{
			fact("未解決のチケット", strconv.FormatInt(v.OpenTickets, 10)+" 件"),
		}},
	}
	row := func(label string, bold bool, f func(StatsWindow) string) map[string]any {
		var vals []string
		for _, w := range v.Windows {
			vals = append(vals, f(w))
		}
		return statsRow(label, vals, bold)
	}
	header := func(label string) map[string]any {
		return row(label, true, func(w StatsWindow) string { return "直近 " + strconv.Itoa(w.Days) + " 日" })
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }

	body = append(body,
		textBlock("手順", "weight", "Bolder", "size", "Medium", "separator", true),
		header("項目"),
		row("開始", false, func(w StatsWindow) string { return count(w.Started) }),
		row("完了", false, func(w StatsWindow) string { return count(w.Completed) }),
		row("完了率", false, func(w StatsWindow) string { return percent(w.Completed, w.Started) }),
		row("完了までの時間(中央値)", false, func(w StatsWindow) string { return approxDuration(w.Median) }),
		row("中止", false, func(w StatsWindow) string { return count(w.Cancelled) }),
		row("紛失・故障", false, func(w StatsWindow) string { return count(w.Lost) }),
		row("削除を確認: Authenticator", false, func(w StatsWindow) string { return count(w.RemovedPush) }),
		row("削除を確認: パスキー", false, func(w StatsWindow) string { return count(w.RemovedPasskey) }),
		row("削除を確認: その他の認証アプリ", false, func(w StatsWindow) string { return count(w.RemovedOath) }),
		textBlock("ステップごとの到達数", "weight", "Bolder", "size", "Medium", "separator", true),
		header("ステップ"),
	)
	for i, t := range v.StepTitles {
		// A full-width period: "2. " would be read as a Markdown list and
		// renumbered from 1.
		body = append(body, row(itoa(i+1)+"．"+t, false, func(w StatsWindow) string {
			if i < len(w.Entered) {
				return count(w.Entered[i])
			}
			return "0"
		}))
	}
	body = append(body, textBlock("到達数は 1 回の手順につき各ステップ 1 回だけ数えます(戻って進み直しても増えません)。完了率は期間中の完了 ÷ 開始です。", "isSubtle", true, "size", "Small"))
	return newCard("stats", body, []any{execute("更新", VerbStats, nil, "")})
}

// statsRow is one line of the stats table: a label, then one value per
// period, right-aligned in columns of equal width.
func statsRow(label string, values []string, bold bool) map[string]any {
	weight := "Default"
	if bold {
		weight = "Bolder"
	}
	cols := []any{map[string]any{
		"type": "Column", "width": "stretch",
		"items": []any{textBlock(label, "weight", weight)},
	}}
	for _, v := range values {
		cols = append(cols, map[string]any{
			"type": "Column", "width": "90px",
			"items": []any{textBlock(v, "weight", weight, "horizontalAlignment", "Right")},
		})
	}
	return map[string]any{"type": "ColumnSet", "columns": cols, "spacing": "Small"}
}

// percent is n of total as a whole percentage; "—" for no total.
func percent(n, total int64) string {
	if total <= 0 {
		return "—"
	}
	return strconv.FormatInt((n*200+total)/(2*total), 10) + "%"
}

// approxDuration says d in Japanese to the minute (hours past an hour, days
// past two); "—" for zero.
func approxDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return "1 分未満"
	case d < time.Hour:
		return itoa(int(d.Round(time.Minute)/time.Minute)) + " 分"
	case d < 48*time.Hour:
		m := int(d.Round(time.Minute) / time.Minute)
		return itoa(m/60) + " 時間 " + itoa(m%60) + " 分"
	}
	return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) + " 日"
}
