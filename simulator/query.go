package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"

	"github.com/provisioner/provisioner/casapi"
)

// queryState is one card of a query's answer as the contract writes it: stb is
// null, not absent, for a card paired with no STB.
type queryState struct {
	Smartcard    string   `json:"smartcard"`
	Status       string   `json:"status"`
	Products     []string `json:"products"`
	STB          *string  `json:"stb"`
	PINIsDefault bool     `json:"pin_is_default"`
}

type queryAnswer struct {
	Smartcards []queryState `json:"smartcards"`
	Unknown    []string     `json:"unknown"`
}

// handleQuery answers POST /v1/smartcards/query: the rate limit and the unavailable
// fault as for a batch, 413 above casapi.MaxQuery ids, 400 for any other breach,
// else each known card's state in the order asked and the unknown ids. The states
// are read under one hold of the lock, between commands: never half of one.
func (s *Simulator) handleQuery(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Queries++
	s.mu.Unlock()
	if !s.admitCall(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeText(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
		}
		return
	}
	var q casapi.Query
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeJSON(w, http.StatusBadRequest, casapi.ErrorBody{ErrorCode: casapi.ErrCodeBadRequest, ErrorDescription: "body: " + err.Error()})
		return
	}
	if err := q.Validate(); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, casapi.ErrTooMany) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, casapi.ErrorBody{ErrorCode: casapi.ErrCodeBadRequest, ErrorDescription: err.Error()})
		return
	}
	ans := queryAnswer{Smartcards: make([]queryState, 0, len(q.Smartcards)), Unknown: []string{}}
	s.mu.Lock()
	s.stats.CardsQueried += len(q.Smartcards)
	for _, id := range q.Smartcards {
		c, ok := s.cards[id]
		if !ok {
			ans.Unknown = append(ans.Unknown, id)
			continue
		}
		st := stateLocked(id, c)
		qs := queryState{Smartcard: id, Status: st.Status, Products: st.Products, PINIsDefault: st.PINIsDefault}
		if st.STB != "" {
			stb := st.STB
			qs.STB = &stb
		}
		ans.Smartcards = append(ans.Smartcards, qs)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, ans)
}

// stateLocked is card c's state as the gateway shows it. s.mu must be held.
func stateLocked(id string, c *card) casapi.SmartcardState {
	st := casapi.SmartcardState{
		Smartcard:    id,
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
	return st
}

// Drift is a change made to a card behind the provisioner's back, as a field
// engineer or a restored backup would: tests make cards drift with it.
type Drift struct {
	// Add and Remove are product CA ids entitled or removed.
	Add, Remove []string `json:",omitempty"`
	// STB pairs the card with that STB (taken from any card it was paired with);
	// Unpair removes the card's pairing. At most one of the two.
	STB    string `json:"stb,omitempty"`
	Unpair bool   `json:"unpair,omitempty"`
	// Disable and Enable set the card's status.
	Disable, Enable bool `json:",omitempty"`
}

// MakeDrift applies d to the card, with no command, no log entry and no counter: the
// gateway's state just changes. The error names an unknown card, product or STB.
func (s *Simulator) MakeDrift(smartcard string, d Drift) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.driftLocked(smartcard, d)
}

func (s *Simulator) driftLocked(smartcard string, d Drift) error {
	c, ok := s.cards[smartcard]
	if !ok {
		return fmt.Errorf("unknown smartcard %s", smartcard)
	}
	for _, p := range slices.Concat(d.Add, d.Remove) {
		if !s.products[p] {
			return fmt.Errorf("unknown product %s", p)
		}
	}
	if d.STB != "" {
		if _, ok := s.stbs[d.STB]; !ok {
			return fmt.Errorf("unknown STB %s", d.STB)
		}
	}
	for _, p := range d.Add {
		c.products[p] = true
	}
	for _, p := range d.Remove {
		delete(c.products, p)
	}
	if d.Unpair || d.STB != "" {
		if c.stb != "" {
			s.stbs[c.stb] = ""
		}
		c.stb = ""
	}
	if d.STB != "" {
		if other := s.stbs[d.STB]; other != "" {
			s.cards[other].stb = ""
		}
		s.stbs[d.STB], c.stb = smartcard, d.STB
	}
	switch {
	case d.Disable:
		c.disabled = true
	case d.Enable:
		c.disabled = false
	}
	return nil
}

// handleDrift is POST /sim/drift/{smartcard} with a Drift as its body: the test hook
// of a simulator in a process of its own.
func (s *Simulator) handleDrift(w http.ResponseWriter, r *http.Request) {
	var d Drift
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&d); err != nil {
		writeText(w, http.StatusBadRequest, "drift: "+err.Error())
		return
	}
	if err := s.MakeDrift(r.PathValue("smartcard"), d); err != nil {
		writeText(w, http.StatusBadRequest, "drift: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// driftFractionLocked makes Faults.DriftFraction of the Entitled cards drift, chosen
// by a generator of its own so that the same seed picks the same cards. s.mu must be
// held (Reset).
func (s *Simulator) driftFractionLocked(seed uint64) {
	f := s.cfg.Faults.DriftFraction
	if f <= 0 || len(s.known.Entitled) == 0 {
		return
	}
	n := int(math.Round(f * float64(len(s.known.Entitled))))
	r := rand.New(rand.NewPCG(seed, 0xd21f_7ed))
	idx := r.Perm(len(s.known.Entitled))[:n]
	slices.Sort(idx)
	for k, i := range idx {
		e := s.known.Entitled[i]
		c := s.cards[e.Smartcard]
		switch {
		case k%3 == 0 && len(e.Products) > 0:
			delete(c.products, e.Products[0])
		case k%3 == 1 || e.STB == "":
			for _, p := range s.known.Products {
				if !c.products[p] {
					c.products[p] = true
					break
				}
			}
		default:
			s.stbs[c.stb], c.stb = "", ""
		}
	}
}
