// Command consoleshot takes the picture of the console's overview that the README
// shows (docs/console-overview.png), from the demo's database, so that it can be
// taken again when the page changes:
//
//	make demo && go run ./internal/consoleshot
//
// It serves the console in this process on a loopback port, on DATABASE_URL (the
// demo's by default), signs in as the demo operator with the password `make demo`
// left in .demo/console-password, and saves the whole page from headless Chromium
// (console/browsertest; scripts/ensure-chromium.sh installs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/console/browsertest"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/store"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "consoleshot:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("consoleshot", flag.ContinueOnError)
	dsn := fs.String("database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provisioner_demo?sslmode=disable"), "the database (the demo's)")
	user := fs.String("operator", "demo", "the operator to sign in as")
	pwFile := fs.String("password-file", ".demo/console-password", "its password (make demo writes it)")
	out := fs.String("out", "docs/console-overview.png", "where the picture goes")
	width := fs.Int("width", 1100, "the window's width in pixels")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw, err := os.ReadFile(*pwFile)
	if err != nil {
		return fmt.Errorf("the demo operator's password (run make demo first): %w", err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, *dsn, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	log := logrus.New()
	log.SetOutput(io.Discard)
	srv := httptest.NewServer(console.New(db, console.Options{Jobs: jobs.Names(), Log: log}).Handler())
	defer srv.Close()

	tab, stop, err := browsertest.Start(ctx, *width, 800)
	if err != nil {
		return err
	}
	defer stop()
	step, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(step,
		chromedp.Navigate(srv.URL+"/console/login"),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=username]`), *user),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), strings.TrimSpace(string(pw))),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#who`)),
		chromedp.Navigate(srv.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#states`)),
	); err != nil {
		if text, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body"), chromedp.NodeReady)); text != "" {
			err = errors.Join(err, errors.New("the page reads: "+text))
		}
		return fmt.Errorf("sign in and open the overview: %w", err)
	}
	if err := browsertest.Screenshot(step, *out); err != nil {
		return err
	}
	fmt.Println("saved", *out)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
