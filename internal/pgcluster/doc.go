// Package pgcluster makes and runs PostgreSQL clusters of a program's own (initdb
// and pg_ctl of Debian's PostgreSQL 15) on ports of their own, with the settings
// their maker chooses: the chaos suite restarts one mid-run and listens on the
// addresses of its network namespaces; the history bench runs on one set up as
// docs/operating.md recommends for production, rather than on the machine's server
// and whatever its settings are. Neither touches the machine's server.
package pgcluster
