// Package loopback is the bot's one answer to "is this host this machine?":
// Host for a bare host name or IP literal (a URL's Hostname), HostPort for
// "host:port" or a bare host as found in an HTTP Host header or a
// RemoteAddr.
//
// Loopback means "localhost" (in any case), any address in 127.0.0.0/8, ::1,
// and an IPv4-mapped loopback address (::ffff:127.0.0.1). Nothing else: not
// names under .localhost, not "localhost." with a trailing dot, not a name
// that merely resolves to a loopback address, since these tests decide what
// may be contacted without TLS or credentials, or what may reach the Graph
// sandbox, without asking a resolver.
//
// The callers decide what loopback allows (plain http, no token, the
// sandbox); this package only recognises it. It must not resolve names,
// do any other I/O, or decide how a host is contacted (transports,
// timeouts and connection pools are the same for every host). It uses the
// standard library only, so that any package of the module may import it.
package loopback
