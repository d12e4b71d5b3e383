package api_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/daylily-informatics/worksetstate/api"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/workset"
)

// The console in a real browser (Debian's headless chromium, driven with
// chromedp), as a person sees it: the counts, a workset's timeline, and an
// action that changes the state and shows it; on a laptop's screen and a
// phone's. Screenshots go to .cache/screenshots for a person to look at.
func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	chromium := testenv.Chromium(t)
	s := consoleStore(t)
	console, err := api.NewConsole(s)
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(console) // on 127.0.0.1
	defer server.Close()
	srv := server.URL
	shots := testenv.ArtifactDir(t, "screenshots")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// The first Run starts the browser; it must not carry the timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	eval := func(js string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// The overview: the counts a person reads.
	do(chromedp.Navigate(srv + "/console/"))
	if total, errs, depth, main := text("#total"), text("#count-error"), text("#depth"), text("main"); total != "12" || errs != "2" || depth != "1" || !strings.Contains(main, "monitor-7") {
		t.Errorf("overview shows total %q, error %q, depth %q; page:\n%s", total, errs, depth, main)
	}
	shot("console-overview")

	// A workset's page: the history as a timeline, forced moves marked.
	do(chromedp.Navigate(srv + "/console/worksets/ws-broke"))
	entries := eval(`document.querySelectorAll("#timeline li").length`)
	shot("console-workset")
	do(chromedp.Navigate(srv + "/console/worksets/ws-error"))
	if forced := eval(`document.querySelectorAll("#timeline li.forced").length`); entries != 3 || forced != 1 {
		t.Errorf("timelines: %d entries for ws-broke (want 3), %d forced for ws-error (want 1)", entries, forced)
	}

	// An action: requeue with a reason, and the page shows the new state.
	do(chromedp.Navigate(srv+"/console/worksets/ws-broke"),
		chromedp.SendKeys(chromedp.CSS("#reason-requeue"), "samtools upgraded"),
		chromedp.Click(chromedp.CSS("#do-requeue")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if heading, flash := text("h1"), text(".flash"); !strings.Contains(heading, "ready") || !strings.Contains(flash, "samtools upgraded") {
		t.Errorf("after requeue the page shows %q / %q", heading, flash)
	}
	shot("console-after-requeue")
	w, err := s.Get(t.Context(), "ws-broke")
	if err != nil {
		t.Fatal(err)
	}
	if last := w.History[len(w.History)-1]; w.State != workset.StateReady || !strings.Contains(last.Reason, "samtools upgraded") {
		t.Errorf("store holds %s %+v after the requeue", w.State, last)
	}

	// A phone: the page fits its width.
	do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(srv+"/console/stuck"))
	if width, viewport := eval(`document.documentElement.scrollWidth`), eval(`window.innerWidth`); width > viewport+1 {
		t.Errorf("on a phone the page is %dpx wide in a %dpx viewport", width, viewport)
	}
	shot("console-stuck-phone")

	// The migration view over a DualWriter: a verify started from the page.
	dw, _ := dualStore(t)
	dconsole, err := api.NewConsole(dw)
	if err != nil {
		t.Fatal(err)
	}
	dserver := httptest.NewServer(dconsole)
	defer dserver.Close()
	do(chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(dserver.URL+"/console/"),
		chromedp.Click(chromedp.CSS("#do-verify")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	for i := 0; i < 50 && !strings.Contains(text("#verify"), "Last verify"); i++ {
		time.Sleep(100 * time.Millisecond)
		do(chromedp.Navigate(dserver.URL + "/console/"))
	}
	if v := text("#verify"); !strings.Contains(v, "1 discrepancies") {
		t.Errorf("verify from the page shows %q", v)
	}
	shot("console-migration")
	t.Logf("screenshots in %s", shots)
}
