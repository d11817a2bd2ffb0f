package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Operations through the real handler: who may move the helpdesk channel,
// and the audit lines the bot writes.

// adminAAD is the one id in HELPDESK_ADMINS of these tests.
const adminAAD = "7d5c3b1a-0000-4000-8000-0000000ad001"

// Another team and its channel, where someone tries to move the helpdesk.
const (
	otherChannel = "19:elsewhere@thread.tacv2"
	otherTeam    = "19:otherteam@thread.tacv2"
)

// newSetupRig is a helpdesk whose channel is set at run time with
// ヘルプデスク設定 (no HELPDESK_CONVERSATION_ID), with adminAAD in
// HELPDESK_ADMINS, the agent a member of the helpdesk team, and kv set.
func newSetupRig(t *testing.T, kv ...string) *helpdeskRig {
	c := newUser(t)
	r := &helpdeskRig{chat: c, logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.bot = c.startBot(redistest.Prefix(t), withVars(nil, append([]string{"HELPDESK_ADMINS", adminAAD}, kv...)...), app.Options{Logger: logger})
	c.conn.member = func(conv, user string) bool { return conv == helpdeskTeam && user == "29:"+agentAAD }
	return r
}

// sayInTeam posts text, with the bot mentioned, in channel of team as
// from, and returns the text the bot answered there.
func (r *helpdeskRig) sayInTeam(from, channel, team, text string) string {
	r.t.Helper()
	return r.channelSayIn(from, channel, team, text).Text
}

// postedTo counts the ticket cards posted to conversation conv.
func (r *helpdeskRig) postedTo(conv string) int {
	r.conn.mu.Lock()
	defer r.conn.mu.Unlock()
	n := 0
	for i := range r.conn.sent {
		if r.conn.conv[i] == conv && r.conn.method[i] == http.MethodPost {
			n++
		}
	}
	return n
}

// Moving the helpdesk channel moves the team that may issue Temporary
// Access Passes: only HELPDESK_ADMINS may do it. A member of today's team
// is told so, the refusal is logged, and tickets still go where they went.
func TestHelpdeskChannelMoveReservedToAdmins(t *testing.T) {
	r := newSetupRig(t)
	const done, denied = "ヘルプデスクの窓口に設定しました", "ヘルプデスクのメンバーだけ"

	// The first set-up: HELPDESK_ADMINS only, as before.
	if got := r.sayInTeam(agentAAD, helpdeskChannel, helpdeskTeam, "ヘルプデスク設定"); !strings.Contains(got, denied) {
		t.Fatalf("first set-up by a non-admin: %q", got)
	}
	if got := r.sayInTeam(adminAAD, helpdeskChannel, helpdeskTeam, "ヘルプデスク設定"); !strings.Contains(got, done) {
		t.Fatalf("first set-up by an admin: %q", got)
	}

	// A member of the helpdesk team may not move it, nor set it again.
	for _, where := range [][2]string{{otherChannel, otherTeam}, {helpdeskChannel, helpdeskTeam}} {
		got := r.sayInTeam(agentAAD, where[0], where[1], "ヘルプデスク設定")
		if !strings.Contains(got, "HELPDESK_ADMINS") || !strings.Contains(got, "窓口は変更していません") {
			t.Errorf("a member's ヘルプデスク設定 in %s: %q", where[0], got)
		}
	}
	if n := strings.Count(r.logs.String(), `"event":"helpdesk_channel_move_refused"`); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), `"requested_channel":"`+otherChannel+`"`) {
		t.Errorf("the refusal does not name the channel asked for:\n%s", r.logs.String())
	}
	// In English too.
	r.locale = "en-US"
	if got := r.sayInTeam(agentAAD, otherChannel, otherTeam, "helpdesksetup"); !strings.Contains(got, "Only the administrators listed in HELPDESK_ADMINS") {
		t.Errorf("a member's helpdesk setup in English: %q", got)
	}
	r.locale = "ja-JP"
	// Someone outside the team is refused as before.
	if got := r.sayInTeam(strangerAAD, otherChannel, otherTeam, "ヘルプデスク設定"); !strings.Contains(got, denied) {
		t.Errorf("a stranger's ヘルプデスク設定: %q", got)
	}

	// Tickets still go to the channel the admin set.
	wantCard(t, r.submitHelpdesk(r.say("スマホ交換"), "qr", ""), "ticket-received")
	if a, b := r.postedTo(helpdeskChannel), r.postedTo(otherChannel); a != 1 || b != 0 {
		t.Fatalf("tickets posted: %d to the helpdesk channel, %d elsewhere; want 1 and 0", a, b)
	}

	// An admin moves it; the audit line names the channel it left.
	if got := r.sayInTeam(adminAAD, otherChannel, otherTeam, "ヘルプデスク設定"); !strings.Contains(got, done) {
		t.Fatalf("an admin's move: %q", got)
	}
	if !strings.Contains(r.logs.String(), `"event":"helpdesk_channel_set","by":"`+adminAAD+`","channel":"`+otherChannel+`","team":"`+otherTeam+`","previous_channel":"`+helpdeskChannel+`"`) {
		t.Errorf("no audit line for the move:\n%s", r.logs.String())
	}
	second := &helpdeskRig{chat: r.other("0d6c1f3e-7a2b-4c5d-9e8f-102132435465")}
	wantCard(t, second.submitHelpdesk(second.say("スマホ交換"), "qr", ""), "ticket-received")
	if n := r.postedTo(otherChannel); n != 1 {
		t.Errorf("after the move: %d tickets in the new channel, want 1", n)
	}
}

// Every audit line the bot writes, in every flow that writes one, is a
// JSON object whose keys are unique at every level: log pipelines keep
// the first or the last of a duplicate, so a repeated key loses a value.
func TestAuditLinesHaveUniqueKeys(t *testing.T) {
	r := newSetupRig(t, "TAP_ENABLED", "true", "GRAPH_ALLOW_DELETE", "true")

	// ヘルプデスク設定 by an admin.
	r.sayInTeam(adminAAD, helpdeskChannel, helpdeskTeam, "ヘルプデスク設定")

	// The bot deletes the old phone at the user's request.
	card := toDeleteOld(t, r.chat)
	wantCard(t, card, stepCard("delete_old"))
	confirm := r.press(card, cards.VerbBotDelete)
	wantCard(t, confirm, "confirm-delete")
	wantCard(t, r.press(confirm, cards.VerbConfirmDelete), stepCard("remove_account"))

	// A second user's lost phone: a ticket, taken, a pass, a sign-out,
	// resolved, reopened.
	lostUser := &helpdeskRig{chat: r.other("0d6c1f3e-7a2b-4c5d-9e8f-102132435465")}
	lost := lostUser.press(lostUser.press(lostUser.say("スマホ交換"), cards.VerbNext), cards.VerbLost)
	wantCard(t, lost, "lost")
	posted := r.inChannel(http.MethodPost)
	if len(posted) != 1 {
		t.Fatalf("%d tickets posted, want 1", len(posted))
	}
	ticket := cardOf(t, posted[0])
	_, v := r.agentPress(agentAAD, ticket, cards.VerbTicketAssign, nil)
	ticket = asCard(t, v)
	_, v = r.agentPress(agentAAD, ticket, cards.VerbTicketTAP, nil)
	_, v = r.agentPress(agentAAD, asCard(t, v), cards.VerbTicketTAPGo, map[string]any{"verified": "true"})
	ticket = asCard(t, v)
	_, v = r.agentPress(agentAAD, ticket, cards.VerbTicketRevoke, nil)
	_, v = r.agentPress(agentAAD, asCard(t, v), cards.VerbTicketRevokeGo, nil)
	ticket = asCard(t, v)
	_, v = r.agentPress(agentAAD, ticket, cards.VerbTicketResolve, nil)
	r.agentPress(agentAAD, asCard(t, v), cards.VerbTicketReopen, nil)

	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(r.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"audit"`) {
			continue
		}
		if err := strictJSON(line); err != nil {
			t.Errorf("audit line: %v\n%s", err, line)
			continue
		}
		var l struct {
			Audit bool
			Event string
		}
		json.Unmarshal([]byte(line), &l)
		if l.Audit {
			seen[l.Event]++
		}
	}
	for _, ev := range []string{"helpdesk_channel_set", "authenticator_method_deleted", "assigned", "tap_issued", "sessions_revoked", "resolved", "reopened"} {
		if seen[ev] == 0 {
			t.Errorf("no audit line for %s (seen %v)", ev, seen)
		}
	}
}

// strictJSON decodes one JSON value and fails on a key repeated in any
// object, or on anything after the value.
func strictJSON(s string) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := strictValue(d); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the value")
	}
	return nil
}

// strictValue reads one value from d, checking the keys of its objects.
func strictValue(d *json.Decoder) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		keys := map[string]bool{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if keys[key] {
				return fmt.Errorf("key %q twice", key)
			}
			keys[key] = true
			if err := strictValue(d); err != nil {
				return err
			}
		}
		_, err = d.Token() // }
		return err
	case json.Delim('['):
		for d.More() {
			if err := strictValue(d); err != nil {
				return err
			}
		}
		_, err = d.Token() // ]
		return err
	}
	return nil
}

// The strict decoder itself: it finds a repeated key at any depth.
func TestStrictJSON(t *testing.T) {
	for s, ok := range map[string]bool{
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`: true,
		`{"tenant":"x","audit":true,"tenant":"x"}`:  false,
		`{"a":{"b":1,"b":2}}`:                       false,
		`{"a":[{"b":1,"b":2}]}`:                     false,
		`{"a":1} {"b":2}`:                           false,
	} {
		if err := strictJSON(s); (err == nil) != ok {
			t.Errorf("strictJSON(%s) = %v, want ok=%v", s, err, ok)
		}
	}
}

// /readyz answers 503 within its own budget (2 s, plus slack for a slow
// machine) while Redis is frozen (SIGSTOP: connections accepted, nothing
// answered), and 200 again once Redis resumes. /healthz stays 200.
func TestReadyzWithinBudgetDuringRedisFreeze(t *testing.T) {
	r := startFaultRedis(t)
	b := startFaultBot(t, r.url(), true)
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := func() { r.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(resume) // before the bot stops and Redis is killed

	for i := range 3 {
		start := time.Now()
		code := b.get("/readyz")
		took := time.Since(start)
		if code != http.StatusServiceUnavailable {
			t.Errorf("probe %d during the freeze: /readyz %d, want 503", i, code)
		}
		if took > 2500*time.Millisecond {
			t.Errorf("probe %d during the freeze: /readyz answered after %s, want ≤ 2.5 s", i, took)
		}
	}
	if code := b.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during the freeze: %d", code)
	}

	resume()
	for deadline := time.Now().Add(20 * time.Second); b.get("/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200 after Redis resumed; logs:\n%s", b.logs.String())
		}
	}
}
