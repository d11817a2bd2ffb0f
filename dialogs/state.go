package dialogs

import (
	"encoding/json"
	"fmt"
	"slices"
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

// stepLost is the pseudo-step of a user whose old phone is lost or broken.
const stepLost = "lost"

// maxTimeline bounds the events kept per dialog.
const maxTimeline = 40

// state is one user's dialog, stored as JSON in Redis.
type state struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Step    string    `json:"step"`
	Nonce   string    `json:"nonce"`
	Status  string    `json:"status"`
	Locale  string    `json:"loc,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Timeline records what happened, for status and the helpdesk.
	Timeline []event `json:"tl,omitempty"`
}

// event is one entry of a dialog's timeline.
type event struct {
	At   int64  `json:"at"` // Unix seconds
	Step string `json:"step"`
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

func (s *state) active() bool { return s != nil && s.Status == statusActive }

// ref is what the buttons of the current card carry.
func (s *state) ref() cards.Ref { return cards.Ref{Dialog: s.ID, Step: s.Step, Nonce: s.Nonce} }

// stepIndex is the 1-based position of the current step (the lost
// pseudo-step counts as the step it branched from).
func (s *state) stepIndex() int {
	step := s.Step
	if step == stepLost {
		step = "old_phone"
	}
	return slices.Index(cards.StepIDs, step) + 1
}

func (s *state) record(now time.Time, what string) {
	s.Timeline = append(s.Timeline, event{At: now.Unix(), Step: s.Step, What: what})
	if len(s.Timeline) > maxTimeline {
		s.Timeline = slices.Delete(s.Timeline, 0, len(s.Timeline)-maxTimeline)
	}
	s.Updated = now
}
