// Package importer turns operators' CSV instruction files into PENDING provisioning
// requests: every good row becomes one request, every bad row a line in a rejects file
// with its line number and reason, and a file that cannot be read as a whole is
// refused with one reason.
//
// One file is imported in one transaction with its import record, so a failure
// mid-file leaves nothing of it; its SHA-256 is recorded so that the same content is
// imported once. Rows stream through three stages that run at once: reading and
// parsing (package csvin, provisioning.Parse), checking a chunk of rows against the
// reference data with a few bulk queries (provisioning.Resolve), and writing the good
// rows with COPY. Memory is bounded by the chunk size, not by the file.
//
// The inbox (inbox.go) is the directory protocol around it: which files are picked
// up, how a file is claimed by an atomic rename, and where it goes afterwards.
package importer
