package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DB is the provisioner's database.
type DB struct {
	*sqlx.DB
}

// Open connects to the database at dsn (a postgres:// URL or key=value string) and
// checks that it answers.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	// The importer holds one connection for its COPY and uses another for lookups.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", Redact(dsn), err)
	}
	return &DB{db}, nil
}

// Redact hides the password of a postgres:// URL so that it can be logged.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// IsUniqueViolation reports whether err is PostgreSQL's unique_violation on the named
// constraint or index (any, if name is empty).
func IsUniqueViolation(err error, name string) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return false
	}
	return name == "" || pe.Constraint == name
}
