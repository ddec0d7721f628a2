package simulator

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
)

// maxBody bounds a batch body. 500 commands of 64 products with ids of a few
// dozen characters stay far below it.
const maxBody = 8 << 20

// Known holds the CA ids the gateway knows: every smartcard, STB and product
// that the operator registered.
type Known struct {
	Smartcards, STBs, Products []string
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
		{"busy", f.Busy}, {"disabled fraction", f.DisabledFraction},
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
	for _, sc := range f.DisabledSmartcards {
		if !slices.Contains(known.Smartcards, sc) {
			return fmt.Errorf("disabled smartcards: %q is not a known smartcard", sc)
		}
	}
	return nil
}

// Simulator is the gateway. Its zero value is not usable; call New.
type Simulator struct {
	cfg     Config
	known   Known
	handler http.Handler

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: every wait ends

	mu       sync.Mutex
	rng      *rand.Rand
	cards    map[string]*card
	stbs     map[string]string // STB -> paired card; "" when free
	products map[string]bool
	done     map[string]stored // command_id -> first processed payload and result
	refs     int64
	// log is the applied log in chunks, so that appending never copies
	// what is logged already: one slice copied it all at every doubling,
	// a fifth of a batch's handling once a run had logged 100000 entries.
	log     [][]AppliedEntry
	logLen  int
	stats   Stats
	limiter bucket
}

type card struct {
	disabled bool
	products map[string]bool
	stb      string
	pin      string
}

type stored struct {
	cmd casapi.Command
	res casapi.Result
}

// AppliedEntry is one applied (COMPLETED, not replayed) command, in the
// order applied.
type AppliedEntry struct {
	Seq       int    `json:"seq"`
	CommandID string `json:"command_id"`
	Type      string `json:"type"`
	Smartcard string `json:"smartcard"`
	Reference string `json:"reference"`
}

// Stats counts what the simulator saw and did.
type Stats struct {
	// Batches is the number of POST /v1/batches that passed authentication.
	Batches int `json:"batches"`
	// CommandsReceived counts the commands of well-formed batches that
	// reached processing (not refused with 400, 413, 429 or 503).
	CommandsReceived int `json:"commands_received"`
	// Applied: COMPLETED afresh. Replayed: answered from the store.
	// Rejected: REJECTED afresh, E_COMMAND_ID_REUSED included.
	// Retried: RETRY with E_BUSY.
	Applied  int `json:"applied"`
	Replayed int `json:"replayed"`
	Rejected int `json:"rejected"`
	Retried  int `json:"retried"`
	// Abandoned counts batches whose client went away (or Close was
	// called) during the latency; they were not applied.
	Abandoned int `json:"abandoned"`
	// Faults counts how many times each fault fired.
	Faults FaultStats `json:"faults"`
	// HTTPStatus counts the answers written under /v1/ by status code. A
	// dropped connection writes none, nor does an abandoned batch or a stall
	// whose client left.
	HTTPStatus map[int]int `json:"http_status"`
}

// FaultStats counts how many times each fault fired.
type FaultStats struct {
	Latency         int `json:"latency"` // batches delayed
	RateLimited     int `json:"rate_limited"`
	Unavailable     int `json:"unavailable"`
	PartialFailure  int `json:"partial_failure"`
	DropAfterApply  int `json:"drop_after_apply"`
	StallAfterApply int `json:"stall_after_apply"`
	Busy            int `json:"busy"` // commands
}

// New returns a simulator that knows the ids in known, every card ACTIVE
// (but the disabled ones), unpaired, with no product and PIN 0000. It panics
// if cfg fails Check, as a misconfigured gateway would make every test that
// uses it meaningless.
func New(cfg Config, known Known) *Simulator {
	if err := cfg.Check(known); err != nil {
		panic("simulator: " + err.Error())
	}
	s := &Simulator{
		cfg: cfg,
		known: Known{
			Smartcards: slices.Clone(known.Smartcards),
			STBs:       slices.Clone(known.STBs),
			Products:   slices.Clone(known.Products),
		},
	}
	s.cfg.Faults.DisabledSmartcards = slices.Clone(cfg.Faults.DisabledSmartcards)
	s.closed = make(chan struct{})
	s.handler = s.routes()
	s.Reset()
	return s
}

// Close ends every wait in progress (latency, stall) and every later one at
// once, the way a client going away does: the connection is broken without
// an answer. Call it before shutting the server down, so that a stalled batch
// does not hold the shutdown for the whole Stall. The handler stays usable.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Reset puts the simulator back in the state New built: cards, store,
// references, applied log, counters, random generator and rate limiter.
func (s *Simulator) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	seed := uint64(s.cfg.Seed)
	s.rng = rand.New(rand.NewPCG(seed, 0x5eed_fa17))
	s.cards = make(map[string]*card, len(s.known.Smartcards))
	for _, id := range s.known.Smartcards {
		s.cards[id] = &card{products: map[string]bool{}, pin: casapi.DefaultPIN}
	}
	s.stbs = make(map[string]string, len(s.known.STBs))
	for _, id := range s.known.STBs {
		s.stbs[id] = ""
	}
	s.products = make(map[string]bool, len(s.known.Products))
	for _, id := range s.known.Products {
		s.products[id] = true
	}
	for _, id := range s.cfg.Faults.DisabledSmartcards {
		s.cards[id].disabled = true
	}
	if f := s.cfg.Faults.DisabledFraction; f > 0 {
		// Sorted, then shuffled by a generator of its own: the same seed
		// disables the same cards whatever order the ids came in.
		ids := make([]string, 0, len(s.cards))
		for id := range s.cards {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		r := rand.New(rand.NewPCG(seed, 0xd15a_b1ed))
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		for _, id := range ids[:int(math.Round(f*float64(len(ids))))] {
			s.cards[id].disabled = true
		}
	}
	s.done = map[string]stored{}
	s.refs = 0
	s.log, s.logLen = nil, 0
	s.stats = Stats{HTTPStatus: map[int]int{}}
	burst := s.cfg.Faults.RateBurst
	if burst == 0 {
		burst = 1
	}
	s.limiter = bucket{rate: s.cfg.Faults.RateLimit, burst: float64(burst)}
}

// Stats returns a copy of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.HTTPStatus = make(map[int]int, len(s.stats.HTTPStatus))
	for k, v := range s.stats.HTTPStatus {
		st.HTTPStatus[k] = v
	}
	return st
}

// AppliedLog returns a copy of the applied commands in the order applied.
func (s *Simulator) AppliedLog() []AppliedEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logLen == 0 {
		return nil
	}
	log := make([]AppliedEntry, 0, s.logLen)
	for _, chunk := range s.log {
		log = append(log, chunk...)
	}
	return log
}

// State returns the gateway's state of one card, as GET
// /v1/smartcards/{smartcard} shows it, and whether the card is known.
func (s *Simulator) State(smartcard string) (casapi.SmartcardState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cards[smartcard]
	if !ok {
		return casapi.SmartcardState{}, false
	}
	st := casapi.SmartcardState{
		Smartcard:    smartcard,
		Status:       casapi.SmartcardActive,
		Products:     make([]string, 0, len(c.products)),
		STB:          c.stb,
		PINIsDefault: c.pin == casapi.DefaultPIN,
	}
	if c.disabled {
		st.Status = casapi.SmartcardDisabled
	}
	for p := range c.products {
		st.Products = append(st.Products, p)
	}
	sort.Strings(st.Products)
	return st, true
}

// ServeHTTP serves the vendor's /v1/ interface and the simulator's /sim/ one.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

func (s *Simulator) routes() http.Handler {
	v1 := http.NewServeMux()
	v1.HandleFunc("POST "+casapi.PathBatches, s.handleBatch)
	v1.HandleFunc("GET "+casapi.PathSmartcards+"{smartcard}", s.handleSmartcard)
	v1.HandleFunc("GET "+casapi.PathHealth, s.handleHealth)

	root := http.NewServeMux()
	root.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	root.HandleFunc("GET /sim/log", func(w http.ResponseWriter, r *http.Request) {
		log := s.AppliedLog()
		if log == nil {
			log = []AppliedEntry{}
		}
		writeJSON(w, http.StatusOK, log)
	})
	root.HandleFunc("POST /sim/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	root.Handle("/", s.counted(s.authenticated(v1)))
	return root
}

// counted records the status of every answer written under /v1/.
func (s *Simulator) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status != 0 {
			s.mu.Lock()
			s.stats.HTTPStatus[rec.status]++
			s.mu.Unlock()
		}
	})
}

// authenticated answers 401 for a missing or wrong token and 403 for an
// unknown destination, before anything else is looked at.
func (s *Simulator) authenticated(next http.Handler) http.Handler {
	want := []byte(casapi.BearerPrefix + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get(casapi.HeaderAuthorization))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			drain(w, r)
			writeText(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		if r.Header.Get(casapi.HeaderDestinationID) != s.cfg.DestinationID {
			drain(w, r)
			writeText(w, http.StatusForbidden, "unknown destination")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Simulator) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, casapi.Health{Status: casapi.HealthOK})
}

func (s *Simulator) handleSmartcard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("smartcard")
	st, ok := s.State(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, casapi.ErrorBody{
			ErrorCode:        casapi.ErrCodeUnknownSmartcard,
			ErrorDescription: fmt.Sprintf("smartcard %s is not known", id),
		})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// outcome is the fault chosen for one batch after it was found well formed.
type outcome int

const (
	outcomeAnswer outcome = iota
	outcomePartial
	outcomeDrop
	outcomeStall
)

func (s *Simulator) handleBatch(w http.ResponseWriter, r *http.Request) {
	f := &s.cfg.Faults
	s.mu.Lock()
	s.stats.Batches++
	if ok, wait := s.limiter.take(time.Now()); !ok {
		s.stats.Faults.RateLimited++
		s.mu.Unlock()
		if f.RetryAfter > 0 {
			wait = f.RetryAfter
		}
		drain(w, r)
		w.Header().Set(casapi.HeaderRetryAfter, retryAfter(wait))
		writeText(w, http.StatusTooManyRequests, "rate limited")
		return
	}
	if f.Unavailable > 0 && s.rng.Float64() < f.Unavailable {
		s.stats.Faults.Unavailable++
		s.mu.Unlock()
		drain(w, r)
		w.Header().Set(casapi.HeaderRetryAfter, retryAfter(max(f.RetryAfter, time.Second)))
		writeText(w, http.StatusServiceUnavailable, "gateway unavailable")
		return
	}
	s.mu.Unlock()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeText(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
			return
		}
		// The client went away while sending: there is no one to answer.
		return
	}
	batch, err := decodeBatch(body)
	if errors.Is(err, casapi.ErrTooMany) {
		writeText(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, casapi.ErrorBody{ErrorCode: casapi.ErrCodeBadRequest, ErrorDescription: err.Error()})
		return
	}

	s.mu.Lock()
	delay := f.Latency
	if f.Jitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(f.Jitter)))
	}
	if delay > 0 {
		s.stats.Faults.Latency++
	}
	s.mu.Unlock()
	if !s.sleep(r, delay) {
		s.mu.Lock()
		s.stats.Abandoned++
		s.mu.Unlock()
		// Break the connection rather than let the server send an empty 200.
		panic(http.ErrAbortHandler)
	}

	s.mu.Lock()
	s.stats.CommandsReceived += len(batch.Commands)
	out := outcomeAnswer
	if f.PartialFailure > 0 || f.DropAfterApply > 0 || f.StallAfterApply > 0 {
		switch u := s.rng.Float64(); {
		case u < f.PartialFailure:
			out = outcomePartial
			s.stats.Faults.PartialFailure++
		case u < f.PartialFailure+f.DropAfterApply:
			out = outcomeDrop
			s.stats.Faults.DropAfterApply++
		case u < f.PartialFailure+f.DropAfterApply+f.StallAfterApply:
			out = outcomeStall
			s.stats.Faults.StallAfterApply++
		}
	}
	n := len(batch.Commands)
	if out == outcomePartial {
		n = s.rng.IntN(n)
	}
	res := casapi.BatchResult{BatchID: batch.BatchID, Results: make([]casapi.Result, n)}
	for i, c := range batch.Commands[:n] {
		res.Results[i] = s.processLocked(c)
	}
	s.mu.Unlock()

	switch out {
	case outcomePartial:
		writeText(w, http.StatusInternalServerError, "internal error while applying the batch")
	case outcomeDrop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Not hijackable (HTTP/2): a panic with ErrAbortHandler is the
			// server's own way to break the stream without an answer.
			panic(http.ErrAbortHandler)
		}
		conn.Close()
	case outcomeStall:
		if !s.sleep(r, f.Stall) {
			panic(http.ErrAbortHandler)
		}
		writeBatchResult(w, res)
	default:
		writeBatchResult(w, res)
	}
}

// processLocked answers one command: from the store when its command_id was
// processed before, otherwise afresh. s.mu must be held.
func (s *Simulator) processLocked(c casapi.Command) casapi.Result {
	if prev, ok := s.done[c.CommandID]; ok {
		if prev.cmd.SamePayload(c) {
			s.stats.Replayed++
			r := prev.res
			r.Replayed = true
			return r
		}
		s.stats.Rejected++
		return casapi.Result{
			CommandID:        c.CommandID,
			Status:           casapi.StatusRejected,
			Reference:        s.nextRefLocked(),
			ErrorCode:        casapi.ErrCodeCommandIDReused,
			ErrorDescription: fmt.Sprintf("command_id %s was used for another request", c.CommandID),
		}
	}
	if f := s.cfg.Faults.Busy; f > 0 && s.rng.Float64() < f {
		s.stats.Retried++
		s.stats.Faults.Busy++
		return casapi.Result{
			CommandID:        c.CommandID,
			Status:           casapi.StatusRetry,
			ErrorCode:        casapi.ErrCodeBusy,
			ErrorDescription: "smartcard is busy, send again later",
		}
	}
	res := casapi.Result{CommandID: c.CommandID, Reference: s.nextRefLocked()}
	if code, desc := s.applyLocked(c); code != "" {
		s.stats.Rejected++
		res.Status, res.ErrorCode, res.ErrorDescription = casapi.StatusRejected, code, desc
	} else {
		s.stats.Applied++
		res.Status = casapi.StatusCompleted
		s.appendLogLocked(AppliedEntry{
			Seq: s.logLen + 1, CommandID: c.CommandID, Type: c.Type,
			Smartcard: c.Smartcard, Reference: res.Reference,
		})
	}
	c.Products = slices.Clone(c.Products)
	s.done[c.CommandID] = stored{cmd: c, res: res}
	return res
}

// appendLogLocked adds e to the applied log. s.mu must be held.
func (s *Simulator) appendLogLocked(e AppliedEntry) {
	if n := len(s.log); n == 0 || len(s.log[n-1]) == cap(s.log[n-1]) {
		// Chunks double from 256 entries up to 8192, so that a simulator
		// of a small test does not allocate for a run.
		s.log = append(s.log, make([]AppliedEntry, 0, min(max(s.logLen, 256), 8192)))
	}
	last := &s.log[len(s.log)-1]
	*last = append(*last, e)
	s.logLen++
}

// nextRefLocked returns a fresh reference, "GW-%08d" of the counter (written
// without fmt, which cost more than the string for one per command).
func (s *Simulator) nextRefLocked() string {
	s.refs++
	var num, out [24]byte
	digits := strconv.AppendInt(num[:0], s.refs, 10)
	b := append(out[:0], "GW-"...)
	for range 8 - len(digits) {
		b = append(b, '0')
	}
	b = append(b, digits...)
	return string(b)
}

// applyLocked applies c whole, or returns the error code and description
// of why it changed nothing. s.mu must be held.
func (s *Simulator) applyLocked(c casapi.Command) (code, desc string) {
	sc, ok := s.cards[c.Smartcard]
	if !ok {
		return casapi.ErrCodeUnknownSmartcard, fmt.Sprintf("smartcard %s is not known", c.Smartcard)
	}
	unknownProduct := func() (string, string) {
		for _, p := range c.Products {
			if !s.products[p] {
				return casapi.ErrCodeUnknownProduct, fmt.Sprintf("product %s is not known", p)
			}
		}
		return "", ""
	}
	switch c.Type {
	case casapi.TypeAddProducts:
		if sc.disabled {
			return casapi.ErrCodeSmartcardDisabled, fmt.Sprintf("smartcard %s is disabled", c.Smartcard)
		}
		if code, desc := unknownProduct(); code != "" {
			return code, desc
		}
		for _, p := range c.Products {
			sc.products[p] = true
		}
	case casapi.TypeCancelProducts:
		if code, desc := unknownProduct(); code != "" {
			return code, desc
		}
		for _, p := range c.Products {
			if !sc.products[p] {
				return casapi.ErrCodeNotEntitled, fmt.Sprintf("smartcard %s is not entitled to %s", c.Smartcard, p)
			}
		}
		for _, p := range c.Products {
			delete(sc.products, p)
		}
	case casapi.TypePair:
		owner, known := s.stbs[c.STB]
		if !known {
			return casapi.ErrCodeUnknownSTB, fmt.Sprintf("STB %s is not known", c.STB)
		}
		if owner != "" && owner != c.Smartcard {
			return casapi.ErrCodeSTBPairedElsewhere, fmt.Sprintf("%s is paired with %s", c.STB, owner)
		}
		if sc.stb != "" {
			s.stbs[sc.stb] = ""
		}
		sc.stb = c.STB
		s.stbs[c.STB] = c.Smartcard
	case casapi.TypeUnpair:
		if sc.stb == "" {
			return casapi.ErrCodeNotPaired, fmt.Sprintf("smartcard %s is not paired", c.Smartcard)
		}
		s.stbs[sc.stb] = ""
		sc.stb = ""
	case casapi.TypeResetPIN:
		sc.pin = casapi.DefaultPIN
	case casapi.TypeSetPIN:
		if c.PIN == casapi.DefaultPIN {
			return casapi.ErrCodeInvalidPIN, fmt.Sprintf("PIN %s may not be set", casapi.DefaultPIN)
		}
		sc.pin = c.PIN
	case casapi.TypeResetSmartcard:
		// Sends the entitlements and the pairing to the card again: the
		// gateway's state does not change.
	default:
		// decodeBatch validated the type; reaching here is a simulator bug.
		panic("simulator: unvalidated command type " + c.Type)
	}
	return "", ""
}

// bucket is a token bucket: rate tokens a second, at most burst of them.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take spends one token if there is one; otherwise it says how long until
// there is. A zero rate never limits.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// retryAfter renders d as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(secs, 1), 10)
}

// sleep waits d, or until the client goes away or Close is called; it
// reports whether it waited the whole d.
func (s *Simulator) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

// drain reads what is left of the body before an early answer, so that the
// client is not cut off while still sending and reads the answer instead of
// a broken connection.
func drain(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic("simulator: marshal answer: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// statusRecorder remembers the status written; Unwrap lets
// http.ResponseController reach the Hijacker underneath.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// LogRequests logs every request at debug level: for the cas-simulator command.
func LogRequests(log logrus.FieldLogger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// Also when the simulator breaks the connection on purpose
			// (a panic with http.ErrAbortHandler, or a hijack): status none.
			status := "none"
			if rec.status != 0 {
				status = strconv.Itoa(rec.status)
			}
			log.WithFields(logrus.Fields{
				"method": r.Method, "path": r.URL.Path, "status": status,
				"duration": time.Since(start).Round(time.Microsecond).String(),
			}).Debug("request")
		}()
		next.ServeHTTP(rec, r)
	})
}
