package workset

// Wrapper is implemented by stores that wrap another (observe.Instrumented,
// dualwrite.Writer, or one of your own): Unwrap returns the store whose
// abilities the wrapper forwards. A wrapper implements every optional
// interface (Scanner, BatchGetter, Importer, Deleter, Claimer) so that it
// keeps what it wraps, so a type assertion on it says nothing: Has says what
// is really there.
type Wrapper interface {
	Unwrap() StateStore
}

// Has reports whether s really has the optional ability T (Scanner,
// BatchGetter, Importer, Deleter or Claimer): s implements it, and so does
// every store it wraps, down to the one that does the work. Scan, GetMany,
// Import, Delete and Claim use it, so a wrapper never claims an ability its
// store lacks (a Claimer's one atomic write, say).
func Has[T any](s StateStore) bool {
	for s != nil {
		if _, ok := s.(T); !ok {
			return false
		}
		w, ok := s.(Wrapper)
		if !ok {
			return true
		}
		s = w.Unwrap()
	}
	return false
}
