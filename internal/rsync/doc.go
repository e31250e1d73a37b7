// Package rsync runs the real rsync program and makes sense of what it says:
// command lines, supervision of the child process (streaming its output,
// killing it and its helpers on cancellation), rsync's exit codes, and parsers
// for its output.
//
// mirrorkit never speaks the rsync protocol itself. The protocol is large,
// versioned and full of corner cases that rsync's own client already handles
// against every daemon in the wild, so this package wraps the binary instead
// and owns everything that is specific to doing that well: a listing is parsed
// as it streams out of a running rsync (a mirror's tree can have hundreds of
// thousands of lines), rsync's file-name escapes are undone byte for byte,
// passwords travel only through the environment, and a failure carries
// rsync's exit code, its documented meaning and rsync's own last words.
//
// Output formats are those of rsync 3.1 and later run with --no-h, in the C
// locale and with TZ=UTC, which Run always sets in the child's environment.
package rsync
