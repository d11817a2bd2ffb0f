package doctor

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/smartswap/mfabot/internal/config"
)

func TestDoctorCovers(t *testing.T) {
	cases := []struct {
		have, want string
		ok         bool
	}{
		{permAuthMethodRead, permAuthMethodRead, true},
		{permAuthMethodReadWrite, permAuthMethodRead, true},
		{permAuthMethodReadWrite, permPasskeyReadWrite, true},
		{permAuthMethodReadWrite, permTAPRead, true},
		{permAuthMethodRead, permPasskeyRead, true},
		{permAuthMethodRead, permPasskeyReadWrite, false},
		{permAuthMethodRead, permAuthMethodReadWrite, false},
		{permPasskeyReadWrite, permPasskeyRead, true},
		{permPasskeyReadWrite, permOATHRead, false},
		{permPasskeyRead, permAuthMethodRead, false},
		{permDirectoryReadWrite, permRevokeSessions, true},
		{permDirectoryReadWrite, permUserRead, true},
		{permDirectoryRead, permUserRead, true},
		{permDirectoryRead, permRevokeSessions, false},
		{permUserReadWrite, permRevokeSessions, true},
		{permUserRead, permRevokeSessions, false},
		{permDirectoryReadWrite, permAuthMethodRead, false},
		{"user.read.all", permUserRead, true},
	}
	for _, c := range cases {
		if got := covers(c.have, c.want); got != c.ok {
			t.Errorf("covers(%s, %s) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

func TestDoctorPermissionResults(t *testing.T) {
	cfg := config.Config{GraphAllowDelete: true}
	cfg.Helpdesk.TAPEnabled = true
	rs := permissionResults(cfg, []string{permAuthAppRead, permUserRead})
	status := map[string]Status{}
	for _, r := range rs {
		status[r.EN] = r.Status
	}
	var ng, warn []string
	for en, s := range status {
		switch s {
		case NG:
			ng = append(ng, en)
		case Warn:
			warn = append(warn, en)
		}
	}
	// Only the granular Authenticator read and User.Read.All: deleting and
	// issuing a TAP are blocked; passkeys, OATH, phones, TAPs and sign-out
	// degrade.
	if len(ng) != 2 || len(warn) != 8 {
		t.Fatalf("NG %q, WARN %q", ng, warn)
	}
	for _, l := range ng {
		if !strings.Contains(l, permAuthMethodReadWrite) {
			t.Errorf("NG line %q does not name %s", l, permAuthMethodReadWrite)
		}
	}
}

func TestDoctorTokenRoles(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"roles":["User.Read.All"],"aud":"x"}`))
	roles, err := tokenRoles("eyJhbGciOiJub25lIn0." + payload + ".")
	if err != nil || len(roles) != 1 || roles[0] != permUserRead {
		t.Fatalf("roles = %q, %v", roles, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + ".c"} {
		if _, err := tokenRoles(bad); err == nil || strings.Contains(err.Error(), bad) && bad != "" {
			t.Errorf("tokenRoles(%q): err = %v", bad, err)
		}
	}
}
