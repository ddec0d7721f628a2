package reconcile

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/provisioning"
)

// ChunkSize is how many cards are read, queried and compared together: the most
// one gateway query takes (casapi.MaxQuery).
const ChunkSize = 500

// DefaultMaxCorrections is the share of the cards checked that a run may correct
// without --force.
const DefaultMaxCorrections = 0.05

// Scope says which cards a run reconciles. The zero value is no scope; Check names it.
type Scope struct {
	All          bool
	Subscription string   // a subscription's number: its smartcards
	Smartcards   []string // serial numbers (--smartcard, and the lines of File)
	File         string   // where Smartcards came from, for the record; "" for flags
}

// Check says what is wrong with the scope: none, or more than one kind.
func (s Scope) Check() error {
	n := 0
	for _, set := range []bool{s.All, s.Subscription != "", len(s.Smartcards) > 0 || s.File != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return fmt.Errorf("no scope: give --all, --subscription N, --smartcard S or --file FILE")
	case n > 1:
		return fmt.Errorf("give one scope: --all, --subscription, or --smartcard/--file")
	}
	return nil
}

// String is the scope as the run record and the logs name it.
func (s Scope) String() string {
	switch {
	case s.All:
		return "all"
	case s.Subscription != "":
		return "subscription " + s.Subscription
	case s.File != "":
		return fmt.Sprintf("file %s (%d cards)", s.File, len(s.Smartcards))
	}
	list := strings.Join(s.Smartcards, ",")
	if len(list) > 200 {
		list = list[:200] + "…"
	}
	return "smartcards " + list
}

// Options tune a run. Zero values take the defaults.
type Options struct {
	Scope    Scope
	DryRun   bool                  // the report and the counts; nothing created
	Priority provisioning.Priority // of the corrections; REGULAR when empty
	// MaxCorrections is the largest share (0 to 1) of the cards checked that the
	// corrections may touch; above it nothing is created (Summary.Capped) unless Force.
	// Negative: the default, DefaultMaxCorrections.
	MaxCorrections float64
	Force          bool
	// ReportsDir is where the drift report goes (created 0700; files 0600).
	ReportsDir string
	// Concurrency is how many chunks are asked of the gateway at once (default 4);
	// GetConcurrency bounds the GETs in flight on a gateway without the query (16).
	Concurrency, GetConcurrency int
	// MaxAttempts bounds the sends of one query (429, 503, no answer) before the
	// run fails (default 10); BackoffBase is the first wait without a Retry-After
	// (default 1s), doubled each time up to 30s.
	MaxAttempts int
	BackoffBase time.Duration
	// ChunkSize is how many cards go in one query (1 to ChunkSize, the default):
	// tests make it small to have many chunks of a few cards.
	ChunkSize int
	// Observer, when set, hears of the run's end (metrics).
	Observer Observer
}

// Observer is told what each run found.
type Observer interface {
	ReconcileDone(s Summary)
}

func (o Options) withDefaults() Options {
	if o.Priority == "" {
		o.Priority = provisioning.Regular
	}
	if o.MaxCorrections < 0 {
		o.MaxCorrections = DefaultMaxCorrections
	}
	if o.ReportsDir == "" {
		o.ReportsDir = "reports"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.GetConcurrency <= 0 {
		o.GetConcurrency = 16
	}
	if o.ChunkSize <= 0 || o.ChunkSize > ChunkSize {
		o.ChunkSize = ChunkSize
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	return o
}

// State is how a run ended, as reconcile_runs records it.
type State string

// The states of reconcile_runs.
const (
	Running     State = "RUNNING"
	Succeeded   State = "SUCCEEDED"
	Capped      State = "CAPPED"
	Failed      State = "FAILED"
	Interrupted State = "INTERRUPTED"
)

// Kinds of drift, and the report's other kinds.
const (
	KindMissingProducts = "MISSING_PRODUCTS"   // expected, not on the card: ADD_PRODUCTS
	KindExtraProducts   = "EXTRA_PRODUCTS"     // on the card, not expected: CANCEL_PRODUCTS
	KindWrongPairing    = "WRONG_PAIRING"      // paired with another STB: PAIR
	KindMissingPairing  = "MISSING_PAIRING"    // paired with none: PAIR
	KindExtraPairing    = "UNEXPECTED_PAIRING" // paired, the CRM expects none: UNPAIR
	KindBusy            = "BUSY"               // a PENDING request: not compared
	KindUnknown         = "UNKNOWN"            // the gateway does not know the card
	KindDisabled        = "DISABLED"           // DISABLED on the CAS: reported, not corrected
)

// Counts are what a run found, by card (Corrections: by request).
type Counts struct {
	Checked         int // cards compared with the gateway (busy ones are not)
	InSync          int
	Drifted         int // cards with any drift
	MissingProducts int
	ExtraProducts   int
	WrongPairing    int
	MissingPairing  int
	ExtraPairing    int
	Busy            int
	Unknown         int
	Disabled        int
	Uncorrectable   int // drifts the instruction rules refused to correct
	Corrections     int // requests created (or, dry run or capped, that would be)
	CorrectedCards  int // cards the corrections touch: the cap's figure
}

// Summary is what a run did.
type Summary struct {
	RunID    int64
	Scope    string
	DryRun   bool
	State    State
	Counts   Counts
	Report   string // the drift report's path
	Fallback bool   // the gateway had no query: cards were asked one by one
	// Capped: the corrections would touch more than MaxCorrections of the cards
	// checked, and nothing was created.
	Capped   bool
	Max      float64
	Duration time.Duration
}

// CapMessage names the figure of a capped run.
func (s Summary) CapMessage() string {
	return fmt.Sprintf("corrections would touch %d of the %d cards checked (%.2f%%), more than --max-corrections %.2f%%: nothing created; check the entitlements, then run again with --force",
		s.Counts.CorrectedCards, s.Counts.Checked, 100*float64(s.Counts.CorrectedCards)/float64(max(1, s.Counts.Checked)), 100*s.Max)
}

// Line is the summary in one line for the operator.
func (s Summary) Line() string {
	c := s.Counts
	verb := "created"
	if s.DryRun || s.Capped {
		verb = "would create"
	}
	return fmt.Sprintf("reconciliation %d (%s): checked %d, in sync %d, drifted %d (missing products %d, extra products %d, wrong pairing %d, missing pairing %d, unexpected pairing %d), busy %d, unknown %d, disabled %d, uncorrectable %d; %s %d corrections; report %s; in %s",
		s.RunID, s.Scope, c.Checked, c.InSync, c.Drifted, c.MissingProducts, c.ExtraProducts, c.WrongPairing, c.MissingPairing,
		c.ExtraPairing, c.Busy, c.Unknown, c.Disabled, c.Uncorrectable, verb, c.Corrections, s.Report, s.Duration.Round(time.Millisecond))
}

// ParseMaxCorrections reads --max-corrections and jobs.reconcile.max_corrections: a
// percentage of the cards checked, "5%" or "5" (0 to 100), as a share (0.05).
func ParseMaxCorrections(s string) (float64, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v >= 0 && v <= 100) {
		return 0, fmt.Errorf("max corrections %q: must be a percentage from 0 to 100, e.g. 5%%", s)
	}
	return v / 100, nil
}

// ParsePriority reads the corrections' priority: REGULAR or EXPRESS, any case.
func ParsePriority(s string) (provisioning.Priority, error) {
	switch p := provisioning.Priority(strings.ToUpper(strings.TrimSpace(s))); p {
	case provisioning.Regular, provisioning.Express:
		return p, nil
	}
	return "", fmt.Errorf("priority %q: must be REGULAR or EXPRESS", s)
}
