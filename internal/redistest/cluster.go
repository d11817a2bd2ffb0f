package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterMasters is how many masters Cluster starts.
const clusterMasters = 3

// Cluster starts a private Redis Cluster of three masters (no replicas) on
// free loopback ports, waits until every node reports cluster_state:ok, and
// returns the nodes' addresses. The servers keep nothing on disk beyond
// their nodes-<port>.conf in a temporary directory, and are killed when the
// test ends.
//
// It needs redis-server and redis-cli (Debian: apt-get install
// redis-server) and fails the test, never skips it, when they are missing.
func Cluster(tb testing.TB) []string {
	tb.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest.Cluster: redis-server is not installed (Debian: apt-get install redis-server): %v", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redistest.Cluster: redis-cli is not installed (Debian: apt-get install redis-tools): %v", err)
	}
	dir := tb.TempDir() // removed after the servers are killed (cleanups run last-in first-out)

	var addrs []string
	for attempt := 1; ; attempt++ {
		addrs, err = startClusterNodes(tb, server, dir)
		if err == nil {
			break
		}
		if attempt == 3 {
			tb.Fatalf("redistest.Cluster: %v", err)
		}
		tb.Logf("redistest.Cluster: %v; trying other ports", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("All 16384 slots covered")) {
		tb.Fatalf("redistest.Cluster: redis-cli --cluster create %s failed (%v):\n%s", strings.Join(addrs, " "), err, out)
	}
	if err := waitClusterOK(ctx, addrs); err != nil {
		tb.Fatalf("redistest.Cluster: %v", err)
	}
	return addrs
}

// startClusterNodes starts the masters on free ports; each cleans up after
// itself at the end of the test. An error means a node did not come up
// (typically a port taken in the meantime); the nodes already started are
// killed then.
func startClusterNodes(tb testing.TB, server, dir string) ([]string, error) {
	tb.Helper()
	var (
		addrs []string
		procs []*exec.Cmd
		exits []chan struct{}
	)
	kill := func() {
		for i, p := range procs {
			p.Process.Kill()
			<-exits[i]
		}
	}
	for range clusterMasters {
		port, err := freeClusterPort(addrs)
		if err != nil {
			kill()
			return nil, err
		}
		p := strconv.Itoa(port)
		logFile, err := os.Create(filepath.Join(dir, "redis-"+p+".log"))
		if err != nil {
			kill()
			return nil, err
		}
		cmd := exec.Command(server,
			"--port", p,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+p+".conf"),
			"--cluster-node-timeout", "2000",
			"--save", "",
			"--appendonly", "no",
			"--bind", "127.0.0.1",
			"--dir", dir,
		)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			logFile.Close()
			kill()
			return nil, fmt.Errorf("start redis-server on port %s: %w", p, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); logFile.Close(); close(exited) }()
		procs, exits = append(procs, cmd), append(exits, exited)
		addrs = append(addrs, "127.0.0.1:"+p)
	}
	for i, a := range addrs {
		if err := waitPing(a, exits[i]); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "redis-"+strings.TrimPrefix(a, "127.0.0.1:")+".log"))
			kill()
			return nil, fmt.Errorf("cluster node %s: %v\n%s", a, err, log)
		}
	}
	tb.Cleanup(kill)
	return addrs, nil
}

// freeClusterPort finds a free loopback port P whose cluster bus port
// P+10000 is free too, and that is not one of taken.
func freeClusterPort(taken []string) (int, error) {
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		dup := false
		for _, a := range taken {
			if a == "127.0.0.1:"+strconv.Itoa(port) || a == "127.0.0.1:"+strconv.Itoa(port+10000) || a == "127.0.0.1:"+strconv.Itoa(port-10000) {
				dup = true
			}
		}
		if dup {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port P with P+10000 free")
}

// waitPing waits until a answers PING, or its process has exited.
func waitPing(a string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited")
		default:
		}
		if ping(a) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not answer PING within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitClusterOK waits until CLUSTER INFO says cluster_state:ok and knows
// every master on every node.
func waitClusterOK(ctx context.Context, addrs []string) error {
	clients := make([]*redis.Client, len(addrs))
	for i, a := range addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer clients[i].Close()
	}
	var last string
	for {
		ok := true
		for i, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				ok, last = false, fmt.Sprintf("%s: CLUSTER INFO: %v", addrs[i], err)
				break
			}
			if !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(addrs))) {
				ok, last = false, addrs[i]+": "+strings.Join(strings.Fields(info), " ")
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ok in time; last: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
