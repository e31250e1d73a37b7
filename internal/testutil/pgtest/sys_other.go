//go:build !unix

package pgtest

import "os/exec"

// The harness relies on process groups, signals and runuser; elsewhere Start
// reports ErrNotInstalled so that tests skip locally as with no PostgreSQL.
const platformSupported = false

func configureCmd(*exec.Cmd)             {}
func quitProcess(int) error              { return nil }
func killProcess(int) error              { return nil }
func processAlive(int) bool              { return false }
func childPIDs(int) []int                { return nil }
func isPostmasterOf(int, string) bool    { return false }
func searchableBy(string, int, int) bool { return true }
