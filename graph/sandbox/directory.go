package sandbox

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The synthetic population (Options.Population): user i's object id is
// syntheticIDPrefix followed by i in 12 hex digits, and their
// userPrincipalName is "user<i in 6 digits>" followed by syntheticDomain.
const (
	syntheticIDPrefix = "5a000000-0000-4000-8000-"
	syntheticDomain   = "@contoso.example"
	// syntheticAccountAge is how long before the sandbox's start the
	// synthetic accounts, and their initial devices, were created.
	syntheticAccountAge = 400 * 24 * time.Hour
	// syntheticNewDevice is the newer phone of the synthetic users of
	// Options.TwoPhonesEvery and Options.TwoPasskeysEvery.
	syntheticNewDevice = "Pixel 9"
)

// departments are the synthetic users' departments, user i having
// departments[i%len(departments)]; "" is none (Graph's null).
var departments = []string{"営業部", "開発部", "人事部", "経理部", "総務部", "情報システム部", ""}

// DirectoryUser is a user as the directory lists them: GET /users and
// group listings.
type DirectoryUser struct {
	// ID is the object id, a GUID in lower case.
	ID string
	// UPN is the userPrincipalName.
	UPN string
	// DisplayName is the user's name.
	DisplayName string
	// Department is the user's department, "" for none (null in Graph).
	Department string
	// Disabled is true when the account is disabled (accountEnabled false).
	Disabled bool
	// Guest is true for a guest (userType "Guest" rather than "Member").
	Guest bool
}

// directoryUserOf shows a profile to Go callers.
func directoryUserOf(p profile) DirectoryUser {
	return DirectoryUser{ID: p.id, UPN: p.upn, DisplayName: p.displayName, Department: p.department, Disabled: p.disabled, Guest: p.guest}
}

// AddDirectoryUser adds an explicit user to the directory: GET /users lists
// them before the synthetic population, in the order added. ID "" draws a
// random object id; UPN "" makes "user-<first 8 of id>@sandbox.example",
// as for a user first seen by object id; DisplayName "" makes "サンドボックス
// ユーザー (<first 8 of id>)". The user's methods start as any user's do
// (the initial device, and so on). It returns the user as added, or the
// zero DirectoryUser, adding nothing, when ID is not a GUID, UPN does not
// look like one, or either already names a user: one seen before, one added
// before or a synthetic one.
func (s *Sandbox) AddDirectoryUser(d DirectoryUser) DirectoryUser {
	if d.ID == "" {
		d.ID = newGUID()
	}
	if !isGUID(d.ID) {
		return DirectoryUser{}
	}
	d.ID = strings.ToLower(d.ID)
	if d.UPN == "" {
		d.UPN = "user-" + d.ID[:8] + "@sandbox.example"
	}
	if !isUPN(d.UPN) || s.syntheticIndex(d.ID) >= 0 || s.syntheticIndex(strings.ToLower(d.UPN)) >= 0 {
		return DirectoryUser{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[d.ID] != nil || s.byUPN[strings.ToLower(d.UPN)] != nil {
		return DirectoryUser{}
	}
	u := s.addUserLocked(d.ID, d.UPN, d.ID[:8])
	if d.DisplayName != "" {
		u.displayName = d.DisplayName
	}
	u.department, u.disabled, u.guest = d.Department, d.Disabled, d.Guest
	s.directory = append(s.directory, u)
	return directoryUserOf(u.profile)
}

// SyntheticUser returns user i of the synthetic population
// (Options.Population), and false if there is no such user.
func (s *Sandbox) SyntheticUser(i int) (DirectoryUser, bool) {
	if i < 0 || i >= s.population {
		return DirectoryUser{}, false
	}
	return directoryUserOf(s.syntheticProfile(i)), true
}

// AddGroup adds a group with the members, or adds the members to the group
// if it exists. Its id is any non-empty string, compared case-insensitively
// ("" adds nothing). A member is a user, by object id (or UPN), or another
// group, by id: members are resolved when the group is listed, so a nested
// group may be added after the group that holds it. GET
// /groups/{id}/transitiveMembers/microsoft.graph.user lists every user
// reached through nested groups once (a user named twice in different
// ways, once by object id and once by UPN, is listed twice). A member that
// names neither a group nor a possible user is left out.
func (s *Sandbox) AddGroup(id string, members ...string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(id)
	s.groups[key] = append(s.groups[key], members...)
}

// syntheticID is user i's object id.
func syntheticID(i int) string { return fmt.Sprintf(syntheticIDPrefix+"%012x", i) }

// syntheticUPN is user i's userPrincipalName.
func syntheticUPN(i int) string { return fmt.Sprintf("user%06d"+syntheticDomain, i) }

// syntheticIndex returns the index of the synthetic user whose lower-case
// object id or UPN is key, or -1 if no synthetic user has it.
func (s *Sandbox) syntheticIndex(key string) int {
	var n uint64
	var err error
	switch {
	case len(key) == len(syntheticIDPrefix)+12 && strings.HasPrefix(key, syntheticIDPrefix):
		n, err = strconv.ParseUint(key[len(syntheticIDPrefix):], 16, 48)
	case strings.HasPrefix(key, "user") && strings.HasSuffix(key, syntheticDomain):
		n, err = strconv.ParseUint(key[len("user"):len(key)-len(syntheticDomain)], 10, 48)
		if err == nil && n < uint64(s.population) && syntheticUPN(int(n)) != key {
			return -1 // "user7@…" or "user+000007@…": not the canonical spelling
		}
	default:
		return -1
	}
	if err != nil || n >= uint64(s.population) {
		return -1
	}
	return int(n)
}

// syntheticDisabled reports whether synthetic user i's account is disabled.
func syntheticDisabled(i int) bool { return i%97 == 96 }

// syntheticGuest reports whether synthetic user i is a guest.
func syntheticGuest(i int) bool { return i%89 == 88 }

// every reports whether index i is one of every n (i%n == 1, or any i when
// n is 1); never when n is not positive.
func every(i, n int) bool { return n > 0 && i%n == 1%n }

// syntheticProfile derives synthetic user i's directory properties.
func (s *Sandbox) syntheticProfile(i int) profile {
	return profile{
		id:          syntheticID(i),
		upn:         syntheticUPN(i),
		displayName: fmt.Sprintf("社員 %06d", i),
		department:  departments[i%len(departments)],
		disabled:    syntheticDisabled(i),
		guest:       syntheticGuest(i),
		created:     s.epoch.Add(-syntheticAccountAge),
	}
}

// syntheticUser derives synthetic user i with their methods, the same
// each time: method ids come from the index too.
func (s *Sandbox) syntheticUser(i int) *user {
	u := &user{profile: s.syntheticProfile(i)}
	u.methods = []Method{{ID: syntheticMethodID(1, i), DisplayName: s.initialDevice, PhoneAppVersion: initialAppVersion}}
	// The newer phone came 1 to 30 days before the sandbox started.
	newer := s.epoch.Add(-time.Duration(1+i%30) * 24 * time.Hour)
	if every(i, s.twoPhonesEvery) {
		u.methods = append(u.methods, Method{ID: syntheticMethodID(2, i), DisplayName: syntheticNewDevice, PhoneAppVersion: newAppVersion, Created: &newer})
	}
	switch {
	case every(i, s.twoPasskeysEvery):
		u.passkeys = []Passkey{
			syntheticPasskey(1, i, s.initialDevice, AuthenticatorIOSAAGUID, s.epoch.Add(-initialPasskeyAge)),
			syntheticPasskey(2, i, syntheticNewDevice, AuthenticatorAndroidAAGUID, newer),
		}
	case s.initialPasskey && !s.isPushOnly(u):
		u.passkeys = []Passkey{syntheticPasskey(1, i, s.initialDevice, AuthenticatorIOSAAGUID, s.epoch.Add(-initialPasskeyAge))}
	}
	return u
}

// syntheticMethodID is the id of synthetic user i's n-th Authenticator.
func syntheticMethodID(n, i int) string {
	return fmt.Sprintf("5a%06x-0000-4000-8000-%012x", n, i)
}

// syntheticPasskey is synthetic user i's n-th passkey, with an id shaped
// like newPasskeyID's.
func syntheticPasskey(n, i int, name, aaguid string, created time.Time) Passkey {
	var b [16]byte
	b[0], b[1] = 0x5a, byte(n)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	id := base64.RawURLEncoding.EncodeToString(b[:]) + "2"
	return Passkey{ID: id, DisplayName: name, AAGUID: aaguid, Model: passkeyModel(aaguid), Created: created}
}

// userProps are the properties of a user Graph returns without $select, in
// its order.
var userProps = []string{
	"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
}

// selectableProps are the properties a $select may name: userProps and a
// few more.
var selectableProps = append(append([]string{}, userProps...),
	"accountEnabled", "usageLocation", "createdDateTime", "department", "userType")

// userProp is the value of the user's property name, one of
// selectableProps, as Graph shows it.
func userProp(p profile, name string) any {
	switch name {
	case "businessPhones":
		return []string{}
	case "displayName":
		return p.displayName
	case "givenName":
		return "ユーザー"
	case "mail", "userPrincipalName":
		return p.upn
	case "preferredLanguage":
		return "ja-JP"
	case "surname":
		return "サンドボックス"
	case "id":
		return p.id
	case "accountEnabled":
		return !p.disabled
	case "usageLocation":
		return "JP"
	case "createdDateTime":
		return p.created.Format(time.RFC3339)
	case "department":
		if p.department == "" {
			return nil
		}
		return p.department
	case "userType":
		if p.guest {
			return "Guest"
		}
		return "Member"
	default: // jobTitle, mobilePhone, officeLocation
		return nil
	}
}

// selectProps returns the properties a $select names, in its order, each
// spelt as Graph does: names are compared case-insensitively, and unknown
// ones are left out.
func selectProps(sel string) []string {
	var names []string
	for _, p := range strings.Split(sel, ",") {
		p = strings.TrimSpace(p)
		for _, k := range selectableProps {
			if strings.EqualFold(k, p) {
				names = append(names, k)
				break
			}
		}
	}
	return names
}

// userObject is the user with the properties names, as a JSON object.
func userObject(p profile, names []string) map[string]any {
	out := make(map[string]any, len(names)+1)
	for _, n := range names {
		out[n] = userProp(p, n)
	}
	return out
}

// userFilter is a $filter on users: the equality tests the sweep sends.
type userFilter struct {
	enabled *bool // accountEnabled eq true|false
	guest   *bool // userType eq 'Member'|'Guest'
}

// match reports whether a user passes the filter.
func (f userFilter) match(p *profile) bool {
	return (f.enabled == nil || *f.enabled == !p.disabled) && (f.guest == nil || *f.guest == p.guest)
}

// matchIndex is match for synthetic user i, without deriving them.
func (f userFilter) matchIndex(i int) bool {
	return (f.enabled == nil || *f.enabled == !syntheticDisabled(i)) && (f.guest == nil || *f.guest == syntheticGuest(i))
}

// parseUserFilter parses a $filter of GET /users: "accountEnabled eq
// true", "userType eq 'Member'", both joined by " and " in either order, and
// the same with false or 'Guest'. Property names and values are compared
// case-insensitively, as Graph does. Anything else is unsupported: ok false.
func parseUserFilter(raw string) (f userFilter, ok bool) {
	if strings.TrimSpace(raw) == "" {
		return f, true
	}
	for _, clause := range splitFold(raw, " and ") {
		w := strings.Fields(clause)
		if len(w) != 3 || !strings.EqualFold(w[1], "eq") {
			return f, false
		}
		switch v := strings.ToLower(w[2]); {
		case strings.EqualFold(w[0], "accountEnabled") && f.enabled == nil && (v == "true" || v == "false"):
			b := v == "true"
			f.enabled = &b
		case strings.EqualFold(w[0], "userType") && f.guest == nil && (v == "'member'" || v == "'guest'"):
			b := v == "'guest'"
			f.guest = &b
		default:
			return f, false
		}
	}
	return f, true
}

// splitFold splits s around each instance of sep, compared
// case-insensitively (sep is lower case).
func splitFold(s, sep string) []string {
	var parts []string
	for {
		i := strings.Index(strings.ToLower(s), sep)
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s = s[i+len(sep):]
	}
}

// Page sizes of the listings, as Graph's for users and group members.
const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// listQuery is what a listing's query asks for.
type listQuery struct {
	props []string // the $select, "id" included, or userProps
	top   int
	from  int // the position of the $skiptoken, 0 without one
	// context is the @odata.context after "$metadata#".
	context string
}

// parseListQuery reads $select, $top and $skiptoken, answering 400 itself
// when one is invalid.
func (c *graphCall) parseListQuery() (listQuery, bool) {
	q := c.r.URL.Query()
	lq := listQuery{props: userProps, top: defaultPageSize, context: "users"}
	if sel := q.Get("$select"); sel != "" {
		lq.props = selectProps(sel)
		lq.context = "users(" + strings.Join(lq.props, ",") + ")"
		if !slices.Contains(lq.props, "id") {
			lq.props = append(lq.props, "id")
		}
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxPageSize {
			c.error(http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", t, maxPageSize))
			return lq, false
		}
		lq.top = n
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		n, ok := parsePageToken(tok)
		if !ok {
			c.error(http.StatusBadRequest, "Request_BadRequest", "The specified page token value '"+tok+"' is not valid.")
			return lq, false
		}
		lq.from = n
	}
	return lq, true
}

// pageToken is the opaque $skiptoken of a listing's next page: position n
// in base64url. For GET /users, n ≥ 0 is user n of AddDirectoryUser and
// n < 0 synthetic user -1-n, so that users added to the directory during a
// walk do not shift the synthetic positions; for a group, n indexes its
// flattened users.
func pageToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.Itoa(n)))
}

// parsePageToken reads a pageToken.
func parsePageToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 'p' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	return n, err == nil
}

// nextLink is the address of the next page: the request's, with the
// $skiptoken of position n.
func (c *graphCall) nextLink(n int) string {
	q := c.r.URL.Query()
	q.Set("$skiptoken", pageToken(n))
	return c.origin + c.r.URL.EscapedPath() + "?" + q.Encode()
}

// listUsers: GET /users with $select, $filter, $top and $skiptoken, listing
// the users of AddDirectoryUser and then the synthetic population, one page
// at a time: a page is derived from the index, never the whole directory.
//
// Graph API docs: https://learn.microsoft.com/graph/api/user-list?view=graph-rest-1.0
func (c *graphCall) listUsers() {
	lq, ok := c.parseListQuery()
	if !ok {
		return
	}
	f, ok := parseUserFilter(c.r.URL.Query().Get("$filter"))
	if !ok {
		c.error(http.StatusBadRequest, "Request_UnsupportedQuery",
			"Unsupported or invalid query filter clause specified for resource 'User'; the sandbox supports "+
				"accountEnabled eq true|false and userType eq 'Member'|'Guest', joined by and.")
		return
	}
	page, next, more := c.s.directoryPage(lq.from, lq.top, f)
	out := collectionJSON{ODataContext: c.metadata + lq.context, Value: make([]any, 0, len(page))}
	for _, p := range page {
		out.Value = append(out.Value, userObject(p, lq.props))
	}
	if more {
		out.ODataNextLink = c.nextLink(next)
	}
	c.s.stats.usersListed.Add(int64(len(page)))
	c.json(http.StatusOK, out)
}

// directoryPage returns up to top users passing f from position from on
// (see pageToken), the position of the next one and whether there is one.
func (s *Sandbox) directoryPage(from, top int, f userFilter) (page []profile, next int, more bool) {
	if from >= 0 {
		s.mu.Lock()
		for k := from; k < len(s.directory); k++ {
			u := s.directory[k]
			if !f.match(&u.profile) {
				continue
			}
			if len(page) == top {
				s.mu.Unlock()
				return page, k, true
			}
			page = append(page, u.profile)
		}
		s.mu.Unlock()
		from = -1
	}
	for i := -1 - from; i < s.population; i++ {
		if !f.matchIndex(i) {
			continue
		}
		if len(page) == top {
			return page, -1 - i, true
		}
		page = append(page, s.syntheticProfile(i))
	}
	return page, 0, false
}

// listGroupUsers: GET /groups/{id}/transitiveMembers/microsoft.graph.user
// with $select, $top and $skiptoken: every user reached through the group
// and its nested groups, once, disabled accounts and guests included, with
// @odata.count. Graph answers an OData cast on this relationship only as an
// advanced query, so the request must carry ConsistencyLevel: eventual and
// $count=true.
//
// Graph API docs: https://learn.microsoft.com/graph/api/group-list-transitivemembers?view=graph-rest-1.0
// (advanced queries: https://learn.microsoft.com/graph/aad-advanced-queries)
func (c *graphCall) listGroupUsers(id string) {
	q := c.r.URL.Query()
	if !strings.EqualFold(c.r.Header.Get("ConsistencyLevel"), "eventual") || !strings.EqualFold(q.Get("$count"), "true") {
		c.error(http.StatusBadRequest, "Request_BadRequest",
			"The OData cast microsoft.graph.user on transitiveMembers is supported only as an advanced query: "+
				"send the ConsistencyLevel: eventual header and $count=true.")
		return
	}
	if q.Get("$filter") != "" {
		c.error(http.StatusBadRequest, "Request_UnsupportedQuery", "The sandbox supports no $filter on group members.")
		return
	}
	lq, ok := c.parseListQuery()
	if !ok {
		return
	}
	c.s.mu.Lock()
	ids, found := c.s.groupUsersLocked(id)
	var page []profile
	for k := max(lq.from, 0); k < len(ids) && len(page) < lq.top; k++ {
		if u := c.s.readUserLocked(ids[k]); u != nil {
			page = append(page, u.profile)
		}
	}
	c.s.mu.Unlock()
	if !found {
		c.error(http.StatusNotFound, "Request_ResourceNotFound",
			"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	count := len(ids)
	out := collectionJSON{ODataContext: c.metadata + lq.context, ODataCount: &count, Value: make([]any, 0, len(page))}
	for _, p := range page {
		out.Value = append(out.Value, userObject(p, lq.props))
	}
	if next := max(lq.from, 0) + lq.top; next < len(ids) {
		out.ODataNextLink = c.nextLink(next)
	}
	c.s.stats.usersListed.Add(int64(len(page)))
	c.json(http.StatusOK, out)
}

// groupUsersLocked flattens the group: the lower-case ids of the users
// reached through it and its nested groups, each once, in depth-first
// order, and whether the group exists. A member that is neither a group nor
// an object id or UPN is left out. s.mu must be held.
func (s *Sandbox) groupUsersLocked(id string) ([]string, bool) {
	root := strings.ToLower(id)
	if _, ok := s.groups[root]; !ok {
		return nil, false
	}
	var ids []string
	seen := map[string]bool{root: true}
	var walk func(group string)
	walk = func(group string) {
		for _, m := range s.groups[group] {
			key := strings.ToLower(m)
			switch _, isGroup := s.groups[key]; {
			case seen[key]:
			case isGroup:
				seen[key] = true
				walk(key)
			case isGUID(key) || isUPN(key):
				seen[key] = true
				ids = append(ids, key)
			}
		}
	}
	walk(root)
	return ids, true
}
