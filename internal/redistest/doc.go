// Package redistest gives tests a real Redis server: the one named by
// TEST_REDIS_ADDR, else one answering on 127.0.0.1:6379, else a
// redis-server it starts on a free loopback port. With none to be had the
// test fails loudly: a skipped store test would hide a broken store.
//
// It is for tests only; production code never imports it.
package redistest
