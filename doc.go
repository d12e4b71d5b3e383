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
//   - workset/storetest: the conformance suite every store passes.
//   - sentinel: the legacy S3-sentinel layout behind the same interface.
//   - dualwrite: a StateStore writing both stores during the migration.
//   - migrate: plan, apply, verify, roll back and clean up between two stores.
//   - monitor: the loop a worker embeds (claim, keep the lease alive, record
//     success or failure with retries, shut down cleanly).
//   - observe: events, slog, CloudWatch EMF metrics, queue depth; notify: SNS.
//   - api: the deployed HTTP API over any store.
//   - examples/: runnable programs (quickstart, migrate CLI, monitor, api).
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
