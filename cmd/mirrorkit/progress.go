package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressBar draws on standard error when it is a terminal and returns nil
// otherwise: logs and pipes get the summary line only, not bar redraws.
func (a *app) progressBar(total int64, desc string, bytes bool) *progressbar.ProgressBar {
	f, ok := a.terminal()
	if !ok {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionClearOnFinish(),
	)
}

// terminal returns stderr when it is a terminal: progress is drawn only for
// a person watching, never into logs.
func (a *app) terminal() (*os.File, bool) {
	f, ok := a.stderr.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}
