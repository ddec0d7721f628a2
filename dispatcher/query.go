package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/provisioner/provisioner/casapi"
)

// NotSupported is a query's answer 404 or 405: a gateway older than interface 1.1,
// without POST /v1/smartcards/query. Ask GET /v1/smartcards/{id} card by card instead.
const NotSupported Kind = Unknown + 1

// StateOutcome is what became of a query, or of a GET of one card.
type StateOutcome struct {
	Kind       Kind // Answered, Throttled, Malformed, Refused, Unknown, NotSupported
	Status     int
	Result     casapi.QueryResult // Answered: one card's GET puts it in Smartcards or Unknown
	RetryAfter time.Duration
	Detail     string
}

// Query asks the gateway for the state of up to casapi.MaxQuery cards in one call
// (docs/cas-gateway.md). A query changes nothing, so the caller may resend it after
// any failure but Refused, Malformed and NotSupported.
func (c *Client) Query(ctx context.Context, smartcards []string) StateOutcome {
	body, err := json.Marshal(casapi.Query{Smartcards: smartcards})
	if err != nil {
		return StateOutcome{Kind: Malformed, Detail: fmt.Sprintf("encode query: %v", err)}
	}
	status, answer, header, out := c.call(ctx, http.MethodPost, casapi.PathQuery, body)
	if out.Kind != Answered {
		return out
	}
	switch {
	case status == http.StatusOK:
		var res casapi.QueryResult
		if err := json.Unmarshal(answer, &res); err != nil {
			return StateOutcome{Kind: Unknown, Status: status, Detail: fmt.Sprintf("unreadable answer: %v", err)}
		}
		if err := checkQueryAnswer(smartcards, res); err != nil {
			return StateOutcome{Kind: Unknown, Status: status, Detail: err.Error()}
		}
		return StateOutcome{Kind: Answered, Status: status, Result: res}
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		return StateOutcome{Kind: NotSupported, Status: status, Detail: fmt.Sprintf("HTTP %d %s: the gateway has no query (interface older than 1.1)", status, errorText(answer))}
	}
	return classify(status, answer, header)
}

// Smartcard asks the gateway for one card's state: GET /v1/smartcards/{id}. A card
// the gateway does not know (404 E_UNKNOWN_SMARTCARD) comes back in Result.Unknown.
func (c *Client) Smartcard(ctx context.Context, smartcard string) StateOutcome {
	status, answer, header, out := c.call(ctx, http.MethodGet, casapi.PathSmartcards+url.PathEscape(smartcard), nil)
	if out.Kind != Answered {
		return out
	}
	switch status {
	case http.StatusOK:
		var st casapi.SmartcardState
		if err := json.Unmarshal(answer, &st); err != nil || st.Smartcard != smartcard {
			return StateOutcome{Kind: Unknown, Status: status, Detail: fmt.Sprintf("unreadable answer for %s: %.200s", smartcard, answer)}
		}
		return StateOutcome{Kind: Answered, Status: status, Result: casapi.QueryResult{Smartcards: []casapi.SmartcardState{st}}}
	case http.StatusNotFound:
		var eb casapi.ErrorBody
		if json.Unmarshal(answer, &eb) == nil && eb.ErrorCode == casapi.ErrCodeUnknownSmartcard {
			return StateOutcome{Kind: Answered, Status: status, Result: casapi.QueryResult{Unknown: []string{smartcard}}}
		}
	}
	return classify(status, answer, header)
}

// call sends one request and reads its answer; out.Kind is Answered when an answer
// came (whatever its status), else Unknown with the transport's error.
func (c *Client) call(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, StateOutcome) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.cfg.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, nil, StateOutcome{Kind: Refused, Detail: fmt.Sprintf("build request: %v", err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(casapi.HeaderAuthorization, casapi.BearerPrefix+c.cfg.Token)
	req.Header.Set(casapi.HeaderDestinationID, c.cfg.DestinationID)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, StateOutcome{Kind: Unknown, Detail: describeTransportError(err, c.cfg.Timeout)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, nil, StateOutcome{Kind: Unknown, Status: resp.StatusCode, Detail: "answer cut off: " + describeTransportError(err, c.cfg.Timeout)}
	}
	return resp.StatusCode, answer, resp.Header, StateOutcome{Kind: Answered}
}

// classify reads a status that is not the call's own success as the batches' are.
func classify(code int, answer []byte, header http.Header) StateOutcome {
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return StateOutcome{Kind: Throttled, Status: code, RetryAfter: retryAfter(header.Get(casapi.HeaderRetryAfter)),
			Detail: fmt.Sprintf("HTTP %d %s", code, errorText(answer))}
	case code == http.StatusBadRequest, code == http.StatusRequestEntityTooLarge:
		return StateOutcome{Kind: Malformed, Status: code, Detail: fmt.Sprintf("HTTP %d %s", code, errorText(answer))}
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return StateOutcome{Kind: Refused, Status: code, Detail: fmt.Sprintf("HTTP %d %s: check the gateway token and destination id", code, errorText(answer))}
	}
	return StateOutcome{Kind: Unknown, Status: code, Detail: fmt.Sprintf("HTTP %d %s", code, errorText(answer))}
}

// checkQueryAnswer holds the gateway to its contract: every card asked comes back
// once, as a state or as unknown, the states in the order asked. An answer that
// breaks it is not trusted (Unknown: the query is asked again).
func checkQueryAnswer(asked []string, res casapi.QueryResult) error {
	pos := make(map[string]int, len(asked))
	for i, id := range asked {
		pos[id] = i
	}
	seen := make(map[string]bool, len(asked))
	last := -1
	for _, st := range res.Smartcards {
		i, ok := pos[st.Smartcard]
		switch {
		case !ok:
			return fmt.Errorf("answer names %s, which was not asked", st.Smartcard)
		case seen[st.Smartcard]:
			return fmt.Errorf("answer names %s twice", st.Smartcard)
		case i < last:
			return fmt.Errorf("answer is not in the order asked (%s)", st.Smartcard)
		}
		seen[st.Smartcard], last = true, i
	}
	for _, id := range res.Unknown {
		if _, ok := pos[id]; !ok || seen[id] {
			return fmt.Errorf("answer's unknown %s was not asked, or is also known", id)
		}
		seen[id] = true
	}
	if len(seen) != len(asked) {
		return fmt.Errorf("answer covers %d of the %d cards asked", len(seen), len(asked))
	}
	return nil
}
