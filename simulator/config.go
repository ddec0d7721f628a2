package simulator

import (
	"errors"

	"fmt"
	"github.com/provisioner/provisioner/reference"
	"math"
	"slices"
	"time"
)

// Known holds the CA ids the gateway knows: every smartcard, STB and product
// that the operator registered.
type Known struct {
	Smartcards, STBs, Products []string
	// Entitled are the cards' states at the start (and after Reset): a gateway in
	// sync with the CRM's entitlements. The others start with nothing.
	Entitled []reference.EntitledState
}

// Config is the simulator's configuration.
type Config struct {
	// Token is the bearer token the gateway issued; required.
	Token string
	// DestinationID is the one destination the gateway knows; required.
	DestinationID string
	// Seed feeds every random choice, so that runs repeat.
	Seed int64
	// Faults to inject; the zero value injects none.
	Faults Faults
	// NoQuery makes a gateway of version 1.0, without POST /v1/smartcards/query:
	// the query is answered 405, as an older gateway's router does.
	NoQuery bool
}

// Faults are the misbehaviours the simulator injects, each off at its zero
// value. Probabilities are in [0, 1].
type Faults struct {
	// Latency, plus a uniform random part of Jitter, is spent on every
	// well-formed batch before it is applied.
	Latency, Jitter time.Duration

	// RateLimit is the number of batches per second above which a batch gets
	// 429 with Retry-After; RateBurst is the bucket size (0 means 1).
	// RetryAfter is the Retry-After of 429 and 503 (0: see the package doc).
	RateLimit  float64
	RateBurst  int
	RetryAfter time.Duration

	// Unavailable is the probability of 503 with Retry-After, before anything
	// of the batch is read or applied.
	Unavailable float64

	// PartialFailure is the probability of applying a random prefix of the
	// batch (0 to len-1 commands) and answering 500.
	PartialFailure float64
	// DropAfterApply is the probability of applying the whole batch and then
	// closing the connection without an answer.
	DropAfterApply float64
	// StallAfterApply is the probability of applying the whole batch and then
	// waiting Stall (or until the client goes away) before answering.
	StallAfterApply float64
	Stall           time.Duration

	// Busy is the probability, per command processed afresh, of RETRY with
	// E_BUSY; the command is not applied.
	Busy float64

	// DisabledSmartcards are known cards that are DISABLED; DisabledFraction
	// disables that share of the known cards besides, chosen by the seed.
	DisabledSmartcards []string
	DisabledFraction   float64

	// DriftFraction is the share of the Entitled cards that drifted, chosen by the
	// seed: each lost its first product, or gained one it should not have, or lost
	// its pairing (in turn). For benchmarks of reconciliation.
	DriftFraction float64
}

// Check reports the first thing wrong with c for the ids in known. New panics
// on a Config that fails Check; call it first on values a user gave.
func (c Config) Check(known Known) error {
	if c.Token == "" {
		return errors.New("token: required")
	}
	if c.DestinationID == "" {
		return errors.New("destination id: required")
	}
	return c.Faults.check(known)
}

func (f Faults) check(known Known) error {
	probs := []struct {
		name string
		p    float64
	}{
		{"unavailable", f.Unavailable}, {"partial failure", f.PartialFailure},
		{"drop after apply", f.DropAfterApply}, {"stall after apply", f.StallAfterApply},
		{"busy", f.Busy}, {"disabled fraction", f.DisabledFraction}, {"drift fraction", f.DriftFraction},
	}
	for _, p := range probs {
		if !(p.p >= 0 && p.p <= 1) { // also refuses NaN
			return fmt.Errorf("%s: %v is not a probability in [0, 1]", p.name, p.p)
		}
	}
	if sum := f.PartialFailure + f.DropAfterApply + f.StallAfterApply; sum > 1 {
		return fmt.Errorf("partial failure + drop after apply + stall after apply: %v, must be at most 1", sum)
	}
	durs := []struct {
		name string
		d    time.Duration
	}{{"latency", f.Latency}, {"jitter", f.Jitter}, {"retry after", f.RetryAfter}, {"stall", f.Stall}}
	for _, d := range durs {
		if d.d < 0 {
			return fmt.Errorf("%s: %v is negative", d.name, d.d)
		}
	}
	if f.StallAfterApply > 0 && f.Stall <= 0 {
		return errors.New("stall: must be positive when stall after apply is set")
	}
	if !(f.RateLimit >= 0) || math.IsInf(f.RateLimit, 0) {
		return fmt.Errorf("rate limit: %v is not a finite rate of at least 0", f.RateLimit)
	}
	if f.RateBurst < 0 {
		return fmt.Errorf("rate burst: %d is negative", f.RateBurst)
	}
	if len(known.Entitled) > 0 {
		cards, stbs, products := set(known.Smartcards), set(known.STBs), set(known.Products)
		for _, e := range known.Entitled {
			if !cards[e.Smartcard] {
				return fmt.Errorf("entitled: %q is not a known smartcard", e.Smartcard)
			}
			if e.STB != "" && !stbs[e.STB] {
				return fmt.Errorf("entitled: %q is not a known STB", e.STB)
			}
			for _, p := range e.Products {
				if !products[p] {
					return fmt.Errorf("entitled: %q is not a known product", p)
				}
			}
		}
	}
	for _, sc := range f.DisabledSmartcards {
		if !slices.Contains(known.Smartcards, sc) {
			return fmt.Errorf("disabled smartcards: %q is not a known smartcard", sc)
		}
	}
	return nil
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
