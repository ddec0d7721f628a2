package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/provisioner/provisioner/casapi"
)

// GatewayConfig says where the CAS gateway is and how to sign in.
type GatewayConfig struct {
	URL           string        // base URL, e.g. https://cas.example.net:7070
	Token         string        // the bearer token the gateway issued
	DestinationID string        // who we are to the gateway, e.g. CRM01
	Timeout       time.Duration // for one batch, answer included
}

// Check names what is missing or wrong in the configuration.
func (c GatewayConfig) Check() error {
	var problems []string
	if c.URL == "" {
		problems = append(problems, "the gateway URL is not set (CAS_GATEWAY_URL)")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("the gateway URL %q is not an http(s) URL", c.URL))
	}
	if c.Token == "" {
		problems = append(problems, "the gateway token is not set (CAS_GATEWAY_TOKEN)")
	}
	if c.DestinationID == "" {
		problems = append(problems, "the destination id is not set (CAS_DESTINATION_ID)")
	}
	if err := CheckBatchTimeout(c.Timeout); err != nil {
		problems = append(problems, "the "+err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Client speaks the CAS gateway's interface (docs/cas-gateway.md).
type Client struct {
	cfg     GatewayConfig
	batches string
	http    *http.Client
}

// NewClient returns a client for the gateway of cfg.
func NewClient(cfg GatewayConfig) (*Client, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// One connection per concurrent batch, kept between batches.
	transport.MaxIdleConnsPerHost = 64
	return &Client{
		cfg:     cfg,
		batches: strings.TrimSuffix(cfg.URL, "/") + casapi.PathBatches,
		http:    &http.Client{Transport: transport},
	}, nil
}

// Kind says what a batch's answer means for its requests.
type Kind int

// The kinds of answer.
const (
	// Answered: a 200 with one result per command.
	Answered Kind = iota
	// Throttled: 429 or 503; nothing applied; wait RetryAfter, then send again.
	Throttled
	// Malformed: 400 or 413; nothing applied, and the same batch would fail again.
	Malformed
	// Refused: 401 or 403; nothing applied: the configuration is wrong.
	Refused
	// Unknown: another status, a timeout, a broken connection: some commands may
	// have been applied. Sending them again with the same command_ids is safe.
	Unknown
	// Unreachable: no connection to the gateway was ever made (connection refused,
	// a name that does not resolve, no answer to the dial within the timeout), so
	// not a byte of the batch was sent and nothing can have been applied. Not an
	// attempt (issue 16, 0.1): an outage must not use up the requests' attempts.
	Unreachable
)

// Outcome is what became of one batch.
type Outcome struct {
	Kind       Kind
	Status     int             // HTTP status, 0 without an answer
	Results    []casapi.Result // Answered: in the order of the commands
	RetryAfter time.Duration   // Throttled
	Detail     string          // what went wrong, for error descriptions and logs
}

// Send posts one batch and classifies the answer as the interface page says.
func (c *Client) Send(ctx context.Context, b casapi.Batch) Outcome {
	body, err := json.Marshal(b)
	if err != nil {
		return Outcome{Kind: Malformed, Detail: fmt.Sprintf("encode batch: %v", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.batches, bytes.NewReader(body))
	if err != nil {
		return Outcome{Kind: Refused, Detail: fmt.Sprintf("build request: %v", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(casapi.HeaderAuthorization, casapi.BearerPrefix+c.cfg.Token)
	req.Header.Set(casapi.HeaderDestinationID, c.cfg.DestinationID)

	// Whether a connection was had: without one, nothing was sent. A connection
	// reused from the pool counts, even if it turns out dead: some bytes may have
	// gone (the conservative side: an attempt is counted).
	var connected atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}))
	resp, err := c.http.Do(req)
	if err != nil {
		if !connected.Load() {
			return Outcome{Kind: Unreachable, Detail: "gateway unreachable, nothing sent: " + describeDialError(err, c.cfg.Timeout)}
		}
		return Outcome{Kind: Unknown, Detail: describeTransportError(err, c.cfg.Timeout)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return Outcome{Kind: Unknown, Status: resp.StatusCode, Detail: "answer cut off: " + describeTransportError(err, c.cfg.Timeout)}
	}

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return decodeResults(b, answer)
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return Outcome{Kind: Throttled, Status: code, RetryAfter: retryAfter(resp.Header.Get(casapi.HeaderRetryAfter)),
			Detail: fmt.Sprintf("HTTP %d %s", code, errorText(answer))}
	case code == http.StatusBadRequest, code == http.StatusRequestEntityTooLarge:
		return Outcome{Kind: Malformed, Status: code, Detail: fmt.Sprintf("HTTP %d %s", code, errorText(answer))}
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return Outcome{Kind: Refused, Status: code, Detail: fmt.Sprintf("HTTP %d %s: check the gateway token and destination id", code, errorText(answer))}
	default:
		return Outcome{Kind: Unknown, Status: code, Detail: fmt.Sprintf("HTTP %d %s (outcome unknown)", code, errorText(answer))}
	}
}

// decodeResults checks a 200 answer: exactly one result per command, in order. An
// answer that breaks the contract is treated as an unknown outcome: resending is
// safe, trusting it is not.
func decodeResults(b casapi.Batch, answer []byte) Outcome {
	var br casapi.BatchResult
	if err := json.Unmarshal(answer, &br); err != nil {
		return Outcome{Kind: Unknown, Status: http.StatusOK, Detail: fmt.Sprintf("unreadable answer: %v", err)}
	}
	if len(br.Results) != len(b.Commands) {
		return Outcome{Kind: Unknown, Status: http.StatusOK, Detail: fmt.Sprintf("%d results for %d commands", len(br.Results), len(b.Commands))}
	}
	for i, r := range br.Results {
		if r.CommandID != b.Commands[i].CommandID {
			return Outcome{Kind: Unknown, Status: http.StatusOK, Detail: fmt.Sprintf("result %d is for command %q, not %q", i, r.CommandID, b.Commands[i].CommandID)}
		}
		switch r.Status {
		case casapi.StatusCompleted, casapi.StatusRejected, casapi.StatusRetry:
		default:
			return Outcome{Kind: Unknown, Status: http.StatusOK, Detail: fmt.Sprintf("result %d has status %q", i, r.Status)}
		}
	}
	return Outcome{Kind: Answered, Status: http.StatusOK, Results: br.Results}
}

// retryAfter reads Retry-After in seconds (the page's form) or as an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// errorText is the gateway's error body, short: its error_code and description when
// it is the page's JSON, else the start of the text.
func errorText(body []byte) string {
	var eb casapi.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.ErrorCode != "" {
		return eb.ErrorCode + ": " + eb.ErrorDescription
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func describeTransportError(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %v (outcome unknown)", timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled before the answer (outcome unknown)"
	}
	return fmt.Sprintf("%v (outcome unknown)", err)
}

// describeDialError says why no connection was made.
func describeDialError(err error, timeout time.Duration) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no connection within %v", timeout)
	}
	return err.Error()
}
