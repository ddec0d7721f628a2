package main

import (
	"testing"

	"github.com/provisioner/provisioner/internal/cmdline/cmdlinetest"
)

// TestHelp: -h prints the flags and exits 0, as every command of the module does;
// a bad flag exits 2.
func TestHelp(t *testing.T) { cmdlinetest.Help(t, "apibench", run) }
