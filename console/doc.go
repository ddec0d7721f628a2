// Package console is the operator console: web pages served by `provisioner serve`
// under /console/ that show the queue (ops.Snapshot), find and show requests
// (ops.List, ops.CountUpTo, ops.Get, ops.WaitFor, ops.Attempts) and pull the
// operator's levers (ops.Retry, ops.Pull, ops.SetPause, ops.Resume) under the
// signed-in operator's name: the face of package ops, never a second implementation
// of its rules. It also keeps the console's accounts (operators, with bcrypt
// password hashes, roles and lock-out) and their sessions.
//
// Pages are rendered on the server with html/template, which escapes every value;
// the CSS is embedded (go:embed) and no page needs JavaScript. Every form carries
// the session's CSRF token; a POST without it, or with another, is refused (403).
// The session cookie is HttpOnly, SameSite=Strict, and Secure when served over TLS.
// See docs/console.md.
package console
