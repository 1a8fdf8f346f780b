package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestServeHTTP(t *testing.T) {
	tests := []struct {
		name    string
		end     func(cancel context.CancelFunc, ln net.Listener)
		wantErr bool
	}{
		{"context done: shut down", func(cancel context.CancelFunc, _ net.Listener) { cancel() }, false},
		{"listener fails: an error", func(_ context.CancelFunc, ln net.Listener) { ln.Close() }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- serveHTTP(ctx, zerolog.Nop(), srv, ln) }()
			// Serving: a request is answered.
			resp, err := http.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()
			tc.end(cancel, ln)
			select {
			case err := <-done:
				if (err != nil) != tc.wantErr {
					t.Errorf("serveHTTP() = %v; want error = %v", err, tc.wantErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serveHTTP did not return")
			}
			srv.Close()
		})
	}
}
