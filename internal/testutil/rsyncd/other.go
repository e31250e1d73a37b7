//go:build !unix

package rsyncd

import (
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// Module is one rsync module the daemon serves.
type Module struct {
	Name, Path         string
	AuthUser, Password string
	ListNonreadable    bool
}

// Config is a daemon's configuration.
type Config struct {
	Modules []Module
	BWLimit int
}

// Daemon is a running rsync daemon; only unix systems run one.
type Daemon struct{}

// Start skips (fails under CI=true): the harness needs process groups.
func Start(tb testing.TB, modules ...Module) *Daemon {
	tb.Helper()
	return StartConfig(tb, Config{Modules: modules})
}

// StartConfig skips (fails under CI=true): the harness needs process groups.
func StartConfig(tb testing.TB, _ Config) *Daemon {
	tb.Helper()
	testutil.MissingTool(tb, "rsyncd: the rsync daemon harness runs only on unix systems")
	return nil
}
