package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/graph/sandbox"
)

// The bot's own Graph client against the sandbox: the tenant sweep's
// listings and batches as the sweep sends them. (Package graph's tests do
// not import the sandbox, so this external test package may import graph.)

// newClient is a graph.Client on the sandbox, retrying nothing.
func newClient(t *testing.T, sb *sandbox.Sandbox, origin string) *graph.Client {
	t.Helper()
	c, err := graph.NewClient(graph.WithBaseURL(sb.GraphBaseURL(origin)), graph.WithRetry(1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGraphClientSweep(t *testing.T) {
	const population = 3000
	sb, srv := setup(t, sandbox.Options{Population: population, TwoPhonesEvery: 33, TwoPasskeysEvery: 50})
	explicit := sb.AddDirectoryUser(sandbox.DirectoryUser{UPN: "taro@contoso.example", DisplayName: "山田 太郎"})
	c := newClient(t, sb, srv.URL)
	ctx := context.Background()

	var users []graph.UserRef
	pages := 0
	if err := c.ListUsers(ctx, "", func(p []graph.UserRef, _ string) error {
		pages++
		users = append(users, p...)
		return nil
	}); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	want := 1
	for i := range population {
		if enabledMember(i) {
			want++
		}
	}
	if len(users) != want || pages != (want+998)/999 {
		t.Errorf("ListUsers: %d users in %d pages, want %d", len(users), pages, want)
	}
	if u := users[0]; u.ID != explicit.ID || u.UPN != explicit.UPN || u.DisplayName != "山田 太郎" {
		t.Errorf("first user %+v", u)
	}
	if u := users[2]; u.ID != synthID(1) || u.UPN != synthUPN(1) || u.Department != "開発部" {
		t.Errorf("synthetic user 1 %+v", u)
	}

	sb.AddGroup("11111111-0000-4000-8000-000000000001", synthID(1), "22222222-0000-4000-8000-000000000002")
	sb.AddGroup("22222222-0000-4000-8000-000000000002", synthID(1), synthID(96), explicit.ID)
	var members []string
	if err := c.ListGroupMembers(ctx, "11111111-0000-4000-8000-000000000001", "", func(p []graph.UserRef, _ string) error {
		for _, u := range p {
			members = append(members, u.ID)
		}
		return nil
	}); err != nil || len(members) != 3 {
		t.Errorf("ListGroupMembers: %v, %v", members, err)
	}

	ids := []string{synthID(0), synthID(1), synthID(51), synthUPN(34), explicit.ID}
	res, err := c.BatchAuthenticatorAndFido2Methods(ctx, ids)
	if err != nil {
		t.Fatalf("BatchAuthenticatorAndFido2Methods: %v", err)
	}
	for _, tc := range []struct {
		id              string
		phones, passkey int
	}{
		{synthID(0), 1, 0}, {synthID(1), 2, 2}, {synthID(51), 1, 2}, {synthUPN(34), 2, 0}, {explicit.ID, 1, 0},
	} {
		r := res[tc.id]
		if r.Err != nil || len(r.Authenticator) != tc.phones || len(r.Fido2) != tc.passkey {
			t.Errorf("%s: %d phones, %d passkeys, err %v; want %d and %d", tc.id, len(r.Authenticator), len(r.Fido2), r.Err, tc.phones, tc.passkey)
		}
	}
	if m := res[synthID(1)].Authenticator; m[0].Created != nil || m[1].Created == nil {
		t.Errorf("user 1's phones %+v, want the old one undated", m)
	}

	// Throttled inside a batch: each user's own Retry-After.
	sb.SetThrottle(sandbox.Throttle{RequestsPerSecond: 0.5, Burst: 2})
	res, err = c.BatchAuthenticatorMethods(ctx, ids)
	if err != nil {
		t.Fatalf("BatchAuthenticatorMethods: %v", err)
	}
	for k, id := range ids {
		r := res[id]
		switch {
		case k < 2 && r.Err != nil:
			t.Errorf("%s: %v", id, r.Err)
		case k >= 2 && (r.Err == nil || r.RetryAfter != 2*time.Second):
			t.Errorf("%s: err %v, RetryAfter %v; want throttled for 2s", id, r.Err, r.RetryAfter)
		}
	}
	if st := sb.Stats(); st.Materialized != 0 || st.BatchThrottled != 3 {
		t.Errorf("Stats %+v", st)
	}
}
