//go:build unix

package e2e

// The sandbox's security-info page API (graph/sandbox), called as the page
// does: same origin, JSON.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

type sandboxPageAPI struct {
	t      *testing.T
	origin string // the bot's origin, which serves the sandbox
	user   string // the user's aadObjectId
	client *http.Client
}

type sandboxMethod struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

func (f *swapFlow) sandboxAPI() *sandboxPageAPI {
	// Loopback only: no proxy from the environment, whatever it says.
	tr := &http.Transport{Proxy: nil}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &sandboxPageAPI{
		t: f.t, origin: f.env.Bot.URL, user: f.env.Config.CurrentUser.AADObjectID,
		client: &http.Client{Timeout: 10 * time.Second, Transport: tr},
	}
}

// do sends one request to the page API and returns the status and body.
func (s *sandboxPageAPI) do(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := s.origin + "/sandbox/security-info/api/methods" + path + "?user=" + url.QueryEscape(s.user)
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Origin", s.origin) // the page API refuses other origins
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the answer: %v", method, u, err)
	}
	return resp.StatusCode, out
}

// add registers a new Authenticator as the page's 「次へ」 after the number does.
func (s *sandboxPageAPI) add(name string) sandboxMethod {
	s.t.Helper()
	status, body := s.do(http.MethodPost, "", map[string]string{"displayName": name})
	var m sandboxMethod
	if status != http.StatusCreated || json.Unmarshal(body, &m) != nil || m.ID == "" || m.DisplayName != name {
		s.t.Fatalf("POST the new device %q to the sandbox page API: %d %s", name, status, body)
	}
	return m
}

// list returns the user's Authenticators as the page lists them.
func (s *sandboxPageAPI) list() []sandboxMethod {
	s.t.Helper()
	status, body := s.do(http.MethodGet, "", nil)
	var r struct {
		Methods []sandboxMethod `json:"methods"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &r) != nil {
		s.t.Fatalf("GET the sandbox page API's list: %d %s", status, body)
	}
	return r.Methods
}

// remove deletes an Authenticator as 「削除」 → 「OK」 does.
func (s *sandboxPageAPI) remove(id string) {
	s.t.Helper()
	if status, body := s.do(http.MethodDelete, "/"+url.PathEscape(id), nil); status != http.StatusNoContent {
		s.t.Fatalf("DELETE %s through the sandbox page API: %d %s", id, status, body)
	}
}

// graphAuthenticators is what the sandbox's Graph endpoint (the one the bot
// calls) lists: the device names of the user's Authenticators.
func (s *sandboxPageAPI) graphAuthenticators() []string {
	s.t.Helper()
	return s.graphNames("microsoftAuthenticatorMethods")
}

// graphPasskeys is what the sandbox's Graph endpoint lists of the user's
// passkeys (fido2Methods): their display names.
func (s *sandboxPageAPI) graphPasskeys() []string {
	s.t.Helper()
	return s.graphNames("fido2Methods")
}

// graphNames lists the displayName of every item of the user's Graph
// collection /authentication/<collection> in the sandbox.
func (s *sandboxPageAPI) graphNames(collection string) []string {
	s.t.Helper()
	u := s.origin + "/sandbox/graph/v1.0/users/" + url.PathEscape(s.user) + "/authentication/" + collection
	resp, err := s.client.Get(u)
	if err != nil {
		s.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Value []struct {
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		s.t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	var out []string
	for _, m := range r.Value {
		out = append(out, m.DisplayName)
	}
	return out
}
