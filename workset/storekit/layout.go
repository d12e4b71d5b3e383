package storekit

import "context"

// LayoutReport is what a store found in the layout it reads, before a run:
// for the sentinel store, the folders under its root. The Migrator reports it
// beside every plan, apply, verify and cleanup.
type LayoutReport struct {
	// Folders is how many places that could hold a workset were seen.
	Folders int `json:"folders"`
	// Worksets is how many of them the store recognises as worksets.
	Worksets int `json:"worksets"`
	// NoSentinel is how many hold no sentinel (recognised or skipped, per
	// the store's no-sentinel policy).
	NoSentinel int `json:"no_sentinel"`
	// Skipped counts the folders the store does not read, by reason, and
	// Examples names a few of each.
	Skipped  map[string]int      `json:"skipped,omitempty"`
	Examples map[string][]string `json:"examples,omitempty"`
}

// LayoutChecker is implemented by stores that can check, before a run, that
// they read the layout they are pointed at (the sentinel store: its naming
// against the sentinel names its folders hold). CheckLayout returns the
// report, and an error (ErrInvalidInput, naming the counts) when the store
// would misread what it found; the Migrator then refuses to run, writing
// nothing.
type LayoutChecker interface {
	CheckLayout(ctx context.Context) (*LayoutReport, error)
}
