// Command withservers starts dynalite and versitygw on free loopback ports,
// runs a command with their endpoints in the environment, and stops them.
//
//	go run ./internal/withservers [-cache DIR] -- go test -race ./...
//
// It exits with the command's exit status, and non-zero if a server cannot be
// installed or started (never silently running without one).
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
	fmt.Fprintf(os.Stderr, "withservers: dynalite at %s, versitygw at %s\n", srv.DynamoDBEndpoint, srv.S3Endpoint)

	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), srv.Env()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
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
