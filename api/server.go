package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ServerOptions bound what one client can hold. The defaults suit an API whose
// requests are small and quick; every value can be changed.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, so a client
	// sending its body slowly is cut off (default 30s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (default 60s).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (default 60s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers (default 64 KiB).
	MaxHeaderBytes int
	// ShutdownTimeout bounds a graceful shutdown: in-flight requests get this
	// long to finish (default 15s).
	ShutdownTimeout time.Duration
}

// DefaultServerOptions returns the defaults documented on ServerOptions.
func DefaultServerOptions() ServerOptions {
	return ServerOptions{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10, ShutdownTimeout: 15 * time.Second}
}

// NewServer returns an http.Server for h with every timeout and the header
// limit set from o (zero fields take the defaults).
func NewServer(h http.Handler, o ServerOptions) *http.Server {
	d := DefaultServerOptions()
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return &http.Server{Handler: h,
		ReadHeaderTimeout: pick(o.ReadHeaderTimeout, d.ReadHeaderTimeout), ReadTimeout: pick(o.ReadTimeout, d.ReadTimeout),
		WriteTimeout: pick(o.WriteTimeout, d.WriteTimeout), IdleTimeout: pick(o.IdleTimeout, d.IdleTimeout),
		MaxHeaderBytes: o.MaxHeaderBytes}
}

// Serve serves h on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish (up to o.ShutdownTimeout) and
// closes idle connections. It returns nil after a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o ServerOptions) error {
	srv := NewServer(h, o)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := o.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultServerOptions().ShutdownTimeout
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("api: graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
