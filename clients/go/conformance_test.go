package retryd_test

// clients/conformance/cases.json: every case the Go way, against a live
// retryd started with the table's configuration.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"retryd.dev/go/retryd"
)

type conformance struct {
	Config string `json:"config"`
	Cases  []struct {
		ID      string                     `json:"id"`
		Provoke map[string]json.RawMessage `json:"provoke"`
		Expect  expectation                `json:"expect"`
		Go      []raising                  `json:"go"`
	} `json:"cases"`
}

type expectation struct {
	Retry        bool    `json:"retry"`
	ErrorClass   string  `json:"error_class"`
	Category     string  `json:"category"`
	Reason       *string `json:"reason"`
	RetryAfterMs *int64  `json:"retry_after_ms"`
}

type raising struct {
	Via             string       `json:"via"`
	Type            string       `json:"type"`
	Message         string       `json:"message"`
	HTTPStatus      int          `json:"http_status"`
	GRPCCode        int          `json:"grpc_code"`
	RetryAfterMs    *int64       `json:"retry_after_ms"`
	RetryPushbackMs *int64       `json:"retry_pushback_ms"`
	Expect          *expectation `json:"expect"`
}

// provoked is an error as Go code meets it, with the options its caller
// passes along (a gRPC call's trailer).
type provoked struct {
	err  error
	opts []retryd.Option
}

func TestConformance(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "clients", "conformance", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table conformance
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	if len(table.Cases) == 0 {
		t.Fatal("cases.json has no cases")
	}
	side := startRetryd(t, table.Config, "127.0.0.1:0")
	client := newClient(t, side.Addr)
	for _, c := range table.Cases {
		c := c
		if len(c.Go) == 0 {
			t.Errorf("case %s has no Go raising", c.ID)
			continue
		}
		for _, r := range c.Go {
			r := r
			t.Run(c.ID+"/"+r.Via, func(t *testing.T) {
				kind := str(t, c.Provoke, "kind")
				p := provoke(t, kind, r.Via, c.Provoke)
				want := c.Expect
				if r.Expect != nil {
					want = *r.Expect
				}
				checkSent(t, retryd.ErrorInfoOf(p.err, p.opts...), r)
				ctx := ctxT(t)
				id := jobID("conformance-" + c.ID)
				d, err := client.Explain(ctx, id, p.err, append(p.opts, retryd.WithAttempt(1))...)
				if err != nil {
					t.Fatalf("Explain: %v", err)
				}
				checkDecision(t, "Explain", d, want)
				d, err = client.ReportFailure(ctx, id, p.err, append(p.opts, retryd.WithAttempt(1))...)
				if err != nil {
					t.Fatalf("ReportFailure: %v", err)
				}
				checkDecision(t, "ReportFailure", d, want)
				job, err := client.GetJob(ctx, id)
				if err != nil || job == nil {
					t.Fatalf("GetJob: %v, %v", job, err)
				}
				e := job.LastError
				if e.Type != r.Type || !fullMatch(r.Message, e.Message) || e.HTTPStatus != r.HTTPStatus || int(e.GRPCCode) != r.GRPCCode {
					t.Errorf("retryd holds %+v, want type %q, message /%s/, http %d, grpc %d", e, r.Type, r.Message, r.HTTPStatus, r.GRPCCode)
				}
			})
		}
	}
}

func checkSent(t *testing.T, info retryd.ErrorInfo, r raising) {
	t.Helper()
	if info.Type != r.Type {
		t.Errorf("type %q, want %q", info.Type, r.Type)
	}
	if !fullMatch(r.Message, info.Message) {
		t.Errorf("message %q does not match /%s/", info.Message, r.Message)
	}
	if info.HTTPStatus != r.HTTPStatus || int(info.GRPCCode) != r.GRPCCode {
		t.Errorf("http %d grpc %d, want %d %d", info.HTTPStatus, info.GRPCCode, r.HTTPStatus, r.GRPCCode)
	}
	switch {
	case r.RetryAfterMs == nil && info.HasRetryAfter:
		t.Errorf("retry-after %v sent, want none", info.RetryAfter)
	case r.RetryAfterMs != nil && (!info.HasRetryAfter || info.RetryAfter != time.Duration(*r.RetryAfterMs)*time.Millisecond):
		t.Errorf("retry-after %v (sent %v), want %dms", info.RetryAfter, info.HasRetryAfter, *r.RetryAfterMs)
	}
	sentPushback := info.HasPushback && info.PushbackMs < 0
	switch {
	case r.RetryPushbackMs == nil && sentPushback:
		t.Errorf("pushback %d sent, want none", info.PushbackMs)
	case r.RetryPushbackMs != nil && (!sentPushback || info.PushbackMs != *r.RetryPushbackMs):
		t.Errorf("pushback %d (sent %v), want %d", info.PushbackMs, sentPushback, *r.RetryPushbackMs)
	}
}

func checkDecision(t *testing.T, what string, d retryd.Decision, want expectation) {
	t.Helper()
	reason := ""
	if want.Reason != nil {
		reason = *want.Reason
	}
	if d.Retry != want.Retry || d.ErrorClass != want.ErrorClass || d.Category != want.Category || d.Reason != reason {
		t.Errorf("%s: retry %v class %q category %q reason %q, want %v %q %q %q (%s)",
			what, d.Retry, d.ErrorClass, d.Category, d.Reason, want.Retry, want.ErrorClass, want.Category, reason, d.Explanation)
	}
	if want.RetryAfterMs != nil && d.RetryAfter != time.Duration(*want.RetryAfterMs)*time.Millisecond {
		t.Errorf("%s: retry after %v, want %dms (%s)", what, d.RetryAfter, *want.RetryAfterMs, d.Explanation)
	}
}

func fullMatch(pattern, s string) bool {
	return regexp.MustCompile(`^(?:` + pattern + `)$`).MatchString(s)
}

func str(t *testing.T, m map[string]json.RawMessage, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m[key], &s); err != nil {
		t.Fatalf("provoke.%s: %v", key, err)
	}
	return s
}

// ValidationError is the application's own validation error.
type ValidationError struct{ Reason string }

func (e *ValidationError) Error() string { return e.Reason }

func provoke(t *testing.T, kind, via string, args map[string]json.RawMessage) provoked {
	t.Helper()
	unknown := func() provoked {
		t.Fatalf("provoke kind %q via %q: the Go conformance test has no code for it", kind, via)
		return provoked{}
	}
	switch kind {
	case "refused":
		addr := closedPort(t)
		switch via {
		case "net.Dial":
			_, err := net.Dial("tcp", addr)
			return must(t, err)
		case "http.Get":
			_, err := http.Get("http://" + addr + "/")
			return must(t, err)
		}
	case "reset":
		if via == "net.Dial" {
			conn, err := net.Dial("tcp", resetServer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("hello\n")); err != nil {
				t.Fatal(err)
			}
			_, err = conn.Read(make([]byte, 16))
			return must(t, err)
		}
	case "dns":
		if via == "net.LookupHost" {
			_, err := net.LookupHost(str(t, args, "host"))
			return must(t, err)
		}
	case "timeout":
		var ms int
		if err := json.Unmarshal(args["after_ms"], &ms); err != nil {
			t.Fatal(err)
		}
		after := time.Duration(ms) * time.Millisecond
		addr := blackHole(t)
		switch via {
		case "net.Dial":
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(after))
			_, err = conn.Read(make([]byte, 16))
			return must(t, err)
		case "http.Get":
			_, err := (&http.Client{Timeout: after}).Get("http://" + addr + "/")
			return must(t, err)
		case "context":
			ctx, cancel := context.WithTimeout(context.Background(), after)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
			_, err := http.DefaultClient.Do(req)
			return must(t, err)
		}
	case "tls_untrusted":
		if via == "tls.Dial" {
			conn, err := tls.Dial("tcp", tlsServer(t), &tls.Config{ServerName: "localhost"})
			if err == nil {
				conn.Close()
			}
			return must(t, err)
		}
	case "http":
		if via == "http.Get" {
			var status int
			var headers map[string]string
			if err := json.Unmarshal(args["status"], &status); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(args["headers"], &headers); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(httpServer(t, status, headers) + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return provoked{err: retryd.ResponseError(resp)}
		}
	case "grpc":
		if via == "grpc-go" {
			var trailers map[string]string
			if err := json.Unmarshal(args["trailers"], &trailers); err != nil {
				t.Fatal(err)
			}
			code := codeByName(t, str(t, args, "code"))
			addr := failingGRPCServer(t, code, str(t, args, "message"), metadata.New(trailers))
			conn, err := grpc.Dial(addr, grpc.WithInsecure())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var trailer metadata.MD
			err = conn.Invoke(ctxT(t), "/downstream.v1.Orders/Place", &emptypb.Empty{}, &emptypb.Empty{}, grpc.Trailer(&trailer))
			if err == nil {
				t.Fatal("the call succeeded")
			}
			return provoked{err: err, opts: []retryd.Option{retryd.WithTrailer(trailer)}}
		}
	case "exec_denied":
		if via == "os/exec" {
			return must(t, exec.Command(notExecutable(t)).Run())
		}
	case "validation":
		if via == "type" {
			return must(t, fmt.Errorf("charge: %w", &ValidationError{Reason: str(t, args, "message")}))
		}
	case "bad_value":
		if via == "strconv.Atoi" {
			_, err := strconv.Atoi(str(t, args, "value"))
			return must(t, err)
		}
	}
	return unknown()
}

func must(t *testing.T, err error) provoked {
	t.Helper()
	if err == nil {
		t.Fatal("no error was provoked")
	}
	return provoked{err: err}
}

func codeByName(t *testing.T, name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if grpcName(c) == name {
			return c
		}
	}
	t.Fatalf("unknown gRPC code %q", name)
	return codes.Unknown
}

func grpcName(c codes.Code) string {
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	return names[c]
}

func notExecutable(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsServer completes TLS handshakes with the table's self-signed certificate.
func tlsServer(t *testing.T) string {
	dir := filepath.Join(repoRoot(t), "clients", "conformance", "tls")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// httpServer answers every request with status and headers.
func httpServer(t *testing.T, code int, headers map[string]string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// failingGRPCServer answers every call with code, message and trailers.
func failingGRPCServer(t testing.TB, code codes.Code, message string, trailers metadata.MD) string {
	return startGRPC(t, func(stream grpc.ServerStream) error {
		stream.SetTrailer(trailers)
		return status.Error(code, message)
	})
}

// startGRPC serves every method with handle until the test ends.
func startGRPC(t testing.TB, handle func(grpc.ServerStream) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ interface{}, stream grpc.ServerStream) error {
		return handle(stream)
	}))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}
