package storekit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Two passes under ShareReads read each key once between them, whichever
// asks first, even at the same time; a failed read is not shared; without
// ShareReads nothing is.
func TestShareRead(t *testing.T) {
	var reads atomic.Int64
	read := func(v string) func() (any, error) {
		return func() (any, error) { reads.Add(1); return v, nil }
	}
	ctx := storekit.ShareReads(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range []string{"a", "b", "c"} {
				if v, err := storekit.ShareRead(ctx, k, read(k)); err != nil || v != k {
					t.Errorf("ShareRead(%s) = %v, %v", k, v, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := reads.Load(); n != 3 {
		t.Errorf("two passes made %d reads of 3 keys, want 3", n)
	}
	// A third ask reads again: each read serves one other pass.
	if _, _ = storekit.ShareRead(ctx, "a", read("a")); reads.Load() != 4 {
		t.Errorf("a third ask shared a read already taken")
	}
	boom := errors.New("boom")
	if _, err := storekit.ShareRead(ctx, "x", func() (any, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if v, err := storekit.ShareRead(ctx, "x", read("x")); err != nil || v != "x" {
		t.Errorf("after a failed read the other pass got %v, %v; want its own read", v, err)
	}
	reads.Store(0)
	plain := context.Background()
	storekit.ShareRead(plain, "a", read("a"))
	storekit.ShareRead(plain, "a", read("a"))
	if reads.Load() != 2 {
		t.Errorf("without ShareReads reads were shared")
	}
}
