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
//
// A store that reads a record, decides and writes it back atomically (under a
// lock, or with a compare-and-swap on its version) needs, per method:
//
//	Register      NormalizeRegister, then NewWorkset
//	Transition    NormalizeTransition, then KeyedTransition with the key kept
//	              beside the record (the key of the write that made the state
//	              what it is; lease writes keep it): a retry returns the record
//	              as it is, else the move is checked and applied and the key
//	              is the request's
//	AcquireLease  ValidateLeaseRequest, then ApplyAcquire
//	RenewLease    ValidateLeaseRequest, then ApplyRenew
//	ReleaseLease  ValidateLeaseRequest, then ApplyRelease
//	Claim         NormalizeClaim, then KeyedClaim with the same kept key
//	Import        ValidateImport, CheckImportReplace, PrepareImport (the
//	              destination's lease and fencing counter are kept)
//	List          NormalizeList; cursors must name a position that survives
//	              worksets leaving the query between pages (an ID, not an offset)
//
// and every method defers WrapContextError. The conformance suite
// (workset/storetest) checks each of these promises, and fails a store that
// breaks one.
package storekit
