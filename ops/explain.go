package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// ExplainList runs List(f)'s query under EXPLAIN (ANALYZE, FORMAT JSON) and returns
// the plan: the console bench shows why a page is fast or slow (the index used, the
// rows read). The query runs, so its cost is a page's.
func ExplainList(ctx context.Context, db *store.DB, f Filter) ([]byte, error) {
	args, _, err := f.resolve(ctx, db)
	if err != nil {
		return nil, err
	}
	query, args := f.listQuery(args)
	return explain(ctx, db, query, args...)
}

// ExplainCountUpTo is ExplainList for CountUpTo(f, max).
// With a created range, the plans of all its counts (countParts), in one JSON
// array, the one between the sure bounds first (each run as if the others counted
// none).
func ExplainCountUpTo(ctx context.Context, db *store.DB, f Filter, max int64) ([]byte, error) {
	parts, err := f.countParts(ctx, db, max)
	if err != nil {
		return nil, err
	}
	var plans []json.RawMessage
	for _, args := range parts {
		plan, err := explain(ctx, db, provsql.CountRequestsCapped, append(args, max+1)...)
		if err != nil {
			return nil, err
		}
		var ps []json.RawMessage
		if err := json.Unmarshal(plan, &ps); err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
		plans = append(plans, ps...)
	}
	return json.Marshal(plans)
}

func explain(ctx context.Context, db *store.DB, q string, args ...any) ([]byte, error) {
	var plan []byte
	if err := db.QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q, args...).Scan(&plan); err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	return plan, nil
}

// ExplainPullSummary is ExplainList for PullSummary's count of f's PENDING
// requests (lever_dry_run.sql) at now: the bulk confirmation's one statement whose
// cost grows with the matches.
func ExplainPullSummary(ctx context.Context, db *store.DB, f Filter, now time.Time) ([]byte, error) {
	f.States = []string{string(provisioning.Pending)}
	args, _, err := f.resolve(ctx, db)
	if err != nil {
		return nil, err
	}
	return explain(ctx, db, provsql.LeverDryRun, append(args, now)...)
}
