package jobs

import (
	"context"
	"fmt"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/reconcile"
)

// Reconcile is the reconcile job: one reconciliation run of every card with
// entitlements, as `provisioner reconcile --all` with the [jobs.reconcile] settings,
// then a processing run when jobs.reconcile.process says so. A capped run (over
// max_corrections) creates nothing and is REJECTED.
func Reconcile(ctx context.Context, env Env) (Result, error) {
	c := env.Config.Reconcile
	gw := GatewayConfig(env.Config)
	if err := gw.Check(); err != nil {
		return Result{}, configErrorf("gateway: %w", err)
	}
	client, err := dispatcher.NewClient(gw)
	if err != nil {
		return Result{}, configErrorf("gateway: %w", err)
	}
	prio, err := reconcile.ParsePriority(c.Priority)
	if err != nil {
		return Result{}, &ConfigError{err}
	}
	opts := reconcile.Options{Scope: reconcile.Scope{All: true}, Priority: prio, MaxCorrections: c.MaxCorrections,
		Force: c.Force, ReportsDir: c.Reports}
	// The metrics hear of the run when the gateway's observer is the metrics' (scheduler).
	if o, ok := env.Gateway.(reconcile.Observer); ok {
		opts.Observer = o
	}
	sum, err := reconcile.Run(ctx, env.DB, client, env.Log, opts)
	res := ReconcileResult(sum)
	if err != nil || !c.Process || sum.Capped || sum.Counts.Corrections == 0 {
		return res, err
	}
	pres, err := Process(ctx, env)
	for k, v := range pres.Counts {
		res.Counts["process_"+k] = v
	}
	res.Rejected += pres.Rejected
	res.Summary += "; then " + pres.Summary
	return res, err
}

// ReconcileResult is a reconciliation run's summary as a job's result: REJECTED when
// capped or when drift could not be corrected.
func ReconcileResult(sum reconcile.Summary) Result {
	c := sum.Counts
	res := Result{
		Counts: map[string]int{
			"reconciliation": int(sum.RunID), "checked": c.Checked, "in_sync": c.InSync, "drifted": c.Drifted,
			"missing_products": c.MissingProducts, "extra_products": c.ExtraProducts, "wrong_pairing": c.WrongPairing,
			"missing_pairing": c.MissingPairing, "unexpected_pairing": c.ExtraPairing, "busy": c.Busy,
			"unknown": c.Unknown, "disabled": c.Disabled, "uncorrectable": c.Uncorrectable, "corrections": c.Corrections,
		},
		Rejected: c.Uncorrectable,
		Summary:  sum.Line(),
	}
	if sum.Capped {
		res.Counts["capped"] = 1
		res.Rejected++
		res.Summary += "; " + sum.CapMessage()
	}
	if sum.RunID == 0 {
		res.Summary = fmt.Sprintf("reconciliation (%s) did not start", sum.Scope)
	}
	return res
}
