package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Pause is a job, or the queue (provisioning.PauseQueue), paused by an operator:
// a paused job's ticks are recorded SKIPPED with the reason (jobs.Ledger); a paused
// queue lets running processing runs finish the batches they hold and claim nothing
// new. Stored in PostgreSQL (pauses), so that every scheduler and run on every host
// obeys it from its next tick or claim.
type Pause struct {
	Target   string    `db:"target" json:"target"`
	PausedAt time.Time `db:"paused_at" json:"paused_at"`
	PausedBy string    `db:"paused_by" json:"paused_by"`
	Reason   string    `db:"reason" json:"reason"`
}

// Why is the pause as one line for the ledger and the logs.
func (p Pause) Why() string {
	s := fmt.Sprintf("paused by %s since %s", p.PausedBy, p.PausedAt.UTC().Format(time.RFC3339))
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
}

// SetPause pauses target (a job's name or provisioning.PauseQueue; the caller
// checks it) with reason, and records it in the audit trail. It reports whether
// target was paused already (then its pause keeps its time, and takes the new
// operator and reason).
func SetPause(ctx context.Context, db *store.DB, target, reason string, a Actor, now time.Time) (already bool, err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("pause %s: %w", target, err)
	}
	defer tx.Rollback()
	if err := tx.GetContext(ctx, &already, provsql.Pause, target, a.operator(), reason, now); err != nil {
		return false, fmt.Errorf("pause %s: %w", target, err)
	}
	if err := Audit(ctx, tx, a, ActionPause, map[string]any{"target": target, "reason": reason}, nil, now); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("pause %s: commit: %w", target, err)
	}
	return already, nil
}

// Resume ends target's pause, and records it in the audit trail. It returns the
// pause it ended, nil if target was not paused (nothing recorded then).
func Resume(ctx context.Context, db *store.DB, target string, a Actor, now time.Time) (*Pause, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", target, err)
	}
	defer tx.Rollback()
	var p Pause
	err = tx.GetContext(ctx, &p, provsql.Resume, target)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", target, err)
	}
	p.PausedAt = p.PausedAt.UTC()
	if err := Audit(ctx, tx, a, ActionResume, map[string]any{"target": target, "paused_by": p.PausedBy, "paused_at": p.PausedAt, "reason": p.Reason}, nil, now); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("resume %s: commit: %w", target, err)
	}
	return &p, nil
}

// Paused lists what is paused, by target.
func Paused(ctx context.Context, q sqlx.QueryerContext) ([]Pause, error) {
	var ps []Pause
	if err := sqlx.SelectContext(ctx, q, &ps, provsql.Paused); err != nil {
		return nil, fmt.Errorf("read pauses: %w", err)
	}
	for i := range ps {
		ps[i].PausedAt = ps[i].PausedAt.UTC()
	}
	if ps == nil {
		ps = []Pause{}
	}
	return ps, nil
}

// PauseOf returns target's pause, nil when it is not paused.
func PauseOf(ctx context.Context, q sqlx.QueryerContext, target string) (*Pause, error) {
	var p Pause
	err := sqlx.GetContext(ctx, q, &p, provsql.PauseOf, target)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pause of %s: %w", target, err)
	}
	p.PausedAt = p.PausedAt.UTC()
	return &p, nil
}
