package simulator

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"

	"github.com/provisioner/provisioner/casapi"
)

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
	// Queries counts POST /v1/smartcards/query that passed authentication;
	// CardsQueried the CA ids of those that were answered.
	Queries      int `json:"queries"`
	CardsQueried int `json:"cards_queried"`
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
	s.known.Entitled = slices.Clone(known.Entitled)
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
	for _, e := range s.known.Entitled {
		c := s.cards[e.Smartcard]
		for _, p := range e.Products {
			c.products[p] = true
		}
		if e.STB != "" {
			c.stb, s.stbs[e.STB] = e.STB, e.Smartcard
		}
	}
	s.driftFractionLocked(seed)
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
	return stateLocked(smartcard, c), true
}
