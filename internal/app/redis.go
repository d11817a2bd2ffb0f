package app

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/config"
)

// redisPoolSize is the default connection pool per Redis server (go-redis
// defaults to 10 per CPU, 20 here, and turns queued for connections under
// load); pool_size= in REDIS_URL overrides it.
const redisPoolSize = 64

// openRedis makes a client of REDIS_URL, or starts an embedded Redis when
// none is configured, so that the same go-redis code path runs either way.
// It does not dial REDIS_URL: go-redis connects on first use.
// REDIS_URL forms: redis://[:password@]host:port/db (rediss:// for TLS) for a
// single server; redis+cluster://host:port?addr=host2:port2… for a Redis
// Cluster; redis+sentinel://host:26379?master_name=name&addr=… for Sentinel.
func openRedis(cfg config.Config) (redisstore.Client, func() error, error) {
	if cfg.RedisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		stop := expireInRealTime(mr)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return rdb, func() error { stop(); err := rdb.Close(); mr.Close(); return err }, nil
	}
	raw := string(cfg.RedisURL)
	scheme, rest, _ := strings.Cut(raw, "://")
	base, kind, _ := strings.Cut(scheme, "+")
	plain := base + "://" + rest
	poolSet := strings.Contains(rest, "pool_size=")
	// Errors name the variable, not the value: the URL may hold a password.
	bad := &config.Error{Var: "REDIS_URL", Problem: "cannot be parsed as a Redis URL (redis://, rediss://, redis+cluster://, redis+sentinel://)"}
	switch kind {
	case "":
		opt, err := redis.ParseURL(plain)
		if err != nil {
			return nil, nil, bad
		}
		if !poolSet {
			opt.PoolSize = redisPoolSize
		}
		rdb := redis.NewClient(opt)
		return rdb, rdb.Close, nil
	case "cluster":
		opt, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, nil, bad
		}
		if !poolSet {
			opt.PoolSize = redisPoolSize
		}
		rdb := redis.NewClusterClient(opt)
		return rdb, rdb.Close, nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(plain)
		if err != nil || opt.MasterName == "" {
			return nil, nil, bad
		}
		if !poolSet {
			opt.PoolSize = redisPoolSize
		}
		rdb := redis.NewFailoverClient(opt)
		return rdb, rdb.Close, nil
	}
	return nil, nil, bad
}

// expireInRealTime makes the embedded Redis's keys expire as time passes:
// miniredis counts a TTL down only when told to (FastForward), so without
// this a lease, a pause or a turn record never ran out in local mode. It
// returns the function that stops it.
func expireInRealTime(mr *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	go func() {
		const every = 100 * time.Millisecond
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// OpenRedis is the bot's Redis as cfg describes it (REDIS_URL, or an
// embedded one that lives as long as the returned close function), for
// the commands that work on the bot's state without serving it (mfabot
// sweep).
func OpenRedis(cfg config.Config) (redisstore.Client, func() error, error) { return openRedis(cfg) }
