package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sirupsen/logrus"

	provsql "github.com/provisioner/provisioner/sql"
)

// Statistics of provisioning_requests are stale, for the processing run, when the
// planner believes in fewer than a quarter of the PENDING requests there are, and
// more than staleSlack rows hide. Below that any plan is quick; above it, a plan built
// for "almost no pending rows" can cost seconds per statement (issue 15).
const (
	staleFactor = 4
	staleSlack  = 1000
	// trustedEstimate: an estimate this large already plans for a big queue; the
	// queue is then not counted (counting millions would cost more than it saves).
	trustedEstimate = 250_000
)

// StatsCheck is what RefreshRequestStats found and did.
type StatsCheck struct {
	Estimated int64         // PENDING requests the planner believed in
	Counted   int64         // PENDING requests counted (up to the stale bound)
	Analysed  bool          // ANALYZE ran
	Took      time.Duration // the whole check, ANALYZE included
}

// RefreshRequestStats analyses provisioning_requests when its statistics hide most
// of the PENDING requests: after a bulk import into a table of settled history,
// autovacuum (when it is on at all) analyses only once a tenth of the table has
// changed, and until then the planner plans the claim for an empty queue. The check
// is an EXPLAIN and a count of at most 4 x the estimate + 1,000 index entries; the
// ANALYZE samples about 30,000 rows whatever the table's size. Runs on several hosts
// take turns (an advisory lock), and the second finds the statistics fresh.
func RefreshRequestStats(ctx context.Context, db *DB) (StatsCheck, error) {
	start := time.Now()
	var c StatsCheck
	stale, err := c.measure(ctx, db)
	if err != nil || !stale {
		c.Took = time.Since(start)
		return c, err
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return c, fmt.Errorf("analyze requests: %w", err)
	}
	defer tx.Rollback()
	if err := c.analyse(ctx, tx); err != nil {
		return c, err
	}
	if err := tx.Commit(); err != nil {
		return c, fmt.Errorf("analyze requests: %w", err)
	}
	c.Took = time.Since(start)
	return c, nil
}

// RefreshRequestStatsTx is RefreshRequestStats inside tx, for the transaction that
// has just written many requests: ANALYZE samples the rows its own transaction
// inserted, so the statistics commit with the rows and no statement ever sees the
// rows without them (the importer's immediate send starts at the commit). It works
// in a savepoint, so that a failure leaves tx usable; the advisory lock is held
// until tx ends.
func RefreshRequestStatsTx(ctx context.Context, tx *sqlx.Tx) (StatsCheck, error) {
	start := time.Now()
	var c StatsCheck
	if _, err := tx.ExecContext(ctx, provsql.Savepoint); err != nil {
		return c, fmt.Errorf("analyze requests: %w", err)
	}
	stale, err := c.measure(ctx, tx)
	if err == nil && stale {
		err = c.analyse(ctx, tx)
	}
	c.Took = time.Since(start)
	end := provsql.SavepointRelease
	if err != nil {
		end = provsql.SavepointRollback
	}
	if _, serr := tx.ExecContext(context.WithoutCancel(ctx), end); serr != nil && err == nil {
		err = fmt.Errorf("analyze requests: %w", serr)
	}
	return c, err
}

// queryer is a database or a transaction.
type queryer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// analyse takes the refresh's lock, then analyses unless another host has done it
// meanwhile (the estimate is read again).
func (c *StatsCheck) analyse(ctx context.Context, q queryer) error {
	if _, err := q.ExecContext(ctx, provsql.StatsLock); err != nil {
		return fmt.Errorf("analyze requests: wait for another refresh: %w", err)
	}
	if err := q.QueryRowxContext(ctx, provsql.PendingEstimate).Scan(jsonRows{&c.Estimated}); err != nil {
		return fmt.Errorf("analyze requests: estimate pending: %w", err)
	}
	if c.Counted > staleFactor*c.Estimated+staleSlack {
		if _, err := q.ExecContext(ctx, provsql.AnalyzeRequests); err != nil {
			return fmt.Errorf("analyze requests: %w", err)
		}
		c.Analysed = true
	}
	return nil
}

// measure fills Estimated and Counted and says whether the statistics are stale.
func (c *StatsCheck) measure(ctx context.Context, db queryer) (bool, error) {
	if err := db.QueryRowxContext(ctx, provsql.PendingEstimate).Scan(jsonRows{&c.Estimated}); err != nil {
		return false, fmt.Errorf("estimate pending requests: %w", err)
	}
	if c.Estimated >= trustedEstimate {
		return false, nil
	}
	bound := staleFactor*c.Estimated + staleSlack
	if err := db.QueryRowxContext(ctx, provsql.PendingCount, bound+1).Scan(&c.Counted); err != nil {
		return false, fmt.Errorf("count pending requests: %w", err)
	}
	return c.Counted > bound, nil
}

// Log reports the check on log: the ANALYZE it ran (info: "planner statistics were
// stale"), or err, what stopped it (warn). Nothing when the statistics were fresh.
func (c StatsCheck) Log(log logrus.FieldLogger, err error) {
	switch {
	case err != nil:
		log.WithError(err).Warn("planner statistics not checked; going on with them as they are")
	case c.Analysed:
		log.WithFields(logrus.Fields{"estimated_pending": c.Estimated, "pending_at_least": c.Counted,
			"duration": c.Took.Round(time.Millisecond).String()}).Info("planner statistics were stale: provisioning_requests analysed")
	}
}

// jsonRows scans the "Plan Rows" of EXPLAIN (FORMAT JSON)'s top node.
type jsonRows struct{ rows *int64 }

func (j jsonRows) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("explain: unexpected %T", src)
	}
	var plans []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal(b, &plans); err != nil || len(plans) != 1 {
		return fmt.Errorf("explain: unexpected output %.200q", b)
	}
	*j.rows = int64(plans[0].Plan.Rows)
	return nil
}
