//go:build unix

package e2e

// The Playground's mock tenant, .m365agentsplayground.yml, checked against
// the Playground's schema and what the bot needs from it.

import (
	"regexp"
	"testing"
)

// guidRE is a GUID in its usual 8-4-4-4-12 form.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// TestPlaygroundConfig checks .m365agentsplayground.yml against the rules
// of the Playground's schema 0.1.1 and what the bot needs from it: real
// GUIDs for the tenant and the users' Entra object ids (the Playground's
// built-in defaults are one digit too long).
func TestPlaygroundConfig(t *testing.T) {
	c := loadConfig(t, findLayout(t).Config)
	if c.Version != "0.1.1" {
		t.Errorf("version %q, want 0.1.1", c.Version)
	}
	if !guidRE.MatchString(c.TenantID) {
		t.Errorf("tenantId %q is not a GUID", c.TenantID)
	}
	if c.Bot.ID == "" || c.Bot.Name == "" || len(c.Bot.Name) > 42 {
		t.Errorf("bot needs an id and a name of at most 42 characters: %+v", c.Bot)
	}
	if len(c.Users) != 5 {
		t.Errorf("%d users, the schema wants exactly 5", len(c.Users))
	}
	ids := map[string]bool{}
	for i, u := range append([]PlaygroundUser{c.CurrentUser}, c.Users...) {
		if u.ID == "" || u.Name == "" || u.UserPrincipleName == "" || u.GivenName == "" || u.Surname == "" || u.Email == "" {
			t.Errorf("user %d lacks a required field: %+v", i, u)
		}
		if !guidRE.MatchString(u.AADObjectID) {
			t.Errorf("user %d (%s) aadObjectId %q is not a GUID", i, u.ID, u.AADObjectID)
		}
		if ids[u.ID] || ids[u.AADObjectID] {
			t.Errorf("user %d (%s) repeats an id", i, u.ID)
		}
		ids[u.ID], ids[u.AADObjectID] = true, true
	}
	convs := []string{c.PersonalChat.ID, c.GroupChat.ID, c.Team.ID}
	if len(c.Team.Channels) > 1 {
		t.Errorf("%d extra channels, the schema allows 1 besides General", len(c.Team.Channels))
	}
	for _, ch := range c.Team.Channels {
		convs = append(convs, ch.ID)
	}
	seen := map[string]bool{}
	for _, id := range convs {
		if id == "" || seen[id] {
			t.Errorf("conversation ids must be set and unique: %q", convs)
		}
		seen[id] = true
	}
	if !guidRE.MatchString(c.Team.AADGroupID) {
		t.Errorf("team aadGroupId %q is not a GUID", c.Team.AADGroupID)
	}
}
