//go:build !unix

package release

import "os"

// lock only creates the lock file where flock does not exist: concurrent
// writers are not serialised there.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
