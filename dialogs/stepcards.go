package dialogs

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/smartswap/mfabot/cards"
)

// stepCards renders step cards to JSON once per look and fills in what
// differs from one user to the next: the dialog's id and nonce, the new
// phone's name, the old phones' names and dates, the user's own page (the
// sandbox's). Most turns answer with a step card, and building and encoding
// it anew (a tree of maps, its keys sorted) was a sixth of a turn's CPU. A
// look is everything else the card shows: the step, the locale, the notice
// and problem, the buttons, how many devices it lists; a few dozen in all.
// The cache stops growing at maxStepCards.
type stepCards struct {
	mu   sync.RWMutex
	m    map[string]*stepTemplate
	from *cards.Content // the content the templates were made from
}

// maxStepCards bounds the cache (a card is 2–12 KB; the store QR codes
// make step 5's the largest).
const maxStepCards = 512

// stepTemplate is a rendered card cut at its holes: parts[0] value[at[0]]
// parts[1] value[at[1]] … parts[n].
type stepTemplate struct {
	parts [][]byte
	at    []int // which of the view's values goes in each hole
	size  int
}

// hole is the placeholder of value i in a template. Ids made by newID are
// hex and never hold "@@"; a name or URL that does is not templated.
func hole(i int) string { return "@@" + strconv.Itoa(i) + "@@" }

// masked is v with every per-user value replaced by its hole, and the
// values in the holes' order.
func masked(v cards.StepView) (cards.StepView, []string, bool) {
	var vals []string
	put := func(s *string) {
		vals = append(vals, *s)
		*s = hole(len(vals) - 1)
	}
	// Names from Graph go in as the builder shows them: cards.Plain (a
	// hole itself has nothing Plain changes).
	putPlain := func(s *string) {
		vals = append(vals, cards.Plain(*s))
		*s = hole(len(vals) - 1)
	}
	put(&v.Ref.Dialog)
	put(&v.Ref.Nonce)
	if v.Found != "" {
		putPlain(&v.Found)
	}
	if v.FoundPasskey != "" {
		putPlain(&v.FoundPasskey)
	}
	if v.SecurityInfoURL != "" {
		put(&v.SecurityInfoURL)
	}
	v.Devices = append([]cards.Device(nil), v.Devices...)
	for i := range v.Devices {
		putPlain(&v.Devices[i].Name)
		if v.Devices[i].Registered != "" {
			put(&v.Devices[i].Registered)
		}
	}
	for _, val := range vals {
		if strings.Contains(val, "@@") {
			return v, nil, false
		}
	}
	return v, vals, true
}

func (sc *stepCards) render(content *cards.Content, loc cards.Locale, v cards.StepView) json.RawMessage {
	mv, vals, ok := masked(v)
	if !ok {
		return render(cards.Step(content, loc, v))
	}
	key := lookKey(loc, mv)
	sc.mu.RLock()
	t, ok := sc.m[key]
	if sc.from != content {
		ok = false
	}
	sc.mu.RUnlock()
	if !ok {
		t = newStepTemplate(render(cards.Step(content, loc, mv)), len(vals))
		if t == nil {
			return render(cards.Step(content, loc, v))
		}
		sc.mu.Lock()
		if sc.m == nil || sc.from != content {
			sc.m, sc.from = map[string]*stepTemplate{}, content
		}
		if len(sc.m) < maxStepCards {
			sc.m[key] = t
		}
		sc.mu.Unlock()
	}
	return t.fill(vals)
}

// lookKey names a masked view: everything the card shows.
func lookKey(loc cards.Locale, v cards.StepView) string {
	var b strings.Builder
	for _, s := range []string{string(loc), v.Ref.Step, strconv.Itoa(v.Index), strconv.Itoa(v.Total), v.Notice, v.Problem, v.Found, v.FoundPasskey, v.SecurityInfoURL, strconv.Itoa(v.AskOath)} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, d := range v.Devices {
		b.WriteString(d.Kind)
		b.WriteByte(1)
		b.WriteString(d.Name)
		b.WriteByte(1)
		b.WriteString(d.Registered)
		b.WriteByte(0)
	}
	for _, on := range []bool{v.Checking, v.CheckingPasskey, v.Retry, v.BotDelete, v.Lost, v.Decline} {
		if on {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

// newStepTemplate cuts a card rendered from a masked view at its holes
// (nil when the card did not render).
func newStepTemplate(doc []byte, values int) *stepTemplate {
	if doc == nil {
		return nil
	}
	t := &stepTemplate{}
	for {
		start := strings.Index(string(doc), "@@")
		if start < 0 {
			break
		}
		end := strings.Index(string(doc[start+2:]), "@@")
		i, err := strconv.Atoi(string(doc[start+2 : start+2+max(end, 0)]))
		if end < 0 || err != nil || i < 0 || i >= values {
			return nil // "@@" in the content itself: not templated
		}
		t.parts = append(t.parts, doc[:start])
		t.at = append(t.at, i)
		doc = doc[start+2+end+2:]
	}
	t.parts = append(t.parts, doc)
	for _, p := range t.parts {
		t.size += len(p)
	}
	return t
}

// fill writes the template with the values in its holes, escaped as
// encoding/json escapes them.
func (t *stepTemplate) fill(vals []string) json.RawMessage {
	enc := make([][]byte, len(vals))
	size := t.size
	for i, val := range vals {
		if plain(val) {
			enc[i] = []byte(val)
		} else if q, err := json.Marshal(val); err == nil {
			enc[i] = q[1 : len(q)-1]
		}
		size += len(enc[i])
	}
	out := make([]byte, 0, size+64)
	for i, p := range t.parts {
		out = append(out, p...)
		if i < len(t.at) {
			out = append(out, enc[t.at[i]]...)
		}
	}
	return out
}

// plain reports whether s goes into JSON as it is (ids made by newID do):
// letters, digits, '-' and '_' only.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
