package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/lib/pq"
)

// readOnlyCode is SQLSTATE read_only_sql_transaction: a statement that writes ran on
// a server that only reads (a standby, or a primary demoted by a failover).
const readOnlyCode = "25006"

// dropReadOnly wraps the connections of a connector so that a connection on which a
// statement failed with 25006 is closed when it goes back to the pool, instead of
// being handed out again: after a failover the pool's connections to the old
// primary, now read-only, would fail every write until the process restarted
// (issue 16). The next connection is made anew, and with
// target_session_attrs=read-write in the URL it reaches the new primary
// (docs/high-availability.md). The failed statement itself fails as it did: it was
// refused, nothing was written, and the caller's usual retry takes it from there.
type dropReadOnly struct{ driver.Connector }

func (c dropReadOnly) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &roConn{Conn: conn}, nil
}

// roConn is a lib/pq connection that remembers a 25006.
type roConn struct {
	driver.Conn
	readOnly atomic.Bool
}

func (c *roConn) check(err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) && (pe.Code == readOnlyCode ||
		// lib/pq begins transactions READ WRITE, which a server in recovery (a
		// standby, a demoted primary) refuses with feature_not_supported.
		pe.Code == "0A000" && strings.Contains(pe.Message, "read-write mode during recovery")) {
		c.readOnly.Store(true)
	}
	return err
}

// IsValid: database/sql closes a connection that is not valid when it returns to
// the pool.
func (c *roConn) IsValid() bool {
	if c.readOnly.Load() {
		return false
	}
	v, ok := c.Conn.(driver.Validator)
	return !ok || v.IsValid()
}

func (c *roConn) ResetSession(ctx context.Context) error {
	if c.readOnly.Load() {
		return driver.ErrBadConn
	}
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *roConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	return rows, c.check(err)
}

func (c *roConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
	return res, c.check(err)
}

func (c *roConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, c.check(err)
	}
	rs := &roStmt{Stmt: st, c: c}
	if _, ok := st.(stmtContext); ok {
		return roStmtContext{rs}, nil
	}
	return rs, nil // lib/pq's COPY: rows go through Exec
}

type stmtContext interface {
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (c *roConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, c.check(err)
	}
	return roTx{Tx: tx, c: c}, nil
}

func (c *roConn) Ping(ctx context.Context) error {
	return c.check(c.Conn.(driver.Pinger).Ping(ctx))
}

func (c *roConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// roTx: a COMMIT can fail with 25006 too (a deferred write).
type roTx struct {
	driver.Tx
	c *roConn
}

func (t roTx) Commit() error { return t.c.check(t.Tx.Commit()) }

// roStmt: the importer's COPY is a prepared statement (lib/pq's CopyIn).
type roStmt struct {
	driver.Stmt
	c *roConn
}

func (s *roStmt) Exec(args []driver.Value) (driver.Result, error) {
	res, err := s.Stmt.Exec(args) //nolint:staticcheck // lib/pq's COPY takes its rows through Exec
	return res, s.c.check(err)
}

func (s *roStmt) Query(args []driver.Value) (driver.Rows, error) {
	rows, err := s.Stmt.Query(args) //nolint:staticcheck
	return rows, s.c.check(err)
}

// roStmtContext is a statement that takes a context (all but COPY's).
type roStmtContext struct{ *roStmt }

func (s roStmtContext) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, s.c.check(err)
}

func (s roStmtContext) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	return rows, s.c.check(err)
}

func (s *roStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return s.c.CheckNamedValue(nv)
}
