//go:build !unix

package rsync

import (
	"os"
	"os/exec"
)

func detach(*exec.Cmd) {}

// killTree can only kill rsync itself where there are no process groups.
func killTree(p *os.Process) error { return p.Kill() }

// renice is not supported here; rsync runs at normal priority.
func renice(int, int) error { return nil }
