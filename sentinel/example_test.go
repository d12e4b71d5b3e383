package sentinel_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// A legacy layout read through the store: precedence decides the state, and
// files in subfolders never count.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sentinel-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, f := range []string{"ws-1/_READY", "ws-1/_ERROR", "ws-1/samples.tsv", "ws-2/_READY", "ws-2/data/_COMPLETE"} {
		p := filepath.Join(dir, "worksets", filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	bucket, err := sentinel.NewDirBucket(dir) // in production: sentinel.NewS3Bucket(client, "my-bucket")
	if err != nil {
		log.Fatal(err)
	}
	store, err := sentinel.New(bucket) // the guide's names and precedence
	if err != nil {
		log.Fatal(err)
	}

	for _, id := range []string{"ws-1", "ws-2"} {
		w, err := store.Get(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(id, w.State)
	}
	// error -> ready writes _READY's new body and removes the masking _ERROR;
	// the empty .worksetstate marks a folder the SDK has written to.
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateReady, Reason: "requeued"}); err != nil {
		log.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "worksets", "ws-1"))
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(" ", e.Name())
	}
	// Output:
	// ws-1 error
	// ws-2 ready
	//   .worksetstate
	//   _READY
	//   samples.tsv
}

// A site's own sentinel names: start from a preset and rename what differs.
// Validate (New calls it) refuses a convention that names two states alike or
// leaves one out of the precedence.
func ExampleNaming() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sentinel-naming-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	naming := sentinel.DaylilyNaming()
	naming.Names[workset.StateReady] = "GO"
	naming.Names[workset.StateLocked] = "claimed.lock"
	bucket, err := sentinel.NewDirBucket(dir)
	if err != nil {
		log.Fatal(err)
	}
	store, err := sentinel.New(bucket, func(o *sentinel.Options) { o.Root, o.Naming = "runs/", naming })
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		log.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "runs", "ws-1"))
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	naming.Names[workset.StateError] = "GO"
	fmt.Println(naming.Validate() != nil)
	// Output:
	// .worksetstate
	// GO
	// true
}
