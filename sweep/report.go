package sweep

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The languages of the reports' text.
const (
	// Japanese is the reports' default language.
	Japanese = "ja"
	// English is for the operators who read no Japanese.
	English = "en"
)

// bom is the UTF-8 byte order mark, without which Excel in Japan reads a CSV
// file as Shift_JIS.
const bom = "\uFEFF"

// jst is Japan time, in which the CSV shows registration dates. (Asia/Tokyo
// has had no daylight saving since 1951; a fixed zone needs no tzdata.)
var jst = time.FixedZone("JST", 9*60*60)

// texts holds the reports' words in each language.
var texts = map[string]struct {
	header              []string
	push, passkey       string
	unknownDate, noName string
	summary             string
}{
	Japanese: {
		header:      []string{"オブジェクトID", "UPN", "表示名", "部署", "デバイス", "デバイス数", "対応"},
		push:        "Authenticator",
		passkey:     "パスキー",
		unknownDate: "登録日不明",
		noName:      "名前なし",
		summary:     "確認したユーザー %d 人、候補 %d 人（通知 %d、会話なし %d、両方使用中 %d、失敗 %d）、完了 %d 人、未対応 %d 人",
	},
	English: {
		header:      []string{"Object ID", "UPN", "Display name", "Department", "Devices", "Device count", "Action"},
		push:        "Authenticator",
		passkey:     "passkey",
		unknownDate: "registration date unknown",
		noName:      "no name",
		summary:     "%d users scanned, %d candidates (%d notified, %d without a conversation, %d using both, %d failed), %d completed, %d still open",
	},
}

// CSVWriter writes the CSV report one Finding at a time, so that a sweep
// need not hold its findings in memory. Make one with NewCSVWriter, call
// Write for each finding and Flush at the end.
type CSVWriter struct {
	w       io.Writer
	c       *csv.Writer
	lang    string
	started bool
}

// NewCSVWriter returns a CSVWriter that writes to w with its text in lang
// (Japanese or English). It writes nothing yet.
func NewCSVWriter(w io.Writer, lang string) (*CSVWriter, error) {
	if _, ok := texts[lang]; !ok {
		return nil, fmt.Errorf("csv report: unknown language %q (want %q or %q)", lang, Japanese, English)
	}
	// Lines end in "\n", which Excel reads; with UseCRLF encoding/csv
	// would drop a lone "\r" inside a name.
	return &CSVWriter{w: w, c: csv.NewWriter(w), lang: lang}, nil
}

// start writes the BOM and the header row, once.
func (cw *CSVWriter) start() error {
	if cw.started {
		return nil
	}
	cw.started = true
	if _, err := io.WriteString(cw.w, bom); err != nil {
		return fmt.Errorf("write csv report: %w", err)
	}
	if err := cw.c.Write(texts[cw.lang].header); err != nil {
		return fmt.Errorf("write csv report: %w", err)
	}
	return nil
}

// Write writes f's row, after the BOM and the header row if it is the
// first. Its devices are shown in Ordered order.
func (cw *CSVWriter) Write(f Finding) error {
	if err := cw.start(); err != nil {
		return err
	}
	row := []string{
		f.User.ID, f.User.UPN, f.User.DisplayName, f.User.Department,
		deviceCell(f.Devices, cw.lang),
		strconv.Itoa(len(f.Devices)),
		f.Action,
	}
	for i := range row {
		row[i] = Neutralize(row[i])
	}
	if err := cw.c.Write(row); err != nil {
		return fmt.Errorf("write csv report: %w", err)
	}
	return nil
}

// Flush writes what is buffered (the BOM and header too, for a report with
// no rows) and returns the first error of any write.
func (cw *CSVWriter) Flush() error {
	if err := cw.start(); err != nil {
		return err
	}
	cw.c.Flush()
	if err := cw.c.Error(); err != nil {
		return fmt.Errorf("write csv report: %w", err)
	}
	return nil
}

// WriteCSV writes the CSV report of findings to w, with its header and text
// in lang (Japanese or English): UTF-8 with a BOM, one row
// per finding in the order given (the caller passes the candidates), with
// the user's object ID, UPN, display name and department, the devices in one
// cell (e.g. "Authenticator: iPhone 15 (2024-03-01); パスキー: Pixel 8
// (登録日不明)", dates in Japan time), the number of devices and the action.
// Every cell is passed through Neutralize.
func WriteCSV(w io.Writer, findings []Finding, lang string) error {
	cw, err := NewCSVWriter(w, lang)
	if err != nil {
		return err
	}
	for _, f := range findings {
		if err := cw.Write(f); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// Neutralize returns cell so that a spreadsheet shows it as text: a cell
// starting with '=', '+', '-', '@', a tab or a carriage return (which Excel
// and others may run as a formula) gets a leading apostrophe.
func Neutralize(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// deviceCell joins devices into one readable cell in lang, oldest first.
func deviceCell(devices []Device, lang string) string {
	t := texts[lang]
	parts := make([]string, 0, len(devices))
	for _, d := range Ordered(devices) {
		kind := d.Kind
		switch d.Kind {
		case KindPush:
			kind = t.push
		case KindPasskey:
			kind = t.passkey
		}
		name := d.Name
		if name == "" {
			name = "(" + t.noName + ")"
		}
		date := t.unknownDate
		if d.Created != nil {
			date = d.Created.In(jst).Format(time.DateOnly)
		}
		parts = append(parts, kind+": "+name+" ("+date+")")
	}
	return strings.Join(parts, "; ")
}

// jsonFinding is a line of the JSON lines report. Its field names are part
// of the report's contract with scripts: do not rename them.
type jsonFinding struct {
	UserID      string       `json:"user_id"`
	UPN         string       `json:"upn"`
	DisplayName string       `json:"display_name"`
	Department  string       `json:"department"`
	Devices     []jsonDevice `json:"devices"`
	Action      string       `json:"action"`
}

// jsonDevice is a device in a jsonFinding.
type jsonDevice struct {
	Kind    string     `json:"kind"`
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	Created *time.Time `json:"created"` // RFC 3339 in UTC; null when unknown
}

// WriteJSONL writes the JSON lines report of findings to w: one JSON object
// per finding and line, in the order given, with the fields user_id, upn,
// display_name, department ("" when none), devices (an array, in Ordered
// order, of {kind, id, name, created}, created being RFC 3339 in UTC or
// null) and action. Called with one finding at a time it streams.
func WriteJSONL(w io.Writer, findings []Finding) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, f := range findings {
		line := jsonFinding{
			UserID:      f.User.ID,
			UPN:         f.User.UPN,
			DisplayName: f.User.DisplayName,
			Department:  f.User.Department,
			Devices:     make([]jsonDevice, 0, len(f.Devices)),
			Action:      f.Action,
		}
		for _, d := range Ordered(f.Devices) {
			jd := jsonDevice{Kind: d.Kind, ID: d.ID, Name: d.Name}
			if d.Created != nil {
				utc := d.Created.UTC()
				jd.Created = &utc
			}
			line.Devices = append(line.Devices, jd)
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("write jsonl report: %w", err)
		}
	}
	return nil
}

// Summary counts a sweep's outcome for the end of the CLI's output and the
// helpdesk channel's summary.
type Summary struct {
	Scanned        int // users scanned
	Candidates     int // users found to be candidates
	Notified       int // candidates sent the card
	NoConversation int // candidates the bot could not reach
	BothInUse      int // candidates who said they use both devices
	Failed         int // candidates the sweep could not handle
	Completed      int // candidates whose old phone the bot saw gone since
	Open           int // candidates who neither completed nor declined
}

// Count adds f, a candidate, to s by its action.
func (s *Summary) Count(f Finding) {
	s.Candidates++
	switch {
	case f.Action == ActionNotified:
		s.Notified++
	case f.Action == ActionNoConversation:
		s.NoConversation++
	case f.Action == ActionBothInUse:
		s.BothInUse++
	case f.Action == ActionCompleted:
		s.Completed++
	case IsFailed(f.Action):
		s.Failed++
	}
	if f.Action != ActionCompleted && f.Action != ActionBothInUse {
		s.Open++
	}
}

// String returns s as one line in lang (Japanese for any language but
// English).
func (s Summary) String(lang string) string {
	t, ok := texts[lang]
	if !ok {
		t = texts[Japanese]
	}
	return fmt.Sprintf(t.summary, s.Scanned, s.Candidates, s.Notified, s.NoConversation, s.BothInUse, s.Failed, s.Completed, s.Open)
}
