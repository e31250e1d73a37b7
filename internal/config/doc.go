// Package config is mirrorkit's configuration: one TOML file, overridden by
// MIRRORKIT_<SECTION>_<KEY> environment variables, overridden in turn by
// command-line flags. Every problem (a syntax error, an unknown key, a wrong type,
// a value out of range) is reported with the key and where it came from (file and
// line, variable, or flag), all at once, and nothing starts on a bad config.
//
// docs/mirrorkit.example.toml documents every key with its default; a test keeps
// it equal to Default().
package config
