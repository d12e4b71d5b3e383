// Command migrate shows the migrate package on the embedded default, with no
// servers: a sentinel layout in a local directory, as the legacy monitors
// leave it, planned, applied and verified into an in-memory store.
//
//	go run ./examples/migrate
//
// The operator's tool for real buckets and tables is worksetctl
// (cmd/worksetctl): worksetctl migrate plan|apply|verify|rollback|cleanup.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

func main() {
	if len(os.Args) > 1 {
		// The migration CLI that lived here moved: never run the example in
		// its place with the flags meant for a real bucket.
		fmt.Fprintf(os.Stderr, "migrate: this example takes no arguments (got %q); the migration CLI is worksetctl:\n  go run ./cmd/worksetctl migrate %s\n", os.Args[1:], strings.Join(os.Args[1:], " "))
		os.Exit(2)
	}
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "migrate-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bucket, err := sentinel.NewDirBucket(dir)
	if err != nil {
		return err
	}
	// Three worksets as the guide's monitors left them: a finished one with
	// its old _READY still there, one in error, one waiting.
	for key, body := range map[string]string{
		"worksets/ws-001/_READY":    "2025-01-02T03:04:05Z",
		"worksets/ws-001/_COMPLETE": "2025-01-02T09:00:00Z",
		"worksets/ws-002/_ERROR":    "2025-01-03T10:00:00Z\tbwa exited 137",
		"worksets/ws-003/_READY":    "2025-01-04T08:00:00Z",
	} {
		if _, err := bucket.Create(ctx, key, sentinel.Content{Body: []byte(body)}); err != nil {
			return err
		}
	}
	src, err := sentinel.New(bucket)
	if err != nil {
		return err
	}
	dst, err := memstore.New()
	if err != nil {
		return err
	}
	m, err := migrate.New(src, dst)
	if err != nil {
		return err
	}
	plan, err := m.Plan(ctx, func(d migrate.Difference) error {
		fmt.Printf("plan:   %s %s (%s)\n", d.WorksetID, d.Kind, d.SourceState)
		return nil
	})
	if err != nil {
		return err
	}
	applied, err := m.Apply(ctx, nil)
	if err != nil {
		return err
	}
	verified, err := m.Verify(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Printf("planned %d, created %d, discrepancies after apply: %d\n", plan.Seen, applied.Outcomes[migrate.OutcomeCreated], verified.Discrepancies())
	return nil
}
