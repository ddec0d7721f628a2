// Command cas-simulator serves the CAS gateway simulator (package simulator) on
// a port, so that the provisioner's dispatcher can be run end to end without
// the vendor's gateway. It learns the smartcard, STB and product CA ids the
// gateway knows from the provisioner's reference-data directory, the same
// files the provisioner loads.
//
//	cas-simulator -reference samples/reference -token s3cret -destination CRM01
//
// The token and destination may come from CAS_GATEWAY_TOKEN and
// CAS_DESTINATION_ID instead of flags (a token in the environment stays out of
// the process list); a flag given explicitly wins over the environment. One
// flag per fault (see -h) turns faults on; all are off by default. The line
// "listening on http://ADDR" goes to standard output once the port is open,
// so that a script using -addr 127.0.0.1:0 learns the port; logs go to
// standard error. SIGINT or SIGTERM shuts the server down: stalled batches
// are cut off, the others finish.
//
// Exit status: 0 after a clean shutdown, 2 for bad flags, 1 for anything else.
package main
