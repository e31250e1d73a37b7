// Package pgtest runs throw-away PostgreSQL servers for tests.
//
// Each server is a fresh cluster created with initdb in a temporary
// directory and listening on 127.0.0.1 on a free port, so go test needs no
// pre-existing server and parallel test binaries do not collide. The server
// binaries come from Debian's postgresql package (apt-get install postgresql);
// they are looked up on PATH first and then in the newest
// /usr/lib/postgresql/*/bin, where Debian puts them off PATH. When they are
// missing, ForTest and Shared skip the test locally and fail it under CI=true
// (see testutil.MissingTool).
//
// PostgreSQL refuses to run as root, so when the test runs as root (as in
// containers and CI) the server runs as the postgres user through runuser.
//
// One server per test:
//
//	srv := pgtest.ForTest(t)
//	dsn, err := srv.CreateDatabase(ctx)
//
// One server shared by all tests of a package, started only if some test
// needs it, each test getting its own database:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) {
//		defer pg.Close()
//		m.Run()
//	}
//
//	func TestSomething(t *testing.T) {
//		dsn := pg.Database(t)
//		...
//	}
//
// A server left running by a test binary that was killed (for example by the
// go test -timeout alarm) is not cleaned up; Stop and Close are the only way
// a server ends.
package pgtest
