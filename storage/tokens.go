package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
)

var (
	tokenCreateScript = script("token_create")
	tokenRevokeScript = script("token_revoke")
)

// ErrTokenExists means a token of that name exists already.
var ErrTokenExists = errors.New("a token of that name exists")

// Token is an API token as stored: its SHA-256, never the token itself.
type Token struct {
	Name    string    `json:"name"`
	Scope   string    `json:"scope"`            // read, start or admin
	Person  string    `json:"person,omitempty"` // the only person it may act as ("": anyone)
	Hash    string    `json:"hash"`             // hex SHA-256 of the token
	Created time.Time `json:"created"`
}

// CreateToken stores a token record. It fails with ErrTokenExists when the
// name is taken.
func (s *Store) CreateToken(ctx context.Context, t Token) error {
	if t.Name == "" || t.Hash == "" {
		return fmt.Errorf("create token: a name and a hash are required")
	}
	rec, err := json.Marshal(t)
	if err != nil {
		return err
	}
	n, err := tokenCreateScript.Run(ctx, s.rdb, []string{s.k.tokByHash(), s.k.tokByName()}, t.Name, t.Hash, rec).Int()
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("create token %s: %w; revoke it first or pick another name", t.Name, ErrTokenExists)
	}
	return nil
}

// RevokeToken deletes a token by name; requests bearing it fail from then
// on. It returns an error wrapping flows.ErrNotFound when there is none.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	n, err := tokenRevokeScript.Run(ctx, s.rdb, []string{s.k.tokByHash(), s.k.tokByName()}, name).Int()
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("revoke token %s: %w", name, flows.ErrNotFound)
	}
	return nil
}

// TokenByHash returns the token whose SHA-256 is hash; ok is false when
// there is none (never created, or revoked).
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, bool, error) {
	raw, err := s.rdb.HGet(ctx, s.k.tokByHash(), hash).Result()
	if errors.Is(err, redis.Nil) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, fmt.Errorf("look up a token: %w", err)
	}
	var t Token
	if err := json.Unmarshal([]byte(raw), &t); err != nil {
		return Token{}, false, fmt.Errorf("decode token record: %w", err)
	}
	return t, true, nil
}

// Tokens returns every token, by name.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	all, err := s.rdb.HGetAll(ctx, s.k.tokByHash()).Result()
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]Token, 0, len(all))
	for _, raw := range all {
		var t Token
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return nil, fmt.Errorf("decode token record: %w", err)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Token) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// hookLogLen is how many delivery attempts are kept per instance.
const hookLogLen = 200

// RecordHookAttempt appends an outbound webhook delivery attempt to its
// instance's delivery log (the last 200 are kept).
func (s *Store) RecordHookAttempt(ctx context.Context, a flows.HookAttempt) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	key := s.k.hookLog(a.Instance)
	pipe := s.rdb.TxPipeline()
	pipe.RPush(ctx, key, b)
	pipe.LTrim(ctx, key, -hookLogLen, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record webhook delivery of %s: %w", a.Instance, err)
	}
	return nil
}

// HookAttempts returns an instance's webhook delivery attempts, oldest first.
func (s *Store) HookAttempts(ctx context.Context, instance string) ([]flows.HookAttempt, error) {
	raw, err := s.rdb.LRange(ctx, s.k.hookLog(instance), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries of %s: %w", instance, err)
	}
	out := make([]flows.HookAttempt, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, fmt.Errorf("webhook delivery %d of %s: %w", i+1, instance, err)
		}
	}
	return out, nil
}
