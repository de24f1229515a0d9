package storage

import (
	"sync"

	"github.com/batonbot/baton/flows"
)

// cacheSize bounds the instances a Store remembers: enough for the requests
// being decided right now (a few hundred at 10,000 approvals/s), and few
// enough that the garbage collector's scans of them stay cheap (4,096 cost
// complete approvals 2-6% of their CPU, measured side by side with
// BenchmarkCompleteApprovals).
const cacheSize = 1024

// instanceCache remembers the last state this process committed for recent
// instances, so the next event on one can skip reading it. It is only a
// guess: the transition script's version check refuses a stale one, and Apply
// then reads the instance from Redis. Entries are shared, not copied: the
// flows.Store contract forbids changing the state given to Apply's fn or a
// committed transition's instance (the engine works on a copy).
type instanceCache struct {
	mu sync.Mutex
	m  map[string]*flows.Instance
}

func (c *instanceCache) get(id string) (*flows.Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.m[id]
	return in, ok
}

func (c *instanceCache) put(in *flows.Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*flows.Instance, cacheSize)
	}
	old, ok := c.m[in.ID]
	if ok && old.Version > in.Version {
		return // a read older than what is known
	}
	if !ok && len(c.m) >= cacheSize {
		for k := range c.m { // evict one arbitrary entry (map order is random)
			delete(c.m, k)
			break
		}
	}
	c.m[in.ID] = in
}

// drop forgets id's state: it was not the stored one.
func (c *instanceCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
