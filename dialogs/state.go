package dialogs

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartswap/mfabot/cards"
)

// stateVersion is the schema version of the stored dialog document.
const stateVersion = 1

// Dialog statuses.
const (
	statusActive    = "active"
	statusDone      = "done"
	statusCancelled = "cancelled"
)

// maxTimeline bounds the events kept per dialog.
const maxTimeline = 40

// state is one user's dialog, stored as JSON in Redis.
type state struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Step    StepID    `json:"step"`
	Nonce   string    `json:"nonce"`
	Status  string    `json:"status"`
	Locale  string    `json:"loc,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Timeline records what happened, for status and the helpdesk.
	Timeline []event `json:"tl,omitempty"`

	// Snapshot holds the ids of the user's Authenticator methods before
	// the new phone was added; SnapOK says it was taken.
	Snapshot []string `json:"snap,omitempty"`
	SnapOK   bool     `json:"snapOK,omitempty"`
	// New is the registration found that was not in the snapshot.
	New *device `json:"new,omitempty"`
	// Old are the snapshot's registrations still present when New was
	// found: what the user must delete.
	Old []device `json:"old,omitempty"`
	// Checking is set while the bot polls Graph for the new registration.
	Checking bool `json:"checking,omitempty"`
	// Problem is the catalog key of the last check's problem, shown on the
	// current card until the next move.
	Problem string `json:"problem,omitempty"`
	// ProblemArg fills the problem's text (device names).
	ProblemArg string `json:"problemArg,omitempty"`
	// LastError is the last directory error, kept for the helpdesk.
	LastError string `json:"lastError,omitempty"`

	// Ticket is the helpdesk ticket opened for a lost phone.
	Ticket int64 `json:"ticket,omitempty"`

	// Reached is the 1-based position of the furthest step reached, so
	// that the funnel counts each step once per dialog.
	Reached int `json:"reached,omitempty"`

	// TZ is the user's time zone as Teams last reported it.
	TZ string `json:"tz,omitempty"`
	// Remind is the reminder queued for this dialog.
	Remind *reminder `json:"rem,omitempty"`

	// By names the activity whose turn saved this state (a digest of its
	// conversation and activity ids), so that Teams' redelivery of that
	// activity, after the answer failed to leave, answers from this state
	// instead of moving the dialog again.
	By string `json:"by,omitempty"`
}

// location is the user's time zone (Asia/Tokyo when unknown).
func (s *state) location() *time.Location {
	if l := loadLocation(s.TZ); l != nil {
		return l
	}
	return tokyo
}

// device is a registration remembered by the dialog.
type device struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	Created *time.Time `json:"created,omitempty"`
}

// event is one entry of a dialog's timeline.
type event struct {
	At   int64  `json:"at"` // Unix seconds
	Step StepID `json:"step"`
	What string `json:"what"`
}

func decodeState(doc []byte) (*state, error) {
	var s state
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, fmt.Errorf("decode dialog state: %w", err)
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("dialog state version %d not supported", s.V)
	}
	return &s, nil
}

func (s *state) encode() ([]byte, error) { return json.Marshal(s) }

// activityDigest names an activity for state.By: short, and the same for
// every delivery of it ("" when it has no id).
func activityDigest(conversationID, activityID string) string {
	if activityID == "" {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte(conversationID))
	h.Write([]byte{0})
	h.Write([]byte(activityID))
	return strconv.FormatUint(h.Sum64(), 36)
}

func (s *state) active() bool { return s != nil && s.Status == statusActive }

// ref is what the buttons of the current card carry.
func (s *state) ref() cards.Ref { return cards.Ref{Dialog: s.ID, Step: string(s.Step), Nonce: s.Nonce} }

// stepIndex is the 1-based position of the current step (the lost branch
// counts as the step it branched from).
func (s *state) stepIndex() int {
	i, st := rowOf(s.Step)
	if i < 0 && st != nil {
		i, _ = rowOf(st.Back)
	}
	return i + 1
}

func (s *state) record(now time.Time, what string) {
	s.Timeline = append(s.Timeline, event{At: now.Unix(), Step: s.Step, What: what})
	if len(s.Timeline) > maxTimeline {
		s.Timeline = slices.Delete(s.Timeline, 0, len(s.Timeline)-maxTimeline)
	}
	s.Updated = now
}

// clone copies a state deeply enough to change it without touching cur.
func (s *state) clone() *state {
	c := *s
	c.Timeline = slices.Clone(s.Timeline)
	c.Snapshot = slices.Clone(s.Snapshot)
	c.Old = slices.Clone(s.Old)
	if s.New != nil {
		n := *s.New
		c.New = &n
	}
	if s.Remind != nil {
		r := *s.Remind
		c.Remind = &r
	}
	return &c
}

// takeSnapshot records the registrations that exist before the new phone
// is added.
func (s *state) takeSnapshot(methods []Method) {
	s.Snapshot = s.Snapshot[:0]
	for _, m := range methods {
		s.Snapshot = append(s.Snapshot, m.ID)
	}
	s.SnapOK = true
}

// zones caches time zones by name: time.LoadLocation reads and parses the
// zone database on every call (6% of a turn's CPU under load).
var zones sync.Map // name → *time.Location, or nil for an unknown name

// loadLocation returns the named zone, nil for "" or an unknown name.
func loadLocation(name string) *time.Location {
	if name == "" {
		return nil
	}
	if l, ok := zones.Load(name); ok {
		loc, _ := l.(*time.Location)
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	if n := zonesCached.Add(1); n <= maxCachedZones {
		zones.Store(name, loc)
	}
	return loc
}

// maxCachedZones bounds the cache: names come from activities.
const maxCachedZones = 1000

var zonesCached atomic.Int64
