// Package browsertest drives a real headless Chromium (Debian's chromium package,
// which scripts/ensure-chromium.sh installs; nothing downloads a browser from
// elsewhere) through the DevTools protocol with chromedp, for the console's browser
// tests (console/browser_test.go) and for cmd consoleshot, which takes the README's
// picture of the overview.
//
// A test binary starts one Chromium, on first use; each Browser is a tab of it in a
// browser context of its own, whose cookies no other test sees.
//
// Every step waits on a condition of the page (an element visible, a text shown)
// under a generous deadline, never on time: the tests run on busy machines. Each
// test saves screenshots: to $CONSOLE_SCREENSHOTS when it is set (a directory,
// created if needed), else to the test's temporary directory.
package browsertest
