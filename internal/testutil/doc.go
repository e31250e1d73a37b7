// Package testutil holds helpers shared by mirrorkit's tests.
//
// Tests that depend on an external program (a database server, a compiler)
// find it with RequireTool. Locally a missing program skips the test, so a
// developer without it can still run go test ./...; under CI=true it fails
// instead, because a CI run that silently skipped its integration tests would
// look green while testing nothing.
package testutil
