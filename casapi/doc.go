// Package casapi is the CAS vendor's gateway interface, version 1, written as
// Go types: the batch request, its results, the error body, the smartcard
// state and the health answer, with the command types, statuses, error codes
// and header names that the vendor's page defines.
//
// The contract lives in one package so that the dispatcher (the client) and
// the simulator (the server used in tests) cannot drift apart: both marshal
// the same structs, and both check a batch with the same Batch.Validate, so a
// batch the dispatcher would send malformed is caught on our side before the
// gateway answers it with 400.
//
// The json tags follow the page exactly. Optional fields carry omitempty
// because the page requires that a field a command type does not take be
// absent, not empty.
package casapi
