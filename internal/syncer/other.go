//go:build !unix

package syncer

import (
	"context"
	"errors"
)

// The agent needs flock(2) and process sessions: it runs on unix systems.
var errUnsupported = errors.New("sync agent: only supported on unix systems")

type fileLock struct{}

func tryLock(string) (*fileLock, bool, error)            { return nil, false, errUnsupported }
func lockWait(string) (*fileLock, error)                 { return nil, errUnsupported }
func lockedByOther(string) (bool, error)                 { return false, errUnsupported }
func (l *fileLock) unlock() error                        { return nil }
func pidRecord(int) string                               { return "" }
func killRecorded(context.Context, string) (bool, error) { return false, nil }
