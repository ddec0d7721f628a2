package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
)

// errRefused wraps the gateway's 401 or 403: the run stops, nothing created.
var errRefused = errors.New("gateway refused our credentials")

// gateway asks the CAS gateway for cards' states: one query per chunk, or, once the
// gateway answered a query 404 or 405 (interface 1.0), GET card by card with at most
// GetConcurrency in flight. 429 and 503 wait Retry-After, as the processing run
// does; no answer or another 5xx is asked again (a query changes nothing); 401 and
// 403 stop the run.
type gateway struct {
	client   *dispatcher.Client
	log      logrus.FieldLogger
	attempts int
	backoff  time.Duration
	fallback atomic.Bool
	gets     chan struct{} // the GETs' semaphore
	once     sync.Once
}

func newGateway(client *dispatcher.Client, log logrus.FieldLogger, o Options) *gateway {
	return &gateway{client: client, log: log, attempts: o.MaxAttempts, backoff: o.BackoffBase, gets: make(chan struct{}, o.GetConcurrency)}
}

// states returns the state of each card of ids that the gateway knows, by CA id,
// and the unknown ones.
func (g *gateway) states(ctx context.Context, ids []string) (map[string]casapi.SmartcardState, []string, error) {
	if !g.fallback.Load() {
		out, err := g.retry(ctx, "query", func() dispatcher.StateOutcome { return g.client.Query(ctx, ids) })
		if err != nil {
			return nil, nil, err
		}
		if out.Kind != dispatcher.NotSupported {
			return byCard(out.Result), out.Result.Unknown, nil
		}
		g.once.Do(func() {
			g.log.Warn("the gateway has no query (" + out.Detail + "): asking card by card")
		})
		g.fallback.Store(true)
	}
	return g.oneByOne(ctx, ids)
}

func (g *gateway) oneByOne(ctx context.Context, ids []string) (map[string]casapi.SmartcardState, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]casapi.QueryResult, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		select {
		case g.gets <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
		if errs[i] != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-g.gets }()
			out, err := g.retry(ctx, "GET "+id, func() dispatcher.StateOutcome { return g.client.Smartcard(ctx, id) })
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			results[i] = out.Result
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return nil, nil, err
	}
	states := make(map[string]casapi.SmartcardState, len(ids))
	var unknown []string
	for _, r := range results {
		for _, st := range r.Smartcards {
			states[st.Smartcard] = st
		}
		unknown = append(unknown, r.Unknown...)
	}
	return states, unknown, nil
}

// retry calls call until it is answered (or the query is not supported), waiting
// between throttled or unanswered calls; it gives up after g.attempts.
func (g *gateway) retry(ctx context.Context, what string, call func() dispatcher.StateOutcome) (dispatcher.StateOutcome, error) {
	wait := g.backoff
	for attempt := 1; ; attempt++ {
		out := call()
		switch out.Kind {
		case dispatcher.Answered, dispatcher.NotSupported:
			return out, nil
		case dispatcher.Refused:
			return out, fmt.Errorf("%w: %s", errRefused, out.Detail)
		case dispatcher.Malformed:
			return out, fmt.Errorf("gateway refused the %s as malformed: %s", what, out.Detail)
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if attempt >= g.attempts {
			return out, fmt.Errorf("gateway: %s not answered after %d attempts: %s", what, attempt, out.Detail)
		}
		pause := wait
		if out.Kind == dispatcher.Throttled && out.RetryAfter > 0 {
			pause = out.RetryAfter
		} else {
			wait = min(2*wait, 30*time.Second)
		}
		g.log.WithFields(logrus.Fields{"attempt": attempt, "wait": pause.String()}).Warn("gateway: " + what + ": " + out.Detail + "; asking again")
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

func byCard(r casapi.QueryResult) map[string]casapi.SmartcardState {
	m := make(map[string]casapi.SmartcardState, len(r.Smartcards))
	for _, st := range r.Smartcards {
		m[st.Smartcard] = st
	}
	return m
}

// firstError is the first error that is not the cancellation the others caused.
func firstError(errs []error) error {
	var cancelled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			cancelled = err
		default:
			return err
		}
	}
	return cancelled
}
