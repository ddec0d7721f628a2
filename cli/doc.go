// Package cli is the provisioner's command line: it parses commands and flags, reads
// the configuration from the environment and from the configuration file of package
// config (--config or PROVISIONER_CONFIG: required by scheduler and run, taken by
// every command that uses the database), sets up logging and the database (setup.go,
// the one start of every such command), wires the packages that do the work, and
// turns outcomes into exit codes. One file per command; cmd/provisioner's main only
// calls Main.
//
// Exit codes, for cron and scripts:
//
//	0  done, nothing rejected
//	1  failed (database unreachable, disk full, ...): nothing half-done is kept
//	2  bad usage or configuration
//	3  done, but something was rejected: rows or files (import, run import),
//	   requests (process, run process), reference rows (reference load)
package cli
