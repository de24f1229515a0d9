package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
)

// Client returns a go-redis UniversalClient for a URL:
//
//	redis://[user:pass@]host:port[/db]           a single server (rediss:// for TLS)
//	redis-cluster://host:port?addr=host2:port2   Redis Cluster (rediss-cluster:// for TLS)
//	redis-sentinel://host:port?master_name=NAME&addr=host2:port2
//	                                             Sentinel-managed failover (rediss-sentinel://)
//
// Query parameters set go-redis options by their snake_case names (e.g.
// pool_size=50, read_timeout=3s). It does no I/O.
func Client(rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %s", flows.URLProblem(err))
	}
	scheme, mode, _ := strings.Cut(u.Scheme, "-")
	if scheme != "redis" && scheme != "rediss" {
		return nil, fmt.Errorf("redis url scheme %q: use redis://, rediss://, redis-cluster:// or redis-sentinel://", u.Scheme)
	}
	u.Scheme = scheme
	plain := u.String()
	switch mode {
	case "":
		o, err := redis.ParseURL(plain)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		tune(&o.ContextTimeoutEnabled, &o.PoolSize)
		return redis.NewClient(o), nil
	case "cluster":
		o, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, fmt.Errorf("redis cluster url: %w", err)
		}
		tune(&o.ContextTimeoutEnabled, &o.PoolSize)
		return redis.NewClusterClient(o), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel url: %w", err)
		}
		if o.MasterName == "" {
			return nil, fmt.Errorf("redis sentinel url: add ?master_name=NAME")
		}
		tune(&o.ContextTimeoutEnabled, &o.PoolSize)
		return redis.NewFailoverClient(o), nil
	}
	return nil, fmt.Errorf("redis url scheme %q: use redis://, rediss://, redis-cluster:// or redis-sentinel://", u.Scheme)
}

// tune makes request deadlines apply to Redis calls and sizes the pool for
// many concurrent requests (go-redis defaults to 10 per CPU).
func tune(ctxTimeout *bool, poolSize *int) {
	*ctxTimeout = true
	if *poolSize == 0 {
		*poolSize = 128
	}
}

// Embedded starts an in-process Redis-compatible server (miniredis) and
// returns a client connected to it through the same code path as a real
// server. Its data lives in memory only and is lost when the process exits.
// TTLs follow the wall clock (ClockTTL), so expiring keys do expire. It
// listens on a loopback port, which any local user could reach: a random
// password, known only to this process, keeps them out (they could mint
// API tokens otherwise).
func Embedded() (*miniredis.Miniredis, redis.UniversalClient, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, fmt.Errorf("start the embedded store: %w", err)
	}
	pw := hex.EncodeToString(secret)
	m := miniredis.NewMiniRedis()
	m.RequireAuth(pw)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, nil, fmt.Errorf("start the embedded store: %w", err)
	}
	m.ClockTTL(true)
	c, err := Client("redis://:" + pw + "@" + m.Addr())
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, c, nil
}
