// Package servers installs and runs the real servers the tests and benchmarks
// talk to: dynalite (DynamoDB) and versitygw (S3), each on a free loopback port,
// and s3rver, an S3 server that ignores conditional writes (a negative target).
//
// Installs go into a cache folder (git-ignored) so they happen once per clone.
// A missing toolchain (node/npm, go) is an error that says what to install.
package servers

import (
	"bytes"
	"context"
	_ "embed"
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
	// S3rverVersion is an S3 emulator that ignores conditional writes
	// (If-None-Match, If-Match): the negative target for the sentinel store's
	// refusal of racy writes.
	S3rverVersion = "3.7.1"
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
	EnvCache            = "WORKSET_TEST_CACHE" // the folder the servers are installed in
	// EnvS3rverEndpoint points at s3rver, an S3 server that ignores
	// conditional writes (any credentials are accepted).
	EnvS3rverEndpoint = "WORKSET_TEST_S3RVER_ENDPOINT"
)

// Servers is a running set of servers.
//
// Each server is supervised for the whole run: one that exits unexpectedly is
// reported on standard error with the end of its log and started again on the
// same port (versitygw keeps its data on disk; dynalite's tables are in memory
// and are lost). Deaths reports what happened, so a harness can fail the run.
type Servers struct {
	DynamoDBEndpoint string
	S3Endpoint       string
	S3rverEndpoint   string

	// LogDir holds each server's log (dynalite.log, versitygw.log). It is under
	// the cache folder and kept after Stop, so a failed run can be read.
	LogDir string

	tmpDir   string
	cacheDir string

	mu       sync.Mutex
	stopping bool
	procs    []*proc
	deaths   []string
}

// proc is one supervised server process.
type proc struct {
	label string
	name  string
	args  []string
	log   string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the supervisor goroutine ends
}

// Env returns the environment variables that point tests at the servers.
func (s *Servers) Env() []string {
	return []string{
		EnvDynamoDBEndpoint + "=" + s.DynamoDBEndpoint,
		EnvS3Endpoint + "=" + s.S3Endpoint,
		EnvS3AccessKey + "=" + S3AccessKey,
		EnvS3SecretKey + "=" + S3SecretKey,
		EnvCache + "=" + s.cacheDir,
		EnvS3rverEndpoint + "=" + s.S3rverEndpoint,
	}
}

// Install makes sure the servers are installed under cacheDir, installing the
// missing ones in parallel. It returns the paths of their executables.
func Install(ctx context.Context, cacheDir string) (dynalite, versitygw, s3rver string, err error) {
	var wg sync.WaitGroup
	var errD, errV, errS error
	wg.Add(3)
	go func() { defer wg.Done(); dynalite, errD = installDynalite(ctx, cacheDir) }()
	go func() { defer wg.Done(); versitygw, errV = installVersitygw(ctx, cacheDir) }()
	go func() {
		defer wg.Done()
		s3rver, errS = installNPM(ctx, cacheDir, "s3rver", S3rverVersion, filepath.Join("node_modules", "s3rver", "bin", "s3rver.js"))
	}()
	wg.Wait()
	return dynalite, versitygw, s3rver, errors.Join(errD, errV, errS)
}

func installDynalite(ctx context.Context, cacheDir string) (string, error) {
	return installNPM(ctx, cacheDir, "dynalite", DynaliteVersion, filepath.Join("node_modules", "dynalite", "cli.js"))
}

// installNPM installs an npm package at version into cacheDir (once) and
// returns the path of its script bin (relative to the install folder).
func installNPM(ctx context.Context, cacheDir, pkg, version, bin string) (string, error) {
	dir := filepath.Join(cacheDir, pkg+"@"+version)
	bin = filepath.Join(dir, bin)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s needs %s, which is not on PATH: install Node.js (e.g. apt-get install nodejs npm)", pkg, tool)
		}
	}
	fmt.Fprintf(os.Stderr, "servers: installing %s@%s into %s\n", pkg, version, dir)
	if err := run(ctx, "", nil, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", pkg+"@"+version); err != nil {
		return "", fmt.Errorf("installing %s: %w", pkg, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s installed but %s is missing: %w", pkg, bin, err)
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
	return startIn(ctx, cacheDir, filepath.Join(cacheDir, "server-logs"))
}

func startIn(ctx context.Context, cacheDir, logDir string) (*Servers, error) {
	dynalite, versitygw, s3rver, err := Install(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	s := &Servers{LogDir: logDir, cacheDir: cacheDir}
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return nil, err
	}
	if s.tmpDir, err = os.MkdirTemp("", "worksetstate-servers-"); err != nil {
		return nil, err
	}
	guard := filepath.Join(s.tmpDir, "dynalite-guard.js")
	if err := os.WriteFile(guard, dynaliteGuard, 0o644); err != nil {
		s.Stop()
		return nil, err
	}
	dport, err := FreePort()
	if err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.spawn("dynalite", "node", "--require", guard, dynalite, "--host", "127.0.0.1", "--port", fmt.Sprint(dport),
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

	rport, err := FreePort()
	if err != nil {
		s.Stop()
		return nil, err
	}
	rdata := filepath.Join(s.tmpDir, "s3rver")
	if err := os.MkdirAll(rdata, 0o755); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.spawn("s3rver", "node", s3rver, "-d", rdata, "-a", "127.0.0.1", "-p", fmt.Sprint(rport), "--allow-mismatched-signatures", "--silent"); err != nil {
		s.Stop()
		return nil, err
	}
	s.S3rverEndpoint = fmt.Sprintf("http://127.0.0.1:%d", rport)

	for _, ep := range []string{s.DynamoDBEndpoint, s.S3Endpoint, s.S3rverEndpoint} {
		if err := waitListening(ctx, strings.TrimPrefix(ep, "http://"), 30*time.Second); err != nil {
			s.Stop()
			return nil, fmt.Errorf("%w\n%s", err, s.LogTails())
		}
	}
	return s, nil
}

// dynaliteGuard keeps dynalite alive when a client aborts a request mid-body
// (see the script for why dynalite 4.0.0 would exit).
//
//go:embed dynalite-guard.js
var dynaliteGuard []byte

// spawn starts a server under supervision, its output appended to its log.
func (s *Servers) spawn(label, name string, args ...string) error {
	p := &proc{label: label, name: name, args: args, log: filepath.Join(s.LogDir, label+".log"), done: make(chan struct{})}
	if err := os.WriteFile(p.log, nil, 0o644); err != nil { // a fresh log per run
		return err
	}
	if err := p.start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go s.supervise(p)
	return nil
}

func (p *proc) start() error {
	logf, err := os.OpenFile(p.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.name, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	logf.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("starting %s: %w", p.label, err)
	}
	p.cmd = cmd
	return nil
}

// supervise waits for the process; an exit before Stop is a death: reported
// loudly with the end of the log, recorded, and followed by a restart.
func (s *Servers) supervise(p *proc) {
	defer close(p.done)
	for restarts := 0; ; restarts++ {
		err := p.cmd.Wait()
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		msg := fmt.Sprintf("%s died during the run (%v)", p.label, err)
		s.deaths = append(s.deaths, msg)
		s.mu.Unlock()
		fmt.Fprintf(os.Stderr, "\n!!! servers: %s; its log is %s, ending:\n%s\n", msg, p.log, tail(p.log, 40))
		if restarts >= 5 {
			fmt.Fprintf(os.Stderr, "!!! servers: %s died %d times; not restarting it again\n", p.label, restarts+1)
			return
		}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		err = p.start()
		s.mu.Unlock()
		if err != nil {
			fmt.Fprintf(os.Stderr, "!!! servers: restarting %s: %v\n", p.label, err)
			return
		}
		fmt.Fprintf(os.Stderr, "!!! servers: %s restarted on the same port (state it held in memory is gone)\n", p.label)
	}
}

// Deaths lists every unexpected exit of a server since Start, oldest first.
func (s *Servers) Deaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deaths...)
}

// LogTails returns the last lines of every server's log, labelled: what a
// failed run prints so the servers' side can be read without looking for it.
func (s *Servers) LogTails() string {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.label, p.log, tail(p.log, 40))
	}
	return b.String()
}

// tail returns the last n lines of a file (or why it cannot be read).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
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

// Stop kills the servers and removes their data; the logs stay in LogDir.
func (s *Servers) Stop() {
	s.mu.Lock()
	s.stopping = true
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
	}
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}
