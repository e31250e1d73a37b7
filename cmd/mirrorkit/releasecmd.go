package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/release"
)

func (a *app) releaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Open staged (not world-readable) content to the public: the bit flip",
		Long: `Projects pre-sync a release to their mirrors with its directories closed
(mode 0750): mirrors hold it, nobody can download it. At the release time every
mirror opens it. "release flip" does that for this mirror's tree (chmod -R a+rX,
deepest entries first, so nothing is ever visible half-open), now or at a given
time; "mirrorkit serve" carries out scheduled flips. See docs/release.md.`,
	}
	var root string
	cmd.PersistentFlags().StringVar(&root, "root", "", "the served tree (config serve.root)")
	rootOf := func() (string, error) {
		if root != "" {
			return root, nil
		}
		if a.cfg.Serve.Root == "" {
			return "", usagef("no tree: set serve.root in the config or pass --root DIR")
		}
		return a.cfg.Serve.Root, nil
	}
	cmd.AddCommand(a.releaseFlip(rootOf), a.releaseStatus(rootOf), a.releaseCancel(rootOf))
	return cmd
}

func (a *app) scheduler(root string) *release.Scheduler {
	return &release.Scheduler{Root: root, StateDir: filepath.Join(a.cfg.Serve.StateDir, "release"), Now: a.now, Logger: a.log}
}

func (a *app) releaseFlip(rootOf func() (string, error)) *cobra.Command {
	var at string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "flip PATH [--at TIME]",
		Short: "Make a staged directory and everything under it world-readable, now or at TIME",
		Example: `  mirrorkit release flip releases/42
  mirrorkit release flip releases/42 --at 2026-11-24T14:00:00Z`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootOf()
			if err != nil {
				return err
			}
			if at != "" {
				when, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("--at %q is not a time such as 2026-11-24T14:00:00Z (RFC 3339)", at)
				}
				s, err := a.scheduler(root).Schedule(args[0], when)
				if err != nil {
					return err
				}
				return a.emit(asJSON, s, "%s opens at %s (%s); `mirrorkit serve` carries it out",
					s.Path, s.At.Local().Format(time.RFC3339), humanize.Time(s.At))
			}
			sum, err := release.Flip(cmd.Context(), root, args[0], release.Options{Logger: a.log})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(sum)
			}
			msg := fmt.Sprintf("%s is public: %d entries opened (%d directories, %d files visited) in %s",
				sum.Path, sum.Changed, sum.Dirs, sum.Files, sum.Took.Round(time.Millisecond))
			if sum.Changed == 0 {
				msg = sum.Path + " was already public; nothing changed"
			}
			if len(sum.Unreachable) > 0 {
				msg += fmt.Sprintf("\nwarning: still closed above it: %s; flip those too for the public to reach it",
					strings.Join(sum.Unreachable, ", "))
			}
			_, err = fmt.Fprintln(a.stdout, msg)
			return err
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "flip at this time (RFC 3339) instead of now")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func (a *app) releaseStatus(rootOf func() (string, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List staged directories and scheduled flips",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := rootOf()
			if err != nil {
				return err
			}
			rep, err := release.Status(cmd.Context(), root, a.scheduler(root).StateDir)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(rep)
			}
			rows := [][]string{}
			for _, s := range rep.Staged {
				when := "not scheduled"
				if !s.At.IsZero() {
					when = s.At.Local().Format(time.RFC3339)
				}
				rows = append(rows, []string{s.Path, s.Mode.String(), when})
			}
			fmt.Fprintln(a.stdout, "Staged (closed to the public):")
			if err := a.table([]string{"path", "mode", "opens"}, rows); err != nil {
				return err
			}
			rows = [][]string{}
			for _, s := range rep.Scheduled {
				last := "-"
				if s.LastError != "" {
					last = fmt.Sprintf("%d attempts, last: %s", s.Attempts, s.LastError)
				}
				rows = append(rows, []string{s.Path, s.At.Local().Format(time.RFC3339), humanize.Time(s.At), last})
			}
			fmt.Fprintln(a.stdout, "\nScheduled flips:")
			return a.table([]string{"path", "at", "when", "problems"}, rows)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func (a *app) releaseCancel(rootOf func() (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel PATH",
		Short: "Cancel a scheduled flip",
		Args:  exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootOf()
			if err != nil {
				return err
			}
			s, err := a.scheduler(root).Cancel(args[0])
			if err != nil {
				if errors.Is(err, release.ErrNotScheduled) {
					return codedError{exitNotFound, err}
				}
				return err
			}
			return a.emit(false, nil, "cancelled the flip of %s at %s", s.Path, s.At.Local().Format(time.RFC3339))
		},
	}
}
