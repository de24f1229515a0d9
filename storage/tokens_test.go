package storage_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// TestTokenScripts covers token_create.lua and token_revoke.lua.
func TestTokenScripts(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, _ *flows.Engine) {
		ctx := t.Context()
		crm := storage.Token{Name: "crm", Scope: "start", Hash: "aa11", Created: t0}
		if err := s.CreateToken(ctx, crm); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, storage.Token{Name: "crm", Scope: "admin", Hash: "bb22"}); !errors.Is(err, storage.ErrTokenExists) {
			t.Fatalf("second token named crm: err %v, want ErrTokenExists", err)
		}
		if _, ok, _ := s.TokenByHash(ctx, "bb22"); ok {
			t.Fatal("a refused create left its hash behind")
		}
		if err := s.CreateToken(ctx, storage.Token{Name: "bob", Scope: "admin", Person: "bob", Hash: "cc33"}); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.TokenByHash(ctx, "aa11")
		if err != nil || !ok || got.Name != "crm" || got.Scope != "start" || !got.Created.Equal(t0) {
			t.Fatalf("lookup: %+v %v %v", got, ok, err)
		}
		all, err := s.Tokens(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "bob" || all[0].Person != "bob" || all[1].Name != "crm" {
			t.Fatalf("list: %+v %v", all, err)
		}
		if err := s.RevokeToken(ctx, "crm"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.TokenByHash(ctx, "aa11"); ok || err != nil {
			t.Fatalf("a revoked token is still found (%v)", err)
		}
		if err := s.RevokeToken(ctx, "crm"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("revoke twice: %v, want ErrNotFound", err)
		}
		// The name is free again.
		if err := s.CreateToken(ctx, storage.Token{Name: "crm", Scope: "read", Hash: "dd44"}); err != nil {
			t.Fatal(err)
		}
		if tok, ok, _ := s.TokenByHash(ctx, "dd44"); !ok || tok.Scope != "read" {
			t.Fatalf("recreated token: %+v %v", tok, ok)
		}
	})
}

func TestHookAttempts(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, _ *flows.Engine) {
		ctx := t.Context()
		if got, err := s.HookAttempts(ctx, "PR-1"); err != nil || len(got) != 0 {
			t.Fatalf("no attempts yet: %v %v", got, err)
		}
		for i := range 205 {
			a := flows.HookAttempt{Instance: "PR-1", Event: fmt.Sprintf("PR-1.%d", i), Type: "started", Target: "https://x", Attempt: 1, At: t0, OK: i%2 == 0, Status: 200}
			if err := s.RecordHookAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.HookAttempts(ctx, "PR-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 200 || got[0].Event != "PR-1.5" || got[199].Event != "PR-1.204" || !got[199].OK {
			t.Fatalf("kept %d attempts, first %+v last %+v; want the last 200", len(got), got[0], got[len(got)-1])
		}
	})
}
