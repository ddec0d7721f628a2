// Package recovered turns a recovered panic into an error that says what panicked
// and where, so that a job, a processing run or a Web API call that panics is
// recorded as failed with the place to look, instead of taking the process down.
package recovered
