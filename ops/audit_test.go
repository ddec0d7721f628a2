package ops_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestAuditAppendOnly: the audit trail refuses UPDATE, DELETE and TRUNCATE, from
// an application's role granted every privilege on the table as from the
// superuser the tests connect as; INSERT works.
func TestAuditAppendOnly(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	if err := ops.Audit(ctx, db, ops.Actor{Operator: "alice", Command: "requests hold 1"}, ops.ActionHold, nil, []int64{1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	role := "provisioner_app_" + hex.EncodeToString(b)
	q := pq.QuoteIdentifier(role)
	for _, s := range []string{
		"CREATE ROLE " + q + " NOLOGIN NOSUPERUSER",
		"GRANT USAGE ON SCHEMA public TO " + q,
		"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON audit_log TO " + q,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		db.Exec("DROP OWNED BY " + q) // its grants, so that the role can go
		db.Exec("DROP ROLE " + q)
	})

	for _, as := range []string{"the application's role", "the superuser"} {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if as == "the application's role" {
			if _, err := conn.ExecContext(ctx, "SET ROLE "+q); err != nil {
				t.Fatal(err)
			}
		}
		for _, stmt := range []string{
			"UPDATE audit_log SET operator = 'mallory'",
			"DELETE FROM audit_log",
			"TRUNCATE audit_log",
		} {
			_, err := conn.ExecContext(ctx, stmt)
			if err == nil || !strings.Contains(err.Error(), "audit_log is append-only") {
				t.Errorf("%s, as %s: %v, want refused as append-only", stmt, as, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO audit_log (operator, action) VALUES ('bob', 'pause')"); err != nil {
			t.Errorf("insert as %s: %v", as, err)
		}
		conn.ExecContext(ctx, "RESET ROLE")
		conn.Close()
	}
	es, err := ops.ListAudit(ctx, db, ops.AuditFilter{Operator: "alice"})
	if err != nil || len(es) != 1 || es[0].Operator != "alice" || es[0].Touched != 1 {
		t.Errorf("the entry after the refused changes: %+v %v", es, err)
	}
}

// TestAuditNumbersCapped: an entry keeps the first MaxAuditNumbers numbers, in
// order, and the full count; list filters by operator, action and time.
func TestAuditNumbersCapped(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	nums := make([]int64, ops.MaxAuditNumbers+5)
	for i := range nums {
		nums[i] = int64(len(nums) - i) // backwards: stored sorted
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := ops.Audit(ctx, db, ops.Actor{Operator: "alice"}, ops.ActionCancel, map[string]any{"reason": "x"}, nums, t0); err != nil {
		t.Fatal(err)
	}
	if err := ops.Audit(ctx, db, ops.Actor{Operator: "bob"}, ops.ActionPause, nil, nil, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	es, err := ops.ListAudit(ctx, db, ops.AuditFilter{Action: ops.ActionCancel})
	if err != nil || len(es) != 1 {
		t.Fatalf("%+v %v", es, err)
	}
	e := es[0]
	if e.Touched != len(nums) || len(e.Numbers) != ops.MaxAuditNumbers || !e.NumbersTruncated || e.Numbers[0] != 1 || e.Numbers[len(e.Numbers)-1] != ops.MaxAuditNumbers {
		t.Errorf("entry: touched %d, %d numbers (%d..%d), truncated %v", e.Touched, len(e.Numbers), e.Numbers[0], e.Numbers[len(e.Numbers)-1], e.NumbersTruncated)
	}
	for _, c := range []struct {
		f    ops.AuditFilter
		want []string
	}{
		{ops.AuditFilter{}, []string{"bob", "alice"}},
		{ops.AuditFilter{Operator: "bob"}, []string{"bob"}},
		{ops.AuditFilter{Since: t0.Add(time.Minute)}, []string{"bob"}},
		{ops.AuditFilter{Action: ops.ActionResume}, nil},
	} {
		es, err := ops.ListAudit(ctx, db, c.f)
		var got []string
		for _, e := range es {
			got = append(got, e.Operator)
		}
		if err != nil || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%+v: %v %v, want %v", c.f, got, err, c.want)
		}
	}
}
