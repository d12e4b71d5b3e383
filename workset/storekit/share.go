package storekit

import (
	"context"
	"sync"
)

// MaxSharedReads bounds the reads a ShareReads context holds at once; past
// it, a pass reads for itself.
const MaxSharedReads = 100_000

type shareKey struct{}

type readShare struct {
	mu sync.Mutex
	m  map[string]*sharedRead
}

type sharedRead struct {
	done chan struct{}
	v    any
	err  error
}

// ShareReads returns a context under which two passes of one operation read
// each thing once between them: the first to ask for a key (ShareRead)
// reads it, and the other, asking meanwhile or later, gets that read. The
// Migrator's dry run puts its layout check and its pass under one, so that a
// store that lists the same folders for both (the sentinel store) lists each
// once. A shared read was made during the operation, never before it;
// nothing is shared outside it.
func ShareReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, shareKey{}, &readShare{m: map[string]*sharedRead{}})
}

// ShareRead returns what read returns for key, reading it only if the other
// pass under ctx has not (without ShareReads, it just reads). Keys name what
// is read and where (a bucket and a key), so that two stores never share a
// read. A read that failed is not shared: the other pass reads for itself.
func ShareRead(ctx context.Context, key string, read func() (any, error)) (any, error) {
	s, ok := ctx.Value(shareKey{}).(*readShare)
	if !ok {
		return read()
	}
	s.mu.Lock()
	if e, ok := s.m[key]; ok { // the other pass's read: take it
		delete(s.m, key)
		s.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return read()
		}
		return e.v, nil
	}
	if len(s.m) >= MaxSharedReads {
		s.mu.Unlock()
		return read()
	}
	e := &sharedRead{done: make(chan struct{})}
	s.m[key] = e
	s.mu.Unlock()
	e.v, e.err = read()
	close(e.done)
	return e.v, e.err
}
