// Package storagetest gives each test its own Store: on the Redis named by
// BATON_TEST_REDIS_URL when it is set (and then it must answer), otherwise on
// an embedded in-process server. Every store gets its own key prefix, so
// tests run in parallel, and its keys are deleted when the test ends.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/storage"
)

// EnvURL names the variable that points tests at a real Redis.
const EnvURL = "BATON_TEST_REDIS_URL"

// Backend is a Redis to test against.
type Backend struct {
	Name   string // "embedded", "redis" or "cluster"
	Client redis.UniversalClient
}

// Embedded starts an embedded server for t.
func Embedded(t testing.TB) Backend {
	t.Helper()
	m, c, err := storage.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); m.Close() })
	return Backend{Name: "embedded", Client: c}
}

// EmbeddedURL starts an embedded server for t, and returns its client and
// a URL (with the password it asks for) another client connects with: a
// command under test, given it as BATON_REDIS_URL.
func EmbeddedURL(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	m, c, err := storage.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); m.Close() })
	u := url.URL{Scheme: "redis", User: url.UserPassword("", c.(*redis.Client).Options().Password), Host: m.Addr()}
	return c, u.String()
}

// Real connects to the Redis of BATON_TEST_REDIS_URL (any URL
// storage.Client takes: redis://host:6379/0, or
// redis-cluster://127.0.0.1:7000?addr=127.0.0.1:7001 for Redis Cluster, whose
// backend is then named "cluster"); ok is false when the variable is not
// set. A set but unreachable Redis fails the test: CI sets it to require a
// real server.
func Real(t testing.TB) (Backend, bool) {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		return Backend{}, false
	}
	c, err := storage.Client(url)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s=%s is set but Redis does not answer: %v", EnvURL, url, err)
	}
	t.Cleanup(func() { c.Close() })
	name := "redis"
	if _, ok := c.(*redis.ClusterClient); ok {
		name = "cluster"
	}
	return Backend{Name: name, Client: c}, true
}

// Default is the real Redis when configured, else an embedded one.
func Default(t testing.TB) Backend {
	t.Helper()
	if b, ok := Real(t); ok {
		return b
	}
	return Embedded(t)
}

// Backends is the embedded store, plus the real Redis when configured: the
// storage conformance suite runs on each.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{Embedded(t)}
	if b, ok := Real(t); ok {
		out = append(out, b)
	}
	return out
}

// Prefix returns a fresh random key prefix.
func Prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// Store returns an initialised store on b under a fresh prefix, deleted
// when the test ends.
func Store(t testing.TB, b Backend, cfg storage.Config) *storage.Store {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = Prefix()
	}
	s := storage.New(b.Client, cfg)
	if err := s.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.DeleteAll(ctx); err != nil {
			t.Errorf("clean up %s: %v", cfg.Prefix, err)
		}
	})
	return s
}
