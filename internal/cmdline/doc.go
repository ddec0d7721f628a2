// Package cmdline holds what every command of the module shares about its command
// line: the usage error (exit 2) and the exit codes, so that `provisioner`,
// `cas-simulator`, `samplegen` and `benchrun` treat a bad flag, a missing argument
// and -h the same way: -h prints the usage and exits 0, a mistake exits 2 naming it.
package cmdline
