package storage

import (
	"sync"

	"github.com/batonbot/baton/flows"
)

// cacheSize bounds the instances a Store remembers: enough for the requests
// being decided right now, small next to the process's memory.
const cacheSize = 4096

// instanceCache remembers the last state this process committed for recent
// instances, so the next event on one can skip reading it. It is only a
// guess: the transition script's version check refuses a stale one, and Apply
// then reads the instance from Redis. Entries are deep copies, so callers
// may change what they are given.
type instanceCache struct {
	mu sync.Mutex
	m  map[string]*flows.Instance
}

func (c *instanceCache) get(id string) (*flows.Instance, bool) {
	c.mu.Lock()
	in, ok := c.m[id]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return in.Clone(), true
}

func (c *instanceCache) put(in *flows.Instance) {
	cp := in.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*flows.Instance, cacheSize)
	}
	if _, ok := c.m[in.ID]; !ok && len(c.m) >= cacheSize {
		for k := range c.m { // evict one arbitrary entry (map order is random)
			delete(c.m, k)
			break
		}
	}
	c.m[in.ID] = cp
}
