package loopback_test

import (
	"testing"

	"github.com/smartswap/mfabot/internal/loopback"
)

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"0:0:0:0:0:0:0:1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:127.1.2.3", true},

		{"", false},
		{"localhost.", false},
		{"app.localhost", false},
		{"localhost.example.com", false},
		{"127.0.0.1.example.com", false},
		{"128.0.0.1", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::2", false},
		{"::ffff:10.0.0.1", false},
		{"[::1]", false}, // brackets belong to HostPort's forms
		{"127.0.0.1:80", false},
		{"example.com", false},
	} {
		if got := loopback.Host(tc.host); got != tc.want {
			t.Errorf("Host(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		hostport string
		want     bool
	}{
		{"127.0.0.1:3978", true},
		{"127.0.0.2:0", true},
		{"localhost:3978", true},
		{"LOCALHOST", true},
		{"[::1]:3978", true},
		{"[::1]", true},
		{"::1", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"127.0.0.1", true},

		{"evil.example:3978", false},
		{"192.0.2.10:5555", false},
		{"[2001:db8::1]:5555", false},
		{"app.localhost:3978", false},
		{"", false},
		{":3978", false},
	} {
		if got := loopback.HostPort(tc.hostport); got != tc.want {
			t.Errorf("HostPort(%q) = %v, want %v", tc.hostport, got, tc.want)
		}
	}
}
