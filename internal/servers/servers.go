// Package servers installs and runs the real servers the tests and benchmarks
// talk to: dynalite (DynamoDB) and versitygw (S3), each on a free loopback port.
//
// Installs go into a cache folder (git-ignored) so they happen once per clone.
// A missing toolchain (node/npm, go) is an error that says what to install.
package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Pinned versions.
const (
	DynaliteVersion  = "4.0.0"
	VersitygwVersion = "v1.8.0"
)

// Credentials the S3 server is started with (dummy, loopback only).
const (
	S3AccessKey = "worksetstate-test"
	S3SecretKey = "worksetstate-test-secret"
)

// S3Region is the region the S3 server signs for (the CLI's default region).
const S3Region = "us-west-2"

// Env names the tests read.
const (
	EnvDynamoDBEndpoint = "WORKSET_TEST_DYNAMODB_ENDPOINT"
	EnvS3Endpoint       = "WORKSET_TEST_S3_ENDPOINT"
	EnvS3AccessKey      = "WORKSET_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey      = "WORKSET_TEST_S3_SECRET_KEY"
)

// Servers is a running set of servers.
type Servers struct {
	DynamoDBEndpoint string
	S3Endpoint       string

	procs  []*exec.Cmd
	tmpDir string
}

// Env returns the environment variables that point tests at the servers.
func (s *Servers) Env() []string {
	return []string{
		EnvDynamoDBEndpoint + "=" + s.DynamoDBEndpoint,
		EnvS3Endpoint + "=" + s.S3Endpoint,
		EnvS3AccessKey + "=" + S3AccessKey,
		EnvS3SecretKey + "=" + S3SecretKey,
	}
}

// Install makes sure both servers are installed under cacheDir, installing them
// in parallel when missing. It returns the paths of the two executables.
func Install(ctx context.Context, cacheDir string) (dynalite, versitygw string, err error) {
	var wg sync.WaitGroup
	var errD, errV error
	wg.Add(2)
	go func() { defer wg.Done(); dynalite, errD = installDynalite(ctx, cacheDir) }()
	go func() { defer wg.Done(); versitygw, errV = installVersitygw(ctx, cacheDir) }()
	wg.Wait()
	return dynalite, versitygw, errors.Join(errD, errV)
}

func installDynalite(ctx context.Context, cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, "dynalite@"+DynaliteVersion)
	bin := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("dynalite needs %s, which is not on PATH: install Node.js (e.g. apt-get install nodejs npm)", tool)
		}
	}
	fmt.Fprintf(os.Stderr, "servers: installing dynalite@%s into %s\n", DynaliteVersion, dir)
	if err := run(ctx, "", nil, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "dynalite@"+DynaliteVersion); err != nil {
		return "", fmt.Errorf("installing dynalite: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("dynalite installed but %s is missing: %w", bin, err)
	}
	return bin, nil
}

func installVersitygw(ctx context.Context, cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, "versitygw@"+VersitygwVersion)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", errors.New("versitygw is built with go, which is not on PATH")
	}
	fmt.Fprintf(os.Stderr, "servers: building versitygw@%s into %s (the first build takes a few minutes)\n", VersitygwVersion, dir)
	env := []string{"GOBIN=" + dir}
	if err := run(ctx, "", env, "go", "install", "github.com/versity/versitygw/cmd/versitygw@"+VersitygwVersion); err != nil {
		return "", fmt.Errorf("building versitygw: %w", err)
	}
	return bin, nil
}

func run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start installs (if needed) and starts both servers on free loopback ports and
// waits until they accept connections. Call Stop when done.
func Start(ctx context.Context, cacheDir string) (*Servers, error) {
	dynalite, versitygw, err := Install(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	s := &Servers{}
	if s.tmpDir, err = os.MkdirTemp("", "worksetstate-servers-"); err != nil {
		return nil, err
	}
	dport, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := s.spawn("dynalite", "node", dynalite, "--host", "127.0.0.1", "--port", fmt.Sprint(dport),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"); err != nil {
		s.Stop()
		return nil, err
	}
	s.DynamoDBEndpoint = fmt.Sprintf("http://127.0.0.1:%d", dport)

	sport, err := FreePort()
	if err != nil {
		s.Stop()
		return nil, err
	}
	data := filepath.Join(s.tmpDir, "s3")
	if err := os.MkdirAll(data, 0o755); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.spawn("versitygw", versitygw, "--access", S3AccessKey, "--secret", S3SecretKey,
		"--port", fmt.Sprintf("127.0.0.1:%d", sport), "--region", S3Region, "--keep-alive", "--quiet", "posix", data); err != nil {
		s.Stop()
		return nil, err
	}
	s.S3Endpoint = fmt.Sprintf("http://127.0.0.1:%d", sport)

	for _, ep := range []string{s.DynamoDBEndpoint, s.S3Endpoint} {
		if err := waitListening(ctx, strings.TrimPrefix(ep, "http://"), 30*time.Second); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *Servers) spawn(label, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	logf, err := os.Create(filepath.Join(s.tmpDir, label+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", label, err)
	}
	s.procs = append(s.procs, cmd)
	return nil
}

func waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s did not start within %v: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the servers and removes their data.
func (s *Servers) Stop() {
	for _, p := range s.procs {
		if p.Process != nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	s.procs = nil
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}
