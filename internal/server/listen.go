package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ListenOptions configure the HTTP server around a Server.
type ListenOptions struct {
	Addr            string
	TLS             *tls.Certificate // nil: plain HTTP
	ReadTimeout     time.Duration    // whole request incl. body
	WriteTimeout    time.Duration    // whole response incl. streams
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration // how long in-flight streams may drain
	// Ready is called with the URL once the listener is open.
	Ready func(url string)
	// Listener, when set, is served instead of listening on Addr (the
	// caller opened it early, e.g. to learn the port of ":0").
	Listener net.Listener
}

// Serve listens and serves until ctx is done, then shuts down gracefully:
// no new connections, in-flight requests (streams included) drain for up to
// ShutdownTimeout, then the rest are closed.
func Serve(ctx context.Context, h http.Handler, o ListenOptions) error {
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Addr); err != nil {
			return fmt.Errorf("server: listen on %s: %w", o.Addr, err)
		}
	}
	scheme := "http"
	if o.TLS != nil {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*o.TLS}, MinVersion: tls.VersionTLS12})
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if o.Ready != nil {
		o.Ready(fmt.Sprintf("%s://%s", scheme, displayAddr(ln.Addr())))
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("server: shutdown: streams still open after %s were closed", o.ShutdownTimeout)
		}
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

func displayAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	return ta.String()
}
