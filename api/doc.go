// Package api is the CRM's Web API: it creates provisioning requests one at a time,
// with the methods, parameters and JSON shapes of the CRM's documentation, and shows
// and lists them.
//
// A call is checked by the importer's rules (package provisioning: Parse, then
// Resolve against the reference data), so it is accepted or refused exactly as the
// same instruction in a file, with the same error codes; the request it creates has
// the fields an imported one would have (store.RequestValues), and records the
// token that created it as its source. A request created with process_immediately is
// sent during the call through the processing run's own code path
// (Options.Dispatcher, a Sender: dispatcher.RunRequest), and the answer shows where it stands.
//
// Every answer is the CRM's envelope: {"status": {"code": "OK"|"ERROR", "message",
// "description"}, "data"}. On a failure, message is a stable error code and
// description names the parameter. Callers authenticate with a token (tokens.go),
// issued by `provisioner tokens create`; only its SHA-256 is stored, and neither it
// nor a PIN is ever logged. An address that presents too many failed tokens is
// refused (429) for a window before its tokens reach the database (limit.go).
//
// A body is walked whole before it is decoded (decode.go): a key given twice at any
// depth or a NUL in any string refuses it, since the decoder would keep the last
// key and PostgreSQL refuses a NUL. Every answer carries an X-Request-Id, also in
// the call's log line (requestid.go).
//
// The creates that arrive together share their statements (batch.go, a group
// commit): one lookup for the calls of a batch, each call then checked on its own,
// and one multi-row insert, in one commit, that answers each call with its own
// request; an insert that fails is retried call by call, so that only the call at
// fault fails.
package api
