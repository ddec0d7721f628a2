// Package provisioning defines the provisioning request (its types, life cycle states
// and priorities) and the one set of rules that turns an operator's instruction into a
// request: which fields each action takes, how values parse, and how the smartcard,
// STB, subscription and services it names are checked against the reference data.
//
// The importer applies these rules to every CSV row and the Web API to every call, so
// both give the same answers with the same error codes. Checking runs in two steps so
// that callers can look up reference data in bulk between them: Parse checks an
// instruction on its own, Resolve checks it against a Lookup filled by the caller.
// The Web API also names records by id and alternative code; Resolve asks a KeyLookup
// for those.
//
// It also holds the rules of sending (run.go) that the dispatcher applies and the
// operator's commands show: the command_id of a request (CommandID), the error codes
// the processing run writes itself, the name and states of a processing run.
package provisioning
