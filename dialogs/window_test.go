package dialogs_test

import (
	"testing"
	"time"

	"github.com/smartswap/mfabot/dialogs"
)

func TestParseWindow(t *testing.T) {
	good := map[string]struct {
		days       []time.Weekday
		start, end int
	}{
		"Mon-Fri 09:00-18:00":     {[]time.Weekday{1, 2, 3, 4, 5}, 540, 1080},
		"mon,wed,fri 10:00-16:30": {[]time.Weekday{1, 3, 5}, 600, 990},
		"Sat-Mon 00:00-24:00":     {[]time.Weekday{6, 0, 1}, 0, 1440},
	}
	for in, want := range good {
		w, err := dialogs.ParseWindow(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var days []time.Weekday
		for d := time.Sunday; d <= time.Saturday; d++ {
			if w.Days[d] {
				days = append(days, d)
			}
		}
		if len(days) != len(want.days) || w.Start != want.start || w.End != want.end {
			t.Errorf("%q = %+v", in, w)
		}
	}
	if w, err := dialogs.ParseWindow("always"); err != nil || !w.Always {
		t.Errorf("always: %+v %v", w, err)
	}
	for _, bad := range []string{"", "weekdays", "Mon-Fri", "Mon-Fri 9-18", "Mon-Fri 18:00-09:00", "Xyz 09:00-10:00", "Mon-Fri 25:00-26:00", "Mon-Fri 09:60-10:00"} {
		if _, err := dialogs.ParseWindow(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWindowNext(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	w, _ := dialogs.ParseWindow("Mon-Fri 09:00-18:00")
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, tokyo) } // 23rd is a Monday
	cases := []struct{ in, want time.Time }{
		{at(23, 10, 0), at(23, 10, 0)},   // inside
		{at(23, 8, 59), at(23, 9, 0)},    // before opening
		{at(23, 18, 0), at(24, 9, 0)},    // at closing: next morning
		{at(27, 17, 59), at(27, 17, 59)}, // Friday, still open
		{at(27, 18, 30), at(30, 9, 0)},   // Friday evening: Monday
		{at(28, 12, 0), at(30, 9, 0)},    // Saturday
	}
	for _, c := range cases {
		if got := w.Next(c.in, tokyo); !got.Equal(c.want) {
			t.Errorf("Next(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	// The same instant seen from Los Angeles: Monday 10:00 JST is Sunday 17:00 there.
	la, _ := time.LoadLocation("America/Los_Angeles")
	if got := w.Next(at(23, 10, 0), la); !got.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, la)) {
		t.Errorf("LA: %s", got.In(la))
	}
	if got := (dialogs.Window{Always: true}).Next(at(28, 3, 0), tokyo); !got.Equal(at(28, 3, 0)) {
		t.Errorf("always moved the time: %s", got)
	}
}
