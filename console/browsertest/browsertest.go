package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// StepTimeout bounds one step (Browser.Do, a wait): generous, because a busy
// two-core machine running the race detector may take seconds to draw a page.
var StepTimeout = 90 * time.Second

// ErrNoChromium: no browser binary was found.
var ErrNoChromium = errors.New("no chromium: run scripts/ensure-chromium.sh (Debian's chromium package), or set CHROMIUM to a Chromium binary")

// Path is the Chromium binary: $CHROMIUM, else /usr/bin/chromium (Debian's), else
// chromium or chromium-browser on the PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Start starts a headless Chromium of width×height and returns a context of one tab
// in it, with its own cookies; cancel stops the browser. The browser runs until
// cancel, not until a deadline of parent: give each step its own (Browser.Do).
func Start(parent context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	bin, err := Path()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		// The new headless mode draws pages as the desktop browser does.
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.WindowSize(width, height),
		chromedp.WSURLReadTimeout(StepTimeout),
	)
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root; the pages it opens are ours.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first Run starts the browser, tied to ctx: with no deadline (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		return nil, nil, fmt.Errorf("start chromium %s: %w", bin, err)
	}
	return ctx, func() { cancel(); acancel() }, nil
}

// Browser is one headless Chromium driven by a test, on the site at Base.
type Browser struct {
	T    testing.TB
	Ctx  context.Context // the tab's context: chromedp.Run(b.Ctx, ...) for what Do lacks
	Base string          // the site's root URL, "http://127.0.0.1:PORT"
	dir  string
	shot int
}

// shared is the one Chromium of a test binary: each Browser is a tab of it in a
// browser context of its own (its own cookies and storage, as apart as two
// browsers), because starting Chromium was a third of a short test's time, 4 s
// idle and 10 to 20 s under a load of 25. It stops with the binary (chromedp kills
// it when its parent exits).
var shared struct {
	sync.Mutex
	ctx context.Context // the browser's first tab, which holds it
}

// Tab opens a tab of width×height in a new browser context of the test binary's
// Chromium, started on first use; cancel closes the tab and drops its context.
func Tab(width, height int) (context.Context, context.CancelFunc, error) {
	shared.Lock()
	if shared.ctx == nil {
		// Never cancelled: the browser serves the binary's tests until it exits.
		ctx, _, err := Start(context.Background(), width, height)
		if err != nil {
			shared.Unlock()
			return nil, nil, err
		}
		shared.ctx = ctx
	}
	parent := shared.ctx
	shared.Unlock()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	// The first Run creates the browser context and the tab, tied to ctx: no deadline.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("open a tab: %w", err)
	}
	return ctx, cancel, nil
}

// New opens a browser for t on the site at base, closed when t ends: a tab with
// cookies of its own in the binary's one Chromium (Tab). Without a Chromium binary
// t is skipped, saying so, as the PgBouncer tests are; it fails instead when
// CONSOLE_BROWSER_REQUIRED is set (.ci/run sets it).
func New(t testing.TB, base string) *Browser {
	t.Helper()
	ctx, cancel, err := Tab(1280, 900)
	if errors.Is(err, ErrNoChromium) {
		if os.Getenv("CONSOLE_BROWSER_REQUIRED") != "" {
			t.Fatal("browsertest: CONSOLE_BROWSER_REQUIRED is set: ", err)
		}
		t.Skip("browsertest: ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshots: %v", err)
	}
	return &Browser{T: t, Ctx: ctx, Base: base, dir: dir}
}

// Do runs steps in order, each within StepTimeout; on an error it saves a
// screenshot of the page as it was and fails the test with the URL and its text.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	for i, s := range steps {
		ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
		err := chromedp.Do(ctx, s)
		// A node found in chromedp's copy of the page just before the browser
		// replaced the page is gone when the step acts on it: find it again in the
		// new page. The step has done nothing then (it fails resolving the node).
		for staleNode(err) && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			err = chromedp.Do(ctx, s)
		}
		cancel()
		if err != nil {
			b.fail(fmt.Sprintf("step %d of %d: %v", i+1, len(steps), err))
		}
	}
}

// staleNode: the error of a protocol call on a node of a page since replaced. The
// browser words it two ways, by the call: "No node with given id found", and "Could
// not find node with given id" (the calls that scroll to a node and measure it before
// a click: CI's TestBrowserAdmin failed on it clicking Back on a page just loaded). Both
// come before any input is sent, so the step can be run again.
func staleNode(err error) bool {
	var e *cdproto.Error
	return errors.As(err, &e) && (e.Message == "No node with given id found" || e.Message == "Could not find node with given id")
}

func (b *Browser) fail(msg string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"), chromedp.NodeReady))
	path := b.save(ctx, "failure")
	b.T.Fatalf("browser: %s\nat %s (screenshot %s); the page reads:\n%s", msg, loc, path, body)
}

// Go opens path (under Base) and waits until the element of sel is visible.
func (b *Browser) Go(path, sel string) {
	b.T.Helper()
	b.Do(chromedp.Navigate(b.Base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Text is the text of the first element of sel, once it is visible, spaces collapsed.
func (b *Browser) Text(sel string) string {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	// Read in the page, not through a node id of the protocol's: one found just
	// before a new page replaced the old is gone when read ("No node with given id").
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.getClientRects().length ? [e.innerText] : null; })()`, sel)
	for {
		v, err := chromedp.Run(ctx, chromedp.Poll[[]string](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(StepTimeout)))
		if err == nil && len(v) == 1 {
			return strings.Join(strings.Fields(v[0]), " ")
		}
		// A page that navigates away ends the poll with its page: poll the next one,
		// until the deadline.
		if ctx.Err() != nil {
			b.fail(fmt.Sprintf("text of %s: %v", sel, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitText waits until the first element of sel shows want (spaces collapsed)
// and fails the test, naming what it showed, if it does not within StepTimeout.
func (b *Browser) WaitText(sel, want string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	// The page's own clock polls: no test-side sleep.
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.innerText.replace(/\s+/g, " ").trim() === %q; })()`, sel, want)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(StepTimeout)))
		if err == nil {
			return
		}
		// A page that navigates away ends the poll with its page: poll the next one,
		// until the deadline.
		if ctx.Err() != nil {
			got, _ := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
			b.fail(fmt.Sprintf("%s shows %q, want %q: %v", sel, strings.Join(strings.Fields(got), " "), want, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Count is how many elements sel matches now.
func (b *Browser) Count(sel string) int {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		b.fail(fmt.Sprintf("count %s: %v", sel, err))
	}
	return n
}

// Download clicks the element of sel (a link to a download), lets the browser save
// what it answers into a folder of the test's, and returns the name the browser was
// given for it (the answer's Content-Disposition) and its content, once the download
// is complete: the browser's own download, cookies and all, not a second client.
func (b *Browser) Download(sel string) (string, []byte) {
	b.T.Helper()
	dir := b.T.TempDir()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		name string
		end  *browser.EventDownloadProgress
		done = make(chan struct{})
	)
	// The callback runs in the tab's reading loop: it records and returns.
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			name = ev.SuggestedFilename
		case *browser.EventDownloadProgress:
			if end == nil && (ev.State == browser.DownloadProgressStateCompleted || ev.State == browser.DownloadProgressStateCanceled) {
				end = ev
				close(done)
			}
		}
	})
	if err == nil {
		err = chromedp.Do(ctx,
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				events := true
				// Of the tab's browser context: the default one's behaviour is not its.
				_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events,
					BrowserContextID: chromedp.FromContext(ctx).BrowserContextID})
				return err
			}),
			chromedp.Click(chromedp.CSS(sel)),
		)
	}
	if err != nil {
		b.fail(fmt.Sprintf("download %s: %v", sel, err))
	}
	select {
	case <-done:
	case <-ctx.Done():
		b.fail(fmt.Sprintf("download %s: not complete: %v", sel, ctx.Err()))
	}
	mu.Lock()
	defer mu.Unlock()
	if end.State != browser.DownloadProgressStateCompleted {
		b.fail(fmt.Sprintf("download %s: %s", sel, end.State))
	}
	// allowAndName saves the file under its download's GUID.
	content, err := os.ReadFile(filepath.Join(dir, end.GUID))
	if err != nil {
		b.fail(fmt.Sprintf("download %s: %v", sel, err))
	}
	return name, content
}

// SignIn signs in through the console's sign-in form and waits for the page it
// leads to (the overview, or the page asked for).
func (b *Browser) SignIn(name, password string) {
	b.T.Helper()
	b.Go("/console/login", "#login")
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#login input[name=username]`), name),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#who`)),
	)
}

// Screenshot saves the whole page as NAME.png in the screenshots' directory (named
// after the test) and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	path := b.save(ctx, name)
	if path == "" {
		b.T.Fatalf("browser: screenshot %s failed", name)
	}
	return path
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (b *Browser) save(ctx context.Context, name string) string {
	b.shot++
	path := filepath.Join(b.dir, fmt.Sprintf("%s-%02d-%s.png", unsafe.ReplaceAllString(b.T.Name(), "_"), b.shot, name))
	if err := Screenshot(ctx, path); err != nil {
		b.T.Logf("browser: screenshot %s: %v", path, err)
		return ""
	}
	b.T.Logf("screenshot: %s", path)
	return path
}

// Screenshot saves the whole page of the tab of ctx (beyond the window too) as a
// PNG at path.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}
