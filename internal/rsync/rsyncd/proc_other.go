//go:build !unix

package rsyncd

import (
	"os/exec"
	"syscall"
)

// supported is false: without process groups the Supervisor cannot stop the
// processes rsync forks per connection, so it refuses to start.
const supported = false

var (
	sigTERM = syscall.Signal(15)
	sigKILL = syscall.Signal(9)
)

func ownGroup(*exec.Cmd)                    {}
func signalGroup(int, syscall.Signal) error { return nil }
func groupAlive(int) bool                   { return false }
