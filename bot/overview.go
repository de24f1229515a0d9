package bot

import (
	"context"
	"fmt"

	"github.com/batonbot/baton/flows"
)

// Overview limits: the dashboard reads at most this many requests per
// status (open ones, and the most recent closed ones for cycle times).
const (
	overviewOpen   = 5000
	overviewClosed = 1000
)

// Overview summarises requests for the operations dashboard: counts by
// status, where each open request stands, the overdue ones and cycle times
// per step (flows.Engine.Overview). Counts of a status above its limit are
// capped at the limit.
func (s *Service) Overview(ctx context.Context) (flows.Overview, error) {
	var all []*flows.Instance
	for _, st := range flows.Statuses {
		limit := overviewClosed
		if st.Open() {
			limit = overviewOpen
		}
		ins, err := s.store.List(ctx, flows.Query{Status: []flows.Status{st}, Limit: limit})
		if err != nil {
			return flows.Overview{}, fmt.Errorf("overview: list %s requests: %w", st, err)
		}
		all = append(all, ins...)
	}
	return s.engine.Overview(all, s.clock.Now()), nil
}
