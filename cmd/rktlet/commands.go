package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/rktlet"
)

// configCommand is `rktlet config default` and `rktlet config check FILE`.
func configCommand(args []string, out io.Writer) error {
	switch {
	case len(args) == 1 && args[0] == "default":
		_, err := io.WriteString(out, config.DefaultTOML())
		return err
	case len(args) == 2 && args[0] == "check":
		problems := config.Check(args[1])
		for _, p := range problems {
			fmt.Fprintln(out, p)
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s: %d problem(s)", args[1], len(problems))
		}
		fmt.Fprintf(out, "%s: ok\n", args[1])
		return nil
	}
	return errors.New("usage: rktlet config default | rktlet config check FILE")
}

// wantsVersion tells whether --version is among the flags.
func wantsVersion(args []string) bool {
	return slices.Contains(args, "--version") || slices.Contains(args, "-version")
}

// printVersion prints rktlet's version, the rkt the configuration (file and
// the other flags given) points at and its version, and the CRI served.
func printVersion(args []string, out io.Writer) error {
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--version" || a == "-version" })
	cfg, err := config.Load(args, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rktlet %s\n", rktlet.Version)
	fmt.Fprintf(out, "CRI: runtime.v1 (k8s.io/cri-api %s)\n", moduleVersion("k8s.io/cri-api"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := (&cli.Rkt{Path: cfg.RktPath, DataDir: cfg.RktDataDir}).Version(ctx); err != nil {
		fmt.Fprintf(out, "rkt: %s: not usable: %v\n", cfg.RktPath, err)
	} else {
		fmt.Fprintf(out, "rkt: %s: %s\n", cfg.RktPath, v.Rkt)
	}
	fmt.Fprintf(out, "stage1: %s\n", cfg.Stage1Path)
	return nil
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "(unknown)"
}
