package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether h, a host name or an IP literal without port or
// brackets (url.URL.Hostname gives one), names this machine: "localhost" in
// any case, an address in 127.0.0.0/8, ::1, or an IPv4-mapped loopback
// address.
func Host(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// HostPort is Host for "host:port", "[v6]:port", "[v6]" or a bare host: the
// forms of an HTTP Host header and of a RemoteAddr.
func HostPort(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return Host(host)
}
