// Package worksetstate moves the state of daylily worksets off S3 sentinel files
// and onto DynamoDB, safely and in phases, without stopping work.
//
// # The problem
//
// A workset is a folder of input data in S3. Legacy monitors track its state with
// empty sentinel objects under its prefix (_READY, _LOCKED, daylily.lock, ...).
// That is racy (two monitors can both "claim" a workset), has no audit trail and
// cannot be queried. DynamoDB gives atomic conditional writes, history and a
// priority-ordered queue.
//
// # The packages
//
//   - workset: the contract. States, priorities, the transition graph, leases with
//     fencing tokens, errors, and the StateStore interface every backend implements.
//   - workset/memstore: an in-memory StateStore (the embedded default; not durable).
//   - workset/dynamostore: the DynamoDB StateStore, item-compatible with the
//     deployed daylily-worksets table.
//   - workset/storekit: the kit for writing a store (the rules as functions, the
//     value model, the deployed names); workset/storetest: the conformance suite
//     every store passes, ours and third-party ones.
//   - retry: the retry policy of failed worksets (Record, Due).
//   - sentinel: the legacy S3-sentinel layout behind the same interface.
//   - dualwrite: dualwrite.Writer, a StateStore writing both stores during the
//     migration (the guide's DualWriter).
//   - migrate: plan, apply, verify, roll back and clean up between two stores.
//   - monitor: the loop a worker embeds (claim, keep the lease alive, record
//     success or failure with retries, shut down cleanly).
//   - observe: events, slog, CloudWatch EMF metrics, queue depth; notify: SNS.
//   - api: the deployed HTTP API over any store.
//   - examples/: runnable programs (quickstart, migrate CLI, monitor, api).
//
// # What each store keeps and guarantees
//
// workset.Capabilities, as each store reports it (Example_capabilities prints
// this table from the stores themselves). Kept parts are History, Priority,
// Metadata (with Metrics, ErrorDetails, ClusterName and Attributes), Versions,
// Timestamps, Location (Bucket and Prefix as given) and Retries; guarantees are
// AtomicLeases (every write checked and applied atomically; never two live
// leases) and Durable.
//
//	store                        kept                          atomic  durable
//	memstore                     everything                    yes     no
//	dynamostore                  everything                    yes     yes
//	sentinel over S3             state, retries, leases        yes(1)  yes
//	sentinel over a directory    state, retries, leases        yes(2)  yes
//	sentinel, AllowRacyWrites    state, retries, leases        no(3)   yes
//	dualwrite.Writer             the authoritative store's row (4)
//
// (1) On an endpoint without conditional writes every write is refused
// (ErrUnsupported), so whatever is written is atomic; sentinel.Open checks the
// endpoint at construction. (2) Within one process; across processes on one
// machine creation is atomic and replacement is not (see sentinel.DirBucket).
// (3) sentinel.Open with AllowRacyWrites reports yes when its probe found
// conditional writes. (4) The sentinel store's in legacy-only and
// legacy-primary, the new store's in new-primary and new-only: the only
// Capabilities that change after construction, with Writer.SetPhase.
//
// # The four phases
//
//  1. Legacy authoritative: monitors use a DualWriter that reads and writes the
//     sentinel store first and mirrors every change to DynamoDB.
//  2. Backfill: the Migrator copies every existing workset to DynamoDB (dry run,
//     apply, verify) while monitors keep working.
//  3. DynamoDB authoritative: the DualWriter switches at run time; sentinels are
//     still written as the rollback copy. Rollback is the Migrator run backwards.
//  4. DynamoDB only: monitors use the DynamoDB store directly; the Migrator's
//     cleanup removes the sentinel files it verified.
//
// Start with the quickstart: go run ./examples/quickstart.
package worksetstate
