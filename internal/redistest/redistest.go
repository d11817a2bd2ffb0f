package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	once    sync.Once
	addr    string
	onceErr error
)

// Addr returns the address of a real Redis server for tests.
func Addr(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { addr, onceErr = find() })
	if onceErr != nil {
		tb.Fatalf("no Redis server for tests (run the README's test command, which starts one): %v", onceErr)
	}
	return addr
}

// Client returns a client of the test Redis, closed at the end of the test.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr(tb)})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Prefix returns a key prefix unique to this test, so that tests running in
// parallel packages never see each other's keys.
func Prefix(tb testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "test:" + hex.EncodeToString(b) + ":"
}

func find() (string, error) {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a, ping(a)
	}
	if ping("127.0.0.1:6379") == nil {
		return "127.0.0.1:6379", nil
	}
	return start()
}

func ping(a string) error {
	rdb := redis.NewClient(&redis.Options{Addr: a, DialTimeout: time.Second})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
}

// start runs a private redis-server for this test binary. It is left to
// die with the process group; it keeps nothing on disk.
func start() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not installed: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	a := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return "", err
	}
	for i := 0; i < 50; i++ {
		if ping(a) == nil {
			return a, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	return "", fmt.Errorf("redis-server on %s did not answer", a)
}
