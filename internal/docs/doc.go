// Package docs holds the tests of the project's documentation: README.md, the entry
// point, and docs/, the manual. They check what a reader would otherwise find broken
// only by following it: every relative link and anchor resolves, the README stays
// short enough to be read as an entry point, and its layout table names every
// package of the tree. It has no code of its own.
package docs
