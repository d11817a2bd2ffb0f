// loopback-guard.cjs keeps a Node.js process on the loopback interface.
//
// The end-to-end tests preload it into the Microsoft 365 Agents Playground
// (`node --require ./loopback-guard.cjs cli.js ...`) because the Playground
// 0.2.28, even with --disable-telemetry, starts the Application Insights SDK,
// whose "statsbeat" asks the Azure instance metadata service (169.254.169.254)
// and resolves westus-0.in.applicationinsights.azure.com, and because it
// listens on every interface. The tests also set
// APPLICATION_INSIGHTS_NO_STATSBEAT=true; this file is the safety net:
//
//   - a server that listens without a host listens on 127.0.0.1;
//   - a DNS look-up of a name other than localhost fails;
//   - a TCP connection to an address outside 127.0.0.0/8 or ::1 fails.
//
// Every refusal is printed on stderr with the prefix "[e2e loopback guard]",
// so a test can notice it. Unix sockets and child processes are not touched.
'use strict';

const net = require('net');
const dns = require('dns');

const LOOPBACK_HOST = '127.0.0.1';
const PREFIX = '[e2e loopback guard]';

function isLoopbackAddress(addr) {
  const a = String(addr).replace(/^\[|\]$/g, '').toLowerCase();
  if (net.isIPv4(a)) return a.startsWith('127.');
  if (net.isIPv6(a)) return a === '::1' || a.startsWith('::ffff:127.');
  return false;
}

function isLoopbackName(host) {
  const h = String(host).replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || isLoopbackAddress(h);
}

function refusal(what) {
  const msg = `${PREFIX} refused ${what}: only loopback is allowed`;
  process.stderr.write(msg + '\n');
  const err = new Error(msg);
  err.code = 'ECONNREFUSED';
  return err;
}

// 1. Listen on 127.0.0.1 when no host is given.
const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listen(...args) {
  const first = args[0];
  if (args.length === 0 || typeof first === 'function') {
    args.unshift(0, LOOPBACK_HOST);
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, LOOPBACK_HOST);
  } else if (first && typeof first === 'object' && 'port' in first && first.host == null && first.path == null) {
    args[0] = { ...first, host: LOOPBACK_HOST };
  }
  return origListen.apply(this, args);
};

// 2. Resolve nothing but loopback names.
function guardLookup(orig) {
  return function lookup(hostname, options, callback) {
    if (typeof options === 'function') {
      callback = options;
      options = {};
    }
    if (!isLoopbackName(hostname)) {
      const err = refusal(`DNS look-up of ${hostname}`);
      process.nextTick(() => callback(err));
      return {};
    }
    return orig.call(this, hostname, options, callback);
  };
}
dns.lookup = guardLookup(dns.lookup);
const origPromiseLookup = dns.promises.lookup;
dns.promises.lookup = function lookup(hostname, options) {
  if (!isLoopbackName(hostname)) return Promise.reject(refusal(`DNS look-up of ${hostname}`));
  return origPromiseLookup.call(this, hostname, options);
};

// 3. Connect to nothing but loopback addresses.
const origConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  let opts = args[0];
  if (Array.isArray(opts)) opts = opts[0]; // Node's internal normalized form [options, cb]
  if (opts === null || typeof opts !== 'object') {
    opts = { port: args[0], host: typeof args[1] === 'string' ? args[1] : undefined };
  }
  if (opts.path == null) { // null: http fills path in from the URL
    const host = opts.host == null || opts.host === "" ? "localhost" : opts.host;
    if (!isLoopbackName(host)) {
      const err = refusal(`connection to ${host}:${opts.port}`);
      process.nextTick(() => this.destroy(err));
      return this;
    }
  }
  return origConnect.apply(this, args);
};
