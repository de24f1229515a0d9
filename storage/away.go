package storage

import (
	"context"
	"fmt"
	"time"

	json "github.com/goccy/go-json"

	"github.com/batonbot/baton/flows"
)

// SetAway records that person is out of office, for every replica.
func (s *Store) SetAway(ctx context.Context, person string, a flows.Away) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.k.away(), person, b).Err(); err != nil {
		return fmt.Errorf("record that %s is away: %w", person, err)
	}
	return nil
}

// ClearAway records that person is back.
func (s *Store) ClearAway(ctx context.Context, person string) error {
	if err := s.rdb.HDel(ctx, s.k.away(), person).Err(); err != nil {
		return fmt.Errorf("record that %s is back: %w", person, err)
	}
	return nil
}

// AwayAt returns the people out of office at now. Whoever's time away has
// ended is left out, and forgotten.
func (s *Store) AwayAt(ctx context.Context, now time.Time) (map[string]flows.Away, error) {
	raw, err := s.rdb.HGetAll(ctx, s.k.away()).Result()
	if err != nil {
		return nil, fmt.Errorf("read who is away: %w", err)
	}
	out := make(map[string]flows.Away, len(raw))
	var over []string
	for person, v := range raw {
		var a flows.Away
		if json.Unmarshal([]byte(v), &a) != nil || !now.Before(a.Until) {
			over = append(over, person)
			continue
		}
		out[person] = a
	}
	if len(over) > 0 {
		_ = s.rdb.HDel(ctx, s.k.away(), over...).Err() // tidying: read again next time if it fails
	}
	return out, nil
}
