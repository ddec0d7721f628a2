package provisioning

import (
	"strconv"
)

// ProcessName is the process_name written on the requests a processing run
// finishes, and the name of its record in processes.
const ProcessName = "PROVISIONING_REQUEST_PROCESSING_RUN"

// RunState is how a processing run stands in its record (processes.state). The run
// ledger of the jobs (job_runs.state) uses the same four words for the same
// meanings, and a few of its own.
type RunState string

// The states of a processing run.
const (
	RunRunning     RunState = "RUNNING"     // started, not finished (or died unrecorded)
	RunSucceeded   RunState = "SUCCEEDED"   // nothing left to claim, or a bound reached
	RunFailed      RunState = "FAILED"      // the database or the gateway failed the run
	RunInterrupted RunState = "INTERRUPTED" // stopped by a shutdown (SIGTERM)
)

// Error codes a processing run writes on requests itself, beside the gateway's own
// (casapi.ErrCode*).
const (
	// CodeMaxAttempts rejects a request that the gateway never settled in
	// MaxAttempts sends.
	CodeMaxAttempts = "E_MAX_ATTEMPTS"
	// CodeOutcomeUnknown: the batch's answer never came (timeout, broken
	// connection, another 5xx); the request is sent again with the same command_id.
	CodeOutcomeUnknown = "E_OUTCOME_UNKNOWN"
	// CodeCancelled: an operator cancelled the request before it was sent
	// (`requests cancel`); the description holds their reason. It can be retried.
	CodeCancelled = "E_CANCELLED"
	// CodeUnreachable: no connection to the gateway could be made, so nothing was
	// sent; the request stays PENDING and the send is not counted as an attempt.
	CodeUnreachable = "E_GATEWAY_UNREACHABLE"
)

// CodeHTTP is the error code of a send the gateway answered with an HTTP status
// that leaves the request to be sent again (429, 503): "HTTP_503".
func CodeHTTP(status int) string { return "HTTP_" + strconv.Itoa(status) }

// CommandID is the command_id the gateway sees for request number at generation:
// the number itself ("18573"), then "18573.1", "18573.2"... after each operator
// retry of a request that the gateway had rejected. Why, and which resends keep the
// id: docs/processing-run.md, "The command_id". The generation is stored on the
// request (command_generation) and raised only by `provisioner requests retry`.
func CommandID(number int64, generation int) string {
	id := strconv.FormatInt(number, 10)
	if generation > 0 {
		id += "." + strconv.Itoa(generation)
	}
	return id
}

// PauseQueue is the pause target that stops every processing run's claims
// (`provisioner pause queue`); the other targets are the jobs' names.
const PauseQueue = "queue"
