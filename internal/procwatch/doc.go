// Package procwatch measures, from Linux's /proc, what processes spend while a
// benchmark runs, for internal/benchrun (`make bench`) and the dispatcher's bench:
//
//   - Postgres: the CPU time a shared PostgreSQL server spends on behalf of one
//     database (its backends, their parallel workers, and the background processes
//     that write for everyone);
//   - SelfCPU: this process's own CPU time; CPUWatch takes both at once;
//   - PeakRSS: a child process's peak resident memory.
//
// Where /proc cannot tell (not Linux, or the server on another machine) the
// PostgreSQL figure is reported unknown (-1) rather than guessed.
package procwatch
