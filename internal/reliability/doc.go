// Package reliability holds the tests that would catch the SDK breaking its
// promise: a migration loses nothing and two monitors never own the same
// workset. They run against dynalite and versitygw under injected faults (see
// internal/transport.Faults), check linearizability with porcupine, and
// exercise bad input. RELIABILITY.md lists them with their figures.
package reliability
