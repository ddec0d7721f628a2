package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/csvin"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

// DateLayout is how the CRM writes dates: YYYY-MM-DDTHH:MM:SS, in UTC.
const DateLayout = "2006-01-02T15:04:05"

// Paging of list.
const (
	DefaultListSize = 100
	MaxListSize     = 1000
)

var errVanished = errors.New("the request just created is not found")

// View is a request with the CRM's field names and JSON types: the data of an
// answer. A CRM client parses it as the CRM's documentation gives it (the example
// in docs/web-api.md): id and number are strings, process_immediately is 0 or 1,
// and name, which the provisioner has no use for, is there as null.
type View struct {
	ID                 string      `json:"id"`
	Number             string      `json:"number"`
	Name               *string     `json:"name"`
	Type               string      `json:"type"`
	LifeCycleState     string      `json:"life_cycle_state"`
	Priority           string      `json:"priority"`
	SequenceNumber     int64       `json:"sequence_number"`
	ScheduledDate      string      `json:"scheduled_date"`
	ExecutedDate       *string     `json:"executed_date"`
	ProcessImmediately int         `json:"process_immediately"`
	Request            *string     `json:"request"`
	Response           *string     `json:"response"`
	ReferenceNumber    *string     `json:"reference_number"`
	ErrorCode          *string     `json:"error_code"`
	ErrorDescription   *string     `json:"error_description"`
	ProcessName        *string     `json:"process_name"`
	ProcessID          *int64      `json:"process_id"`
	ParametersSet      []Parameter `json:"parameters_set"`
	LogInformation     LogInfo     `json:"log_information"`
}

// Parameter is one item of parameters_set: the card, and the service or STB of a
// command (one item per service of ADD_PRODUCTS and CANCEL_PRODUCTS).
type Parameter struct {
	SmartcardCAID string  `json:"smartcard_ca_id"`
	ServiceCAID   *string `json:"service_ca_id"`
	STBCAID       *string `json:"stb_ca_id"`
}

// LogInfo is when the request was created and last changed, and by which token.
type LogInfo struct {
	CreatedDate   string `json:"created_date"`
	CreatedByUser *User  `json:"created_by_user"`
	UpdatedDate   string `json:"updated_date"`
	UpdatedByUser *User  `json:"updated_by_user"`
}

// User is the CRM's user of a call: here the name of the token
// (`provisioner tokens create NAME`). null for a request no token made (a file's).
type User struct {
	Username string `json:"username"`
}

func user(token string) *User {
	if token == "" {
		return nil
	}
	return &User{Username: token}
}

// view is a request as the CRM sees it: a text field NULL in the database is null,
// one that is ” is "".
func view(r ops.Request) View {
	n := r.Null
	v := View{
		ID: strconv.FormatInt(r.ID, 10), Number: strconv.FormatInt(r.Number, 10), Type: r.Type, LifeCycleState: r.State, Priority: r.Priority,
		SequenceNumber: r.SequenceNumber, ScheduledDate: date(r.ScheduledDate), ProcessImmediately: zeroOne(r.ProcessImmediately),
		Request: maskPIN(r.Request, n.Request), Response: str(r.Response, n.Response), ReferenceNumber: str(r.ReferenceNumber, n.ReferenceNumber),
		ErrorCode: str(r.ErrorCode, n.ErrorCode), ErrorDescription: str(r.ErrorDescription, n.ErrorDescription), ProcessName: str(r.ProcessName, n.ProcessName),
		ProcessID: r.ProcessID,
		LogInformation: LogInfo{
			CreatedDate: date(r.CreatedAt), CreatedByUser: user(r.CreatedByToken),
			UpdatedDate: date(r.UpdatedAt), UpdatedByUser: user(r.UpdatedByToken),
		},
	}
	if r.ExecutedDate != nil {
		d := date(*r.ExecutedDate)
		v.ExecutedDate = &d
	}
	for _, s := range r.Services {
		v.ParametersSet = append(v.ParametersSet, Parameter{SmartcardCAID: r.Smartcard, ServiceCAID: &s})
	}
	if len(v.ParametersSet) == 0 {
		p := Parameter{SmartcardCAID: r.Smartcard}
		if r.STB != "" {
			p.STBCAID = &r.STB
		}
		v.ParametersSet = []Parameter{p}
	}
	return v
}

// zeroOne is a flag as the CRM writes it.
func zeroOne(b bool) int {
	if b {
		return 1
	}
	return 0
}

func date(t time.Time) string { return t.UTC().Format(DateLayout) }

func str(s string, null bool) *string {
	if null {
		return nil
	}
	return &s
}

// maskPIN is the raw command as operators see it (ops.MaskCommandPIN), nil when NULL.
func maskPIN(s string, null bool) *string {
	if null {
		return str(s, null)
	}
	masked := ops.MaskCommandPIN(s)
	return &masked
}

// request reads one request by id or number (the other 0).
func (s *Server) request(ctx context.Context, id, number int64) (ops.Request, bool, error) {
	rows, err := ops.List(ctx, s.db, ops.Filter{ID: id, Number: number, Limit: 1, NoNames: true})
	if err != nil {
		return ops.Request{}, false, fmt.Errorf("read request: %w", err)
	}
	if len(rows) == 0 {
		return ops.Request{}, false, nil
	}
	return rows[0], true, nil
}

// query reads the query parameters of show and list: each at most once, none that
// the method does not take; the token is checked first.
func (s *Server) query(r *http.Request, c *call, names ...string) (url.Values, *failure) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &failure{status: http.StatusBadRequest, code: CodeMalformedRequest, desc: "query: " + err.Error()}
	}
	if f := s.authenticate(r.Context(), q.Get(pToken), c); f != nil {
		return nil, f
	}
	var ps []apiProblem
	for _, k := range sortedKeys(q) {
		switch {
		case k != pToken && !slices.Contains(names, k):
			param := k
			if param == "" {
				param = `""`
			}
			ps = append(ps, apiProblem{param, CodeUnknownField, "unknown parameter (expected " + strings.Join(names, ", ") + ")"})
		case len(q[k]) > 1:
			ps = append(ps, apiProblem{k, CodeInvalidParameter, "is given more than once"})
		case strings.ContainsRune(q.Get(k), 0):
			// PostgreSQL refuses a NUL in text: without this, a 500.
			ps = append(ps, apiProblem{k, csvin.CodeEncoding, "holds a NUL character (%00)"})
		}
	}
	if ps != nil {
		return nil, refused(ps)
	}
	return q, nil
}

// number reads a query parameter that is a whole number from min; def when absent.
func number(q url.Values, name string, def, min int64, ps *[]apiProblem) int64 {
	s := q.Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min {
		*ps = append(*ps, apiProblem{name, CodeInvalidParameter, fmt.Sprintf("%q is not a whole number from %d", s, min)})
	}
	return n
}

func (s *Server) show(w http.ResponseWriter, r *http.Request, c *call) *failure {
	q, f := s.query(r, c, "id", "number")
	if f != nil {
		return f
	}
	var ps []apiProblem
	id := number(q, "id", 0, 1, &ps)
	num := number(q, "number", 0, 1, &ps)
	switch {
	case ps != nil:
		return refused(ps)
	case id == 0 && num == 0:
		return refused([]apiProblem{{"id", provisioning.CodeMissingField, "give id or number"}})
	case id != 0 && num != 0:
		return refused([]apiProblem{{"number", provisioning.CodeFieldNotAllowed, "give id or number, not both"}})
	}
	v, found, err := s.request(r.Context(), id, num)
	switch {
	case err != nil:
		return &failure{err: err}
	case !found && id != 0:
		return &failure{status: http.StatusNotFound, code: CodeNotFound, desc: fmt.Sprintf("id: no provisioning request with id %d", id)}
	case !found:
		return &failure{status: http.StatusNotFound, code: CodeNotFound, desc: fmt.Sprintf("number: no provisioning request with number %d", num)}
	}
	c.number = v.Number
	ok(w, view(v))
	return nil
}

// List is the data of list's answer: one page of requests in number order, and how
// many the filters select in all.
type List struct {
	TotalResults    int64  `json:"total_results"`
	Offset          int64  `json:"offset"`
	NumberOfResults int64  `json:"number_of_results"`
	Requests        []View `json:"provisioning_requests"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, c *call) *failure {
	q, f := s.query(r, c, "type", "life_cycle_state", "reference_number", "number_of_results", "offset")
	if f != nil {
		return f
	}
	var ps []apiProblem
	typ, state, ref := q.Get("type"), q.Get("life_cycle_state"), q.Get("reference_number")
	if typ != "" && !slices.Contains(provisioning.Types, provisioning.Type(typ)) {
		ps = append(ps, apiProblem{"type", CodeInvalidParameter, fmt.Sprintf("%q is not a request type (%s)", typ, join(provisioning.Types))})
	}
	states := []provisioning.State{provisioning.Pending, provisioning.Completed, provisioning.Rejected}
	if state != "" && !slices.Contains(states, provisioning.State(state)) {
		ps = append(ps, apiProblem{"life_cycle_state", CodeInvalidParameter, fmt.Sprintf("%q is not a life cycle state (%s)", state, join(states))})
	}
	size := number(q, "number_of_results", DefaultListSize, 1, &ps)
	offset := number(q, "offset", 0, 0, &ps)
	if size > MaxListSize {
		ps = append(ps, apiProblem{"number_of_results", CodeInvalidParameter, fmt.Sprintf("at most %d", MaxListSize)})
	}
	if ps != nil {
		return refused(ps)
	}
	filter := ops.Filter{ReferenceNumber: ref, Limit: int(size), Offset: offset, NoNames: true}
	if typ != "" {
		filter.Types = []string{typ}
	}
	if state != "" {
		filter.States = []string{state}
	}
	out := List{Offset: offset, Requests: []View{}}
	var err error
	if out.TotalResults, err = ops.Count(r.Context(), s.db, filter); err != nil {
		return &failure{err: err}
	}
	rows, err := ops.List(r.Context(), s.db, filter)
	if err != nil {
		return &failure{err: err}
	}
	for _, row := range rows {
		out.Requests = append(out.Requests, view(row))
	}
	out.NumberOfResults = int64(len(out.Requests))
	ok(w, out)
	return nil
}

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
