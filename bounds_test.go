package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Helpdesk-form submissions are limited per user: the sixth within a
// minute gets the form back, with the reason and note as sent and a
// notice, and changes nothing; once the window has passed it goes
// through. A ticket keeps its last 20 notes, and its card says how many
// older ones were dropped and stays under Teams' size limit.
func TestHelpdeskSubmissionsLimitedAndNotesBounded(t *testing.T) {
	r := newHelpdeskRig(t)
	rdb := redistest.Client(t)
	step := r.press(r.say("スマホ交換"), cards.VerbNext)
	note := func(i int) string { return "メモ " + strconv.Itoa(i) + " " + strings.Repeat("長", 480) }

	for i := 1; i <= 5; i++ {
		wantCard(t, r.submitHelpdesk(step, "other", note(i)), "ticket-received")
	}
	updates := len(r.inChannel(http.MethodPut))
	limited := r.submitHelpdesk(step, "qr", note(6))
	wantCard(t, limited, "helpdesk-form")
	for _, want := range []string{"1 分ほど待って", `"value":"qr"`, note(6)} {
		if !strings.Contains(text(limited), want) {
			t.Errorf("the form sent back lacks %.40q: %.300s", want, text(limited))
		}
	}
	if n := len(r.inChannel(http.MethodPut)); n != updates {
		t.Errorf("a refused submission updated the ticket card (%d updates, want %d)", n, updates)
	}
	// Its buttons still work: 戻る goes back to the step.
	wantCard(t, r.press(limited, cards.VerbResume), "step-"+cards.CardID(step)[len("step-"):])

	// The window passes (its key expires); notes up to 25 in all.
	submits := r.prefixKey("{t:" + convTenant + ":u:" + convUser + "}:hd:submits")
	if rdb.Exists(context.Background(), submits).Val() != 1 {
		t.Fatalf("no submission count at %s", submits)
	}
	for i := 6; i <= 25; i++ {
		if (i-1)%5 == 0 {
			rdb.Del(context.Background(), submits)
		}
		wantCard(t, r.submitHelpdesk(step, "other", note(i)), "ticket-received")
	}
	puts := r.inChannel(http.MethodPut)
	last := cardOf(t, puts[len(puts)-1])
	body := text(last)
	if !strings.Contains(body, "古い 5 件は省略") || strings.Contains(body, "メモ 5 ") || !strings.Contains(body, "メモ 6 ") || !strings.Contains(body, "メモ 25 ") {
		t.Errorf("the ticket card does not show the last 20 notes and the 5 dropped")
	}
	b, _ := json.Marshal(last)
	if n := cards.Size(b); n >= cards.MaxSize {
		t.Errorf("ticket card with 20 long notes: %d UTF-16 code units", n)
	}
	// The stored ticket keeps 20.
	keys := rdb.Keys(context.Background(), r.prefixKey("{t:"+convTenant+":u:"+convUser+"}:ticket:[0-9]*")).Val()
	if len(keys) != 1 {
		t.Fatalf("ticket keys %v", keys)
	}
	var tk struct {
		Notes   []string `json:"notes"`
		Dropped int      `json:"notesDropped"`
	}
	if err := json.Unmarshal([]byte(rdb.HGet(context.Background(), keys[0], "doc").Val()), &tk); err != nil || len(tk.Notes) != 20 || tk.Dropped != 5 {
		t.Errorf("stored ticket: %d notes, %d dropped (%v), want 20 and 5", len(tk.Notes), tk.Dropped, err)
	}
}

// A user with more registrations than a ticket card lists, each with a
// very long name: the ticket lists 19 and how many more, each name cut,
// and the card stays under the limit.
func TestTicketDevicesBounded(t *testing.T) {
	r := newHelpdeskRig(t)
	for i := range 30 {
		r.sb.AddMethod(r.user, strconv.Itoa(i)+" "+strings.Repeat("[x](https://evil.example)", 200))
	}
	step := r.say("スマホ交換")
	wantCard(t, r.submitHelpdesk(step, "other", "多すぎる"), "ticket-received")
	posted := r.inChannel(http.MethodPost)
	if len(posted) != 1 {
		t.Fatalf("%d ticket cards posted", len(posted))
	}
	card := cardOf(t, posted[0])
	body := text(card)
	if !strings.Contains(body, "ほか 12 件") || strings.Contains(body, "省略") {
		t.Errorf("the ticket does not list 19 devices and how many more")
	}
	b, _ := json.Marshal(card)
	if n := cards.Size(b); n >= cards.MaxSize {
		t.Errorf("ticket card: %d UTF-16 code units", n)
	}
	if strings.Contains(body, "](http") {
		t.Error("a device name made a link")
	}
}
