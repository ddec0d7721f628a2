package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// A token is TokenPrefix and 256 random bits in base64url. The prefix lets secret
// scanners and people recognise one that leaked into a file or a chat.
const TokenPrefix = "prov_"

// Token is an issued token, as `provisioner tokens list` shows it: never its secret.
type Token struct {
	ID        int64      `db:"id"`
	Name      string     `db:"name"`
	CreatedAt time.Time  `db:"created_at"`
	RevokedAt *time.Time `db:"revoked_at"`
	Requests  int64      `db:"requests"` // requests it created
}

// Errors of the token commands.
var (
	ErrTokenName   = errors.New("a token name is 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit")
	ErrTokenExists = errors.New("a live token has this name: revoke it first")
	ErrNoToken     = errors.New("no live token has this name")
)

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateToken issues a token named name and returns its secret, which is not stored
// and cannot be shown again.
func CreateToken(ctx context.Context, db *store.DB, name string) (string, error) {
	if !tokenName.MatchString(name) {
		return "", fmt.Errorf("token name %q: %w", name, ErrTokenName)
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	var id int64
	err := db.GetContext(ctx, &id, provsql.InsertAPIToken, name, hashToken(secret))
	switch {
	case store.IsUniqueViolation(err, "api_tokens_live_name"):
		return "", fmt.Errorf("token %s: %w", name, ErrTokenExists)
	case err != nil:
		return "", fmt.Errorf("issue token: %w", err)
	}
	return secret, nil
}

// RevokeToken revokes the live token named name: calls with it get 401 from now on.
func RevokeToken(ctx context.Context, db *store.DB, name string) error {
	var id int64
	err := db.GetContext(ctx, &id, provsql.RevokeAPIToken, name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("token %s: %w", name, ErrNoToken)
	case err != nil:
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// ListTokens returns every token issued, live and revoked.
func ListTokens(ctx context.Context, db *store.DB) ([]Token, error) {
	return listTokens(ctx, db, nil)
}

// ListTokensUpTo is ListTokens with each token's requests counted up to max: max+1
// says more.
func ListTokensUpTo(ctx context.Context, db *store.DB, max int64) ([]Token, error) {
	return listTokens(ctx, db, max+1)
}

func listTokens(ctx context.Context, db *store.DB, limit any) ([]Token, error) {
	var ts []Token
	if err := db.SelectContext(ctx, &ts, provsql.ListAPITokens, limit); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// lookupToken finds the live token of a secret by its hash (hashToken), so that no
// comparison of secrets happens at all, in constant time or not.
func lookupToken(ctx context.Context, db *store.DB, hash string) (Token, bool, error) {
	var t Token
	err := db.GetContext(ctx, &t, provsql.APITokenByHash, hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return t, false, nil
	case err != nil:
		return t, false, fmt.Errorf("look up token: %w", err)
	}
	return t, true, nil
}

// hashToken is the stored form of a token: SHA-256, not a password hash, because the
// secret is 256 random bits (see the 000005 migration).
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// DefaultTokenCache is how long serve takes a token it found live as live: the
// longest a revoked token may still show and list requests in a serve that checked
// it just before (a revoked token never creates one: the insert checks it).
const DefaultTokenCache = 5 * time.Second

// maxCachedTokens bounds the cache: only live tokens enter it, and an operator
// issues a handful, so the bound is never reached but by a bug.
const maxCachedTokens = 1024

// tokenCache holds the tokens found live, by hash, each until a deadline: one
// statement less per call for a caller that calls often. Failed tokens are not
// kept (the limiter counts them).
type tokenCache struct {
	ttl time.Duration // <= 0: nothing is kept
	mu  sync.Mutex
	m   map[string]cachedToken
}

type cachedToken struct {
	t     Token
	until time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, m: map[string]cachedToken{}}
}

func (c *tokenCache) get(hash string) (Token, bool) {
	if c.ttl <= 0 {
		return Token{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !time.Now().Before(e.until) {
		delete(c.m, hash)
		return Token{}, false
	}
	return e.t, true
}

func (c *tokenCache) put(hash string, t Token) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedTokens {
		clear(c.m)
	}
	c.m[hash] = cachedToken{t: t, until: time.Now().Add(c.ttl)}
}

// forget drops a token found revoked.
func (c *tokenCache) forget(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, hash)
}
