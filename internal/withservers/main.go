// Command withservers starts dynalite, versitygw and s3rver on free loopback ports,
// runs a command with their endpoints in the environment, and stops them.
//
//	go run ./internal/withservers [-cache DIR] -- go test -race ./...
//
// It exits with the command's exit status, and non-zero if a server cannot be
// installed or started (never silently running without one) or died during the
// run (it is restarted on the same port so the rest of the run can go on, but
// whatever it held is gone, so the run does not count as passed). The servers'
// logs are kept under CACHE/server-logs; a failed run prints their last lines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/daylily-informatics/worksetstate/internal/servers"
)

func main() {
	cache := flag.String("cache", ".cache", "folder the servers are installed into")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: withservers [-cache DIR] -- command [args...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(*cache, flag.Args()))
}

func run(cacheDir string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cache, err := filepath.Abs(cacheDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withservers:", err)
		return 1
	}
	srv, err := servers.Start(ctx, cache)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withservers: cannot start the test servers:", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "withservers: dynalite at %s, versitygw at %s, s3rver at %s\n", srv.DynamoDBEndpoint, srv.S3Endpoint, srv.S3rverEndpoint)

	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), srv.Env()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := exitCode(cmd.Run())
	if deaths := srv.Deaths(); len(deaths) > 0 {
		fmt.Fprintf(os.Stderr, "\n!!! withservers: a test server died during the run; the run fails whatever the tests said:\n")
		for _, d := range deaths {
			fmt.Fprintf(os.Stderr, "!!!   %s\n", d)
		}
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "\nwithservers: the run failed (exit %d); the servers' logs are in %s, ending:\n%s", code, srv.LogDir, srv.LogTails())
	}
	return code
}

func exitCode(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "withservers:", err)
		return 1
	}
}
