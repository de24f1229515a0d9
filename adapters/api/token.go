package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Scope is what a token may do. Scopes nest: admin ⊇ start ⊇ read.
type Scope string

// Scopes.
const (
	ScopeRead  Scope = "read"
	ScopeStart Scope = "start"
	ScopeAdmin Scope = "admin"
)

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeStart:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a token of scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool { return s.rank() > 0 && s.rank() >= need.rank() }

// ParseScope checks a scope name.
func ParseScope(s string) (Scope, error) {
	if sc := Scope(s); sc.rank() > 0 {
		return sc, nil
	}
	return "", fmt.Errorf("scope %q: use read, start or admin (admin includes start, start includes read)", s)
}

// Token is a token's record: never the token itself.
type Token struct {
	Name   string
	Scope  Scope
	Person string // the only person it acts as ("": it says on_behalf_of)
	Hash   string // hex SHA-256 of the token
}

// tokenPrefix starts every token, so a leaked one is recognisable (and
// secret scanners can find it).
const tokenPrefix = "baton_"

// NewToken returns a new random token and its hash (to store).
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the hex SHA-256 of a token. Tokens carry 256 random
// bits, so a fast hash is enough: there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether s looks like a token (checked before any lookup).
func wellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// sameHash compares two hashes in constant time.
func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
