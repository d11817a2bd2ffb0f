package sandbox

import (
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	mrand "math/rand/v2"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

// maxDeviceName is the longest device name the page API accepts, in characters.
const maxDeviceName = 64

// pageData feeds page.html.
type pageData struct {
	Nonce   string
	Problem string // set: the page shows this message instead of the list
	UserID  string
	Name    string
	UPN     string
	API     string // path of the page API's methods collection
	Methods []pageMethod
	Empty   pageMethod // fills the row template the script clones
	QR      string     // trusted markup made here
	CSS     string     // trusted, embedded
	JS      string     // trusted, embedded
}

type pageMethod struct{ ID, DisplayName string }

// methodJSON is a method as the page API shows it.
type methodJSON struct {
	ID              string  `json:"id"`
	DisplayName     string  `json:"displayName"`
	PhoneAppVersion string  `json:"phoneAppVersion"`
	CreatedDateTime *string `json:"createdDateTime"`
}

type pageUserJSON struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
}

type pageListJSON struct {
	User    pageUserJSON `json:"user"`
	Methods []methodJSON `json:"methods"`
}

// servePage serves the security-info page at pagePath and its API under
// pagePath+"/api/methods".
func (s *Sandbox) servePage(w http.ResponseWriter, r *http.Request, pagePath string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	rest := strings.TrimPrefix(r.URL.Path, pagePath)
	api := pagePath + "/api/methods"
	switch {
	case rest == "":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.renderPage(w, r, api)
	case rest == "/api/methods":
		switch r.Method {
		case http.MethodGet:
			s.apiList(w, r)
		case http.MethodPost:
			s.apiAdd(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			apiError(w, http.StatusMethodNotAllowed, "この操作はできません。")
		}
	case strings.HasPrefix(rest, "/api/methods/") && !strings.Contains(rest[len("/api/methods/"):], "/"):
		if r.Method != http.MethodDelete {
			w.Header().Set("Allow", "DELETE")
			apiError(w, http.StatusMethodNotAllowed, "この操作はできません。")
			return
		}
		s.apiDelete(w, r, rest[len("/api/methods/"):])
	default:
		http.NotFound(w, r)
	}
}

func (s *Sandbox) renderPage(w http.ResponseWriter, r *http.Request, api string) {
	d := pageData{
		Nonce: newNonce(),
		API:   api,
		QR:    qrSVG(),
		CSS:   pageCSS,
		JS:    pageJS,
	}
	status := http.StatusOK
	id := r.URL.Query().Get("user")
	switch {
	case id == "":
		status = http.StatusBadRequest
		d.Problem = "ユーザーが指定されていません。ボットから届いたリンク (…/security-info?user=<ユーザー ID>) を開いてください。"
	default:
		s.mu.Lock()
		if u := s.userLocked(id); u != nil {
			d.UserID, d.Name, d.UPN = id, u.displayName, u.upn
			for _, m := range u.methods {
				d.Methods = append(d.Methods, pageMethod{ID: m.ID, DisplayName: m.DisplayName})
			}
		}
		s.mu.Unlock()
		if d.UserID == "" {
			status = http.StatusNotFound
			d.Problem = "ユーザー「" + id + "」は見つかりません。ユーザー ID (GUID) またはユーザー プリンシパル名 (例: user@example.com) を指定してください。"
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%[1]s'; style-src 'nonce-%[1]s'; img-src data:; connect-src 'self'; "+
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'", d.Nonce))
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	io.WriteString(w, renderPage(d))
}

// renderPage fills page.html. It is done by hand rather than with
// html/template: text/template's reflection makes the linker keep every
// method of every type held in an interface, which tripled the bot's
// binary. Every value from a user or the URL is HTML-escaped here.
func renderPage(d pageData) string {
	page, row := cut(pageHTML, "<!--ROW-->", "<!--/ROW-->")
	page = strings.TrimRight(page, "\n") + "\n"
	rowFor := func(m pageMethod) string {
		return strings.NewReplacer("@ID@", html.EscapeString(m.ID), "@NAME@", html.EscapeString(m.DisplayName)).Replace(row)
	}
	if d.Problem != "" {
		page = keep(page, "PROBLEM", true)
		page = keep(page, "LIST", false)
		page = keep(page, "TAIL", false)
	} else {
		page = keep(page, "PROBLEM", false)
		page = keep(page, "LIST", true)
		page = keep(page, "TAIL", true)
	}
	var rows strings.Builder
	for _, m := range d.Methods {
		rows.WriteString("      " + rowFor(m) + "\n")
	}
	who, def := "", "既定のサインイン方法を設定します"
	if d.UPN != "" {
		who = `  <span class="who">` + html.EscapeString(d.UPN) + "</span>\n"
	}
	if len(d.Methods) > 0 {
		def = "既定のサインイン方法: Microsoft Authenticator - 通知"
	}
	return strings.NewReplacer(
		"@NONCE@", html.EscapeString(d.Nonce),
		"@CSS@", d.CSS, "@JS@", d.JS, "@QR@", d.QR,
		"@USERID@", html.EscapeString(d.UserID),
		"@API@", html.EscapeString(d.API),
		"@WHO@", who,
		"@PROBLEM@", html.EscapeString(d.Problem),
		"@DEFAULT@", def,
		"@ROWS@", rows.String(),
		"@EMPTYROW@", rowFor(d.Empty),
	).Replace(page)
}

// cut removes the part between open and close (markers included) from s
// and returns s without it and the part.
func cut(s, open, close string) (rest, part string) {
	i, j := strings.Index(s, open), strings.Index(s, close)
	if i < 0 || j < i {
		return s, ""
	}
	return s[:i] + s[j+len(close):], s[i+len(open) : j]
}

// keep keeps or drops the section <!--NAME-->…<!--/NAME--> (markers go).
func keep(s, name string, yes bool) string {
	rest, part := cut(s, "<!--"+name+"-->", "<!--/"+name+"-->")
	if !yes {
		return rest
	}
	i := strings.Index(s, "<!--"+name+"-->")
	if i < 0 {
		return s
	}
	return rest[:i] + part + rest[i:]
}

// apiList: GET …/api/methods?user=…
func (s *Sandbox) apiList(w http.ResponseWriter, r *http.Request) {
	var out pageListJSON
	if !s.apiUser(w, r, func(u *user) {
		out.User = pageUserJSON{ID: u.id, DisplayName: u.displayName, UserPrincipalName: u.upn}
		out.Methods = make([]methodJSON, 0, len(u.methods))
		for _, m := range u.methods {
			out.Methods = append(out.Methods, methodOf(m))
		}
	}) {
		return
	}
	apiJSON(w, http.StatusOK, out)
}

// apiAdd: POST …/api/methods?user=… {"displayName": "…"} → 201 with the method.
func (s *Sandbox) apiAdd(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(w, r) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		apiError(w, http.StatusUnsupportedMediaType, "Content-Type は application/json にしてください。")
		return
	}
	var req struct {
		DisplayName string `json:"displayName"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "要求の JSON を読めません。")
		return
	}
	name := strings.TrimSpace(req.DisplayName)
	switch {
	case name == "":
		apiError(w, http.StatusBadRequest, "デバイス名を入力してください。")
		return
	case utf8.RuneCountInString(name) > maxDeviceName:
		apiError(w, http.StatusBadRequest, fmt.Sprintf("デバイス名は %d 文字以内で入力してください。", maxDeviceName))
		return
	case strings.IndexFunc(name, unicode.IsControl) >= 0 || !utf8.ValidString(name):
		apiError(w, http.StatusBadRequest, "デバイス名に使えない文字が含まれています。")
		return
	}
	var m Method
	if !s.apiUser(w, r, func(u *user) {
		created := s.now().UTC().Truncate(time.Second)
		m = Method{ID: newGUID(), DisplayName: name, PhoneAppVersion: newAppVersion, Created: &created}
		u.methods = append(u.methods, m)
	}) {
		return
	}
	apiJSON(w, http.StatusCreated, methodOf(m))
}

// apiDelete: DELETE …/api/methods/{id}?user=… → 204.
func (s *Sandbox) apiDelete(w http.ResponseWriter, r *http.Request, escapedID string) {
	if !sameOrigin(w, r) {
		return
	}
	id, err := url.PathUnescape(escapedID)
	if err != nil {
		apiError(w, http.StatusNotFound, "このサインイン方法は見つかりません。")
		return
	}
	var found bool
	if !s.apiUser(w, r, func(u *user) { found = u.deleteMethod(id) }) {
		return
	}
	if !found {
		apiError(w, http.StatusNotFound, "このサインイン方法は見つかりません。すでに削除されている可能性があります。")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiUser runs fn with s.mu held on the user of the "user" query parameter,
// answering 400 when it is missing and 404 when it names no possible user.
func (s *Sandbox) apiUser(w http.ResponseWriter, r *http.Request, fn func(u *user)) bool {
	id := r.URL.Query().Get("user")
	if id == "" {
		apiError(w, http.StatusBadRequest, "ユーザーが指定されていません (?user=<ユーザー ID>)。")
		return false
	}
	s.mu.Lock()
	u := s.userLocked(id)
	if u != nil {
		fn(u)
	}
	s.mu.Unlock()
	if u == nil {
		apiError(w, http.StatusNotFound, "ユーザーが見つかりません。")
		return false
	}
	return true
}

// sameOrigin refuses (403) a state-changing request that a browser sent from
// another site: its Origin, when present, must be this origin, and its
// Sec-Fetch-Site, when present, same-origin or none.
func sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	ok := true
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		ok = err == nil && strings.EqualFold(u.Host, r.Host) && (u.Scheme == "http" || u.Scheme == "https")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		ok = false
	}
	if !ok {
		apiError(w, http.StatusForbidden, "ほかのサイトからの要求は受け付けません。")
	}
	return ok
}

func methodOf(m Method) methodJSON {
	out := methodJSON{ID: m.ID, DisplayName: m.DisplayName, PhoneAppVersion: m.PhoneAppVersion}
	if m.Created != nil {
		s := m.Created.UTC().Format(time.RFC3339)
		out.CreatedDateTime = &s
	}
	return out
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	apiJSON(w, status, map[string]string{"error": msg})
}

func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// qrSVG draws a QR-like picture: the three finder squares, the timing lines
// and random modules. It encodes nothing.
func qrSVG() string {
	const n = 25
	dark := func(x, y int) bool {
		for _, f := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
			dx, dy := x-f[0], y-f[1]
			if dx >= -1 && dx <= 7 && dy >= -1 && dy <= 7 { // finder plus its white separator
				if dx < 0 || dx > 6 || dy < 0 || dy > 6 {
					return false
				}
				ring := dx == 0 || dx == 6 || dy == 0 || dy == 6
				core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
				return ring || core
			}
		}
		if x == 6 || y == 6 {
			return (x+y)%2 == 0
		}
		return mrand.IntN(2) == 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="qr-code" data-testid="qr-code" class="qr" viewBox="-3 -3 %d %d" width="176" height="176" role="img" aria-label="QR コード (サンドボックスの見本)" shape-rendering="crispEdges">`, n+6, n+6)
	fmt.Fprintf(&b, `<rect x="-3" y="-3" width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n+6, n+6)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if dark(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
