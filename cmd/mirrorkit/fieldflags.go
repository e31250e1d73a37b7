package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
)

// fieldFlag binds one flag to one field of a T (a site or a mirror). `add` and
// `edit` share the same list, so a field's flag name, parsing and help text are
// written once; a flag is applied only when given, so `edit` changes exactly
// what the user typed.
type fieldFlag[T any] struct {
	name   string
	define func(fs *pflag.FlagSet, defaults *T)
	apply  func(fs *pflag.FlagSet, v *T) error
}

func defineAll[T any](fs *pflag.FlagSet, flags []fieldFlag[T], defaults *T) {
	for _, f := range flags {
		f.define(fs, defaults)
	}
}

func applyAll[T any](fs *pflag.FlagSet, flags []fieldFlag[T], v *T) error {
	for _, f := range flags {
		if !fs.Changed(f.name) {
			continue
		}
		if err := f.apply(fs, v); err != nil {
			return usagef("--%s: %v", f.name, err)
		}
	}
	return nil
}

func stringFlag[T any](name, usage string, get func(*T) string, set func(*T, string)) fieldFlag[T] {
	return fieldFlag[T]{
		name:   name,
		define: func(fs *pflag.FlagSet, d *T) { fs.String(name, get(d), usage) },
		apply: func(fs *pflag.FlagSet, v *T) error {
			s, err := fs.GetString(name)
			set(v, s)
			return err
		},
	}
}

func boolFlag[T any](name, usage string, get func(*T) bool, set func(*T, bool)) fieldFlag[T] {
	return fieldFlag[T]{
		name:   name,
		define: func(fs *pflag.FlagSet, d *T) { fs.Bool(name, get(d), usage) },
		apply: func(fs *pflag.FlagSet, v *T) error {
			b, err := fs.GetBool(name)
			set(v, b)
			return err
		},
	}
}

func intFlag[T any](name, usage string, get func(*T) int64, set func(*T, int64)) fieldFlag[T] {
	return fieldFlag[T]{
		name:   name,
		define: func(fs *pflag.FlagSet, d *T) { fs.Int64(name, get(d), usage) },
		apply: func(fs *pflag.FlagSet, v *T) error {
			n, err := fs.GetInt64(name)
			set(v, n)
			return err
		},
	}
}

// textFlag takes text that set parses into the field; it has no default to
// show, because its empty value means something of its own (clear, no limit).
func textFlag[T any](name, usage string, set func(*T, string) error) fieldFlag[T] {
	return fieldFlag[T]{
		name:   name,
		define: func(fs *pflag.FlagSet, _ *T) { fs.String(name, "", usage) },
		apply: func(fs *pflag.FlagSet, v *T) error {
			s, err := fs.GetString(name)
			if err != nil {
				return err
			}
			return set(v, s)
		},
	}
}

// listFlag takes comma-separated values and may repeat; it replaces the whole
// list, and an empty value clears it.
func listFlag[T any](name, usage string, set func(*T, []string) error) fieldFlag[T] {
	return fieldFlag[T]{
		name:   name,
		define: func(fs *pflag.FlagSet, _ *T) { fs.StringSlice(name, nil, usage) },
		apply: func(fs *pflag.FlagSet, v *T) error {
			raw, err := fs.GetStringSlice(name)
			if err != nil {
				return err
			}
			items := []string{}
			for _, s := range raw {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			return set(v, items)
		},
	}
}

// optionalFloat parses a coordinate; "" clears it.
func optionalFloat(s string) (*float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	return &f, nil
}

// parseASN accepts "64500" and "AS64500".
func parseASN(s string) (uint32, error) {
	t := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "AS")
	n, err := strconv.ParseUint(t, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an AS number", s)
	}
	return uint32(n), nil
}

// parseSize accepts "0", "4294967296", "4GiB", "4 GB", "500M".
func parseSize(s string) (int64, error) {
	n, err := humanize.ParseBytes(strings.TrimSpace(s))
	if err != nil || n > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 4GiB or 700MB", s)
	}
	return int64(n), nil
}

func formatSize(n int64) string {
	if n == 0 {
		return "no limit"
	}
	return humanize.IBytes(uint64(n))
}
