package metrics_test

import (
	"testing"

	"github.com/provisioner/provisioner/metrics"
	"github.com/provisioner/provisioner/reconcile"
)

// TestReconcileMetrics: cards by result, drift by kind, corrections created (none for
// a dry or capped run), and the last run's time by state.
func TestReconcileMetrics(t *testing.T) {
	m := metrics.New(nil, metrics.Options{})
	c := reconcile.Counts{Checked: 10, InSync: 7, Drifted: 3, Busy: 1, MissingProducts: 2, ExtraPairing: 1, Corrections: 3}
	m.ReconcileDone(reconcile.Summary{State: reconcile.Succeeded, Counts: c})
	m.ReconcileDone(reconcile.Summary{State: reconcile.Succeeded, DryRun: true, Counts: c})
	m.ReconcileDone(reconcile.Summary{State: reconcile.Capped, Counts: c})
	fams := scrape(t, m.Handler())
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"provisioner_reconcile_cards_total", map[string]string{"result": "checked"}, 30},
		{"provisioner_reconcile_cards_total", map[string]string{"result": "drifted"}, 9},
		{"provisioner_reconcile_cards_total", map[string]string{"result": "busy"}, 3},
		{"provisioner_reconcile_drift_total", map[string]string{"kind": "MISSING_PRODUCTS"}, 6},
		{"provisioner_reconcile_drift_total", map[string]string{"kind": "UNEXPECTED_PAIRING"}, 3},
		{"provisioner_reconcile_drift_total", map[string]string{"kind": "WRONG_PAIRING"}, 0},
		{"provisioner_reconcile_corrections_total", nil, 3},
	} {
		if got, ok := value(fams, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (%v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	for _, state := range []string{"SUCCEEDED", "CAPPED"} {
		if got, ok := value(fams, "provisioner_reconcile_last_run_timestamp_seconds", map[string]string{"state": state}); !ok || got <= 0 {
			t.Errorf("last run %s: %v %v", state, got, ok)
		}
	}
}
