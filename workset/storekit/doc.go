// Package storekit is the kit for writing a workset.StateStore: the contract's
// rules as functions (CheckTransition, CheckAcquire, ApplyTransition, ...), the
// value model, the deployed attribute names and time format, and the
// projection that compares records across stores.
//
// Users of a store never need it. Authors of a store do, and third-party
// stores are a goal: this package is public, follows the module's
// compatibility promise, and a store built on it passes the conformance suite
// in workset/storetest as the stores of this module do. memstore is the
// shortest complete example; dynamostore shows how to put the same rules
// inside conditional writes and call them only to explain a refusal.
package storekit
