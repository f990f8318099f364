package retryd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"retryd.dev/go/retryd"
)

func TestTransientFailureGetsARetry(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	before := time.Now()
	err := fmt.Errorf("charge: %w", syscall.ECONNRESET)
	d, e := c.ReportFailure(ctxT(t), jobID("t"), err, retryd.WithJobType("invoice"), retryd.WithAttempt(1))
	if e != nil {
		t.Fatal(e)
	}
	if !d.Retry || d.RetryAfter != delay || d.Reason != "" || d.Local {
		t.Fatalf("%+v", d)
	}
	if d.RetryAt.Before(before) || d.RetryAt.After(before.Add(5*time.Second)) {
		t.Errorf("retry at %v", d.RetryAt)
	}
	if d.FailureCount != 1 || d.MaxAttempts != maxAttempts || d.ErrorClass != "transient" || d.Category != "network" || d.Policy != "default" {
		t.Errorf("%+v", d)
	}
	if !contains(d.Explanation, "ECONNRESET") {
		t.Errorf("explanation %q", d.Explanation)
	}
}

func TestRetriesRunOutAndTheJobIsDead(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	id := jobID("exhaust")
	for n := 1; n <= maxAttempts; n++ {
		d, err := c.ReportFailure(ctxT(t), id, context.DeadlineExceeded, retryd.WithAttempt(n))
		if err != nil {
			t.Fatal(err)
		}
		if d.Retry != (n < maxAttempts) || d.FailureCount != n || d.Category != "timeout" {
			t.Fatalf("attempt %d: %+v", n, d)
		}
		if n == maxAttempts && (d.Reason != retryd.ReasonRetriesExhausted || !d.RetryAt.IsZero() || d.RetryAfter != 0) {
			t.Fatalf("%+v", d)
		}
	}
	// A re-sent attempt is not counted twice.
	again, err := c.ReportFailure(ctxT(t), id, context.DeadlineExceeded, retryd.WithAttempt(maxAttempts))
	if err != nil || again.FailureCount != maxAttempts {
		t.Fatalf("%+v %v", again, err)
	}
	job, err := c.GetJob(ctxT(t), id)
	if err != nil || job == nil {
		t.Fatal(job, err)
	}
	if job.State != "dead" || job.FailureCount != maxAttempts || job.LastDecision == nil || job.LastDecision.Reason != "retries_exhausted" {
		t.Fatalf("%+v", job)
	}
	if job.LastError.Type != "context.DeadlineExceeded" || job.LastError.Message != "context deadline exceeded" {
		t.Errorf("%+v", job.LastError)
	}
}

func TestSuccessMakesRetrydForgetTheJob(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	id := jobID("success")
	for n := 1; n <= 2; n++ {
		if _, err := c.ReportFailure(ctxT(t), id, syscall.ECONNREFUSED, retryd.WithJobType("invoice"), retryd.WithAttempt(n)); err != nil {
			t.Fatal(err)
		}
	}
	job, err := c.GetJob(ctxT(t), id)
	if err != nil || job == nil || job.State != "retrying" || job.JobType != "invoice" || job.FailureCount != 2 || job.NextRetryAt.IsZero() {
		t.Fatalf("%+v %v", job, err)
	}
	s, err := c.ReportSuccess(ctxT(t), id, retryd.WithJobType("invoice"))
	if err != nil || s.FailuresBeforeSuccess != 2 || !s.Known || s.Local {
		t.Fatalf("%+v %v", s, err)
	}
	if job, err := c.GetJob(ctxT(t), id); job != nil || err != nil {
		t.Fatalf("%+v %v", job, err)
	}
	if s, err := c.ReportSuccess(ctxT(t), id); err != nil || s.Known {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestExplainChangesNothing(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	id := jobID("explain")
	d, err := c.Explain(ctxT(t), id, os.ErrDeadlineExceeded, retryd.WithAttempt(1))
	if err != nil || !d.Retry || d.Category != "timeout" {
		t.Fatalf("%+v %v", d, err)
	}
	if job, err := c.GetJob(ctxT(t), id); job != nil || err != nil {
		t.Fatalf("%+v %v", job, err)
	}
}

func TestErrorInfoVerdictPolicyPriority(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	ctx := ctxT(t)
	yes := true
	d, err := c.ReportFailure(ctx, jobID("v"), retryd.ErrorInfo{Type: "VendorError", Message: "quota", Retryable: &yes})
	if err != nil || !d.Retry || d.Category != "caller" {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = c.ReportFailure(ctx, jobID("v"), errors.New("odd"), retryd.WithRetryable(false))
	if err != nil || d.Retry || d.Reason != "permanent_error" || d.Category != "caller" {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = c.ReportFailure(ctx, jobID("v"), retryd.ErrorInfo{Type: "Odd", GRPCCode: codes.Unavailable})
	if err != nil || d.Category != "unavailable" {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = c.ReportFailure(ctx, jobID("p"), syscall.ETIMEDOUT, retryd.WithPolicy("aggressive"), retryd.WithAttempt(1))
	if err != nil || d.Policy != "aggressive" || d.MaxAttempts != 5 {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = c.ReportFailure(ctx, jobID("p"), syscall.ETIMEDOUT, retryd.WithPriority(90), retryd.WithAttempt(1))
	if err != nil || d.Policy != "high_priority" {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = c.ReportFailure(ctx, jobID("p"), syscall.ETIMEDOUT, retryd.WithTarget("s3"), retryd.WithRetryAfter(2*time.Second))
	if err != nil || !d.Retry || d.RetryAfter != 2*time.Second {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestBadInputIsAnErrorNamingTheArgument(t *testing.T) {
	c := newClient(t, sharedRetryd(t), retryd.WithFallback(retryd.Exponential{MaxAttempts: 3, Base: time.Second, MaxDelay: time.Minute}))
	ctx := ctxT(t)
	// retryd's own refusal: not Unavailable, so no fallback.
	_, err := c.ReportFailure(ctx, "", syscall.ECONNRESET)
	var re *retryd.Error
	if !errors.As(err, &re) || re.Code != codes.InvalidArgument || !contains(err.Error(), "job_id") || errors.Is(err, retryd.ErrUnavailable) {
		t.Fatalf("%v", err)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("status.Code %v", status.Code(err))
	}
	_, err = c.ReportFailure(ctx, "j", nil)
	if err == nil || !contains(err.Error(), "err must not be nil") {
		t.Errorf("%v", err)
	}
	_, err = c.ReportFailure(ctx, "j", syscall.ECONNRESET, retryd.WithAttempt(-1))
	if err == nil || !contains(err.Error(), "WithAttempt: attempt must be 0 (not given) to 10000000, got -1") {
		t.Errorf("%v", err)
	}
	_, err = c.ReportFailure(ctx, "j", syscall.ECONNRESET, retryd.WithPriority(150))
	if err == nil || !contains(err.Error(), "WithPriority") {
		t.Errorf("%v", err)
	}
	for _, o := range []retryd.ClientOption{
		retryd.WithTimeout(0), retryd.WithAddress(""), retryd.WithFallback(nil),
		retryd.WithFallback(retryd.Exponential{MaxAttempts: 0}),
	} {
		if _, err := retryd.New(o); err == nil || !contains(err.Error(), "retryd: With") {
			t.Errorf("New: %v", err)
		}
	}
	_, err = retryd.New(retryd.WithFallback(retryd.Exponential{MaxAttempts: 0}))
	if !contains(fmt.Sprint(err), "Exponential.MaxAttempts must be at least 1, got 0") {
		t.Errorf("%v", err)
	}
}

func TestADownSidecarIsUnavailableWithinTheTimeout(t *testing.T) {
	for name, addr := range map[string]string{"closed port": closedPort(t), "black hole": blackHole(t)} {
		c := newClient(t, addr, retryd.WithTimeout(300*time.Millisecond))
		start := time.Now()
		_, err := c.ReportFailure(ctxT(t), "j", syscall.ECONNRESET, retryd.WithAttempt(1))
		took := time.Since(start)
		var un *retryd.UnavailableError
		if !errors.Is(err, retryd.ErrUnavailable) || !errors.As(err, &un) || un.Addr != addr {
			t.Fatalf("%s: %v", name, err)
		}
		if took > 1500*time.Millisecond {
			t.Errorf("%s: took %v", name, took)
		}
		if _, err := c.GetJob(ctxT(t), "j"); !errors.Is(err, retryd.ErrUnavailable) {
			t.Errorf("%s: GetJob: %v", name, err)
		}
	}
}

func TestTheFallbackDecidesWhenRetrydIsUnavailable(t *testing.T) {
	c := newClient(t, blackHole(t), retryd.WithTimeout(200*time.Millisecond),
		retryd.WithFallback(retryd.Exponential{MaxAttempts: 3, Base: time.Second, MaxDelay: time.Minute}))
	ctx := ctxT(t)
	var got []string
	for i := 0; i < 3; i++ {
		d, err := c.ReportFailure(ctx, "job-1", syscall.ECONNRESET) // no attempt: counted by the client
		if err != nil || !d.Local || !strings.HasPrefix(d.Explanation, "local decision, retryd unavailable (retryd at ") {
			t.Fatalf("%+v %v", d, err)
		}
		got = append(got, fmt.Sprintf("%v %v %s", d.Retry, d.RetryAfter, d.Reason))
	}
	want := []string{"true 1s ", "true 2s ", "false 0s retries_exhausted"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q", got)
	}
	no := false
	d, _ := c.ReportFailure(ctx, "job-2", retryd.ErrorInfo{Type: "X", Retryable: &no}, retryd.WithAttempt(1))
	if d.Retry || d.Reason != "permanent_error" || !d.Local {
		t.Errorf("%+v", d)
	}
	s, err := c.ReportSuccess(ctx, "job-1")
	if err != nil || !s.Local {
		t.Errorf("%+v %v", s, err)
	}
	// Explain is never the fallback's.
	if _, err := c.Explain(ctx, "job-1", syscall.ECONNRESET); !errors.Is(err, retryd.ErrUnavailable) {
		t.Errorf("%v", err)
	}
}

func TestTheClientReconnectsWhenTheSidecarComesBack(t *testing.T) {
	s := startRetryd(t, testConfig, "127.0.0.1:0")
	c := newClient(t, s.Addr, retryd.WithTimeout(500*time.Millisecond))
	if _, err := c.ReportFailure(ctxT(t), jobID("r"), syscall.ECONNRESET); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if _, err := c.ReportFailure(ctxT(t), jobID("r"), syscall.ECONNRESET); !errors.Is(err, retryd.ErrUnavailable) {
		t.Fatalf("%v", err)
	}
	startRetryd(t, testConfig, s.Addr)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := c.ReportFailure(ctxT(t), jobID("r"), syscall.ECONNRESET)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected within 3s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestErrorInfoOfWalksTheChain(t *testing.T) {
	resp := &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Header: http.Header{}}
	resp.Header.Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
	info := retryd.ErrorInfoOf(fmt.Errorf("fetch: %w", retryd.ResponseError(resp)))
	if info.Type != "retryd.HTTPError" || info.HTTPStatus != 503 || !info.HasRetryAfter ||
		info.RetryAfter < 88*time.Second || info.RetryAfter > 90*time.Second || info.Message != "fetch: HTTP 503 Service Unavailable" {
		t.Errorf("%+v", info)
	}
	st := status.Error(codes.ResourceExhausted, "slow down")
	info = retryd.ErrorInfoOf(fmt.Errorf("place: %w", st), retryd.WithTrailer(metadata.Pairs("grpc-retry-pushback-ms", "250")))
	if info.GRPCCode != codes.ResourceExhausted || info.Type != "status.Error" || info.RetryAfter != 250*time.Millisecond || info.HasPushback && info.PushbackMs != 250 {
		t.Errorf("%+v", info)
	}
	if info := retryd.ErrorInfoOf(errors.New("boom")); info.Type != "errors.errorString" || info.Message != "boom" {
		t.Errorf("%+v", info)
	}
	long := retryd.ErrorInfoOf(errors.New(strings.Repeat("é", 40000) + "\xff"))
	if len(long.Message) != 64*1024 || !strings.HasSuffix(long.Message, "é") {
		t.Errorf("len %d", len(long.Message))
	}
	for _, tc := range []struct {
		v  string
		d  time.Duration
		ok bool
	}{{"120", 120 * time.Second, true}, {"1.5", 1500 * time.Millisecond, true}, {"-3", 0, true}, {"soon", 0, false}, {"", 0, false}, {"1000000000", 0, false}} {
		d, ok := retryd.ParseRetryAfter(tc.v, time.Now())
		if d != tc.d || ok != tc.ok {
			t.Errorf("%q: %v %v", tc.v, d, ok)
		}
	}
}

func TestBackOffAnsweredByRetryd(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	ctx := ctxT(t)

	// Fails twice, then succeeds: two retries of 100 ms, then the success
	// is reported and retryd forgets the job.
	id := jobID("backoff")
	b := c.BackOff(ctx, id, retryd.WithJobType("chunking"))
	calls := 0
	var waits []time.Duration
	err := backoff.RetryNotify(b.Operation(func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("chunk: %w", syscall.ECONNRESET)
		}
		return nil
	}), b, func(_ error, d time.Duration) { waits = append(waits, d) })
	if err != nil || calls != 3 || fmt.Sprint(waits) != "[100ms 100ms]" {
		t.Fatalf("%v %d %v", err, calls, waits)
	}
	if job, err := c.GetJob(ctx, id); job != nil || err != nil {
		t.Fatalf("the job is still held: %+v %v", job, err)
	}

	// Always fails: Stop after max_attempts, the last error returned,
	// retryd's reason in Decision.
	id = jobID("backoff")
	b = c.BackOff(ctx, id)
	calls = 0
	err = backoff.Retry(b.Operation(func() error { calls++; return syscall.ETIMEDOUT }), b)
	if !errors.Is(err, syscall.ETIMEDOUT) || calls != maxAttempts || b.Decision().Reason != retryd.ReasonRetriesExhausted || b.Err() != nil {
		t.Fatalf("%v %d %+v %v", err, calls, b.Decision(), b.Err())
	}

	// A permanent error stops at once.
	b = c.BackOff(ctx, jobID("backoff"))
	calls = 0
	err = backoff.Retry(b.Operation(func() error { calls++; return &ValidationError{"bad"} }), b)
	if calls != 1 || b.Decision().Reason != retryd.ReasonPermanentError || err == nil {
		t.Fatalf("%v %d %+v", err, calls, b.Decision())
	}

	// retryd unavailable and no fallback: Stop, and Err says why.
	down := newClient(t, closedPort(t), retryd.WithTimeout(200*time.Millisecond))
	b = down.BackOff(ctx, "j")
	err = backoff.Retry(b.Operation(func() error { return syscall.ECONNRESET }), b)
	if !errors.Is(err, syscall.ECONNRESET) || !errors.Is(b.Err(), retryd.ErrUnavailable) {
		t.Fatalf("%v %v", err, b.Err())
	}

	// An operation that was not wrapped: Stop, saying so.
	b = c.BackOff(ctx, "j")
	_ = backoff.Retry(func() error { return syscall.ECONNRESET }, b)
	if b.Err() == nil || !contains(b.Err().Error(), "wrap the operation with BackOff.Operation") {
		t.Fatalf("%v", b.Err())
	}
}

func TestUnaryClientInterceptorRetriesAsRetrydDecides(t *testing.T) {
	c := newClient(t, sharedRetryd(t))
	ctx := ctxT(t)
	// Two failures with a 300 ms pushback, then success.
	failures := 2
	addr := flakyGRPCServer(t, &failures, codes.Unavailable, metadata.Pairs("grpc-retry-pushback-ms", "300"))
	conn, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithUnaryInterceptor(c.UnaryClientInterceptor(retryd.WithJobType("orders"))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	err = conn.Invoke(ctx, "/downstream.v1.Orders/Place", &emptypb.Empty{}, &emptypb.Empty{})
	if took := time.Since(start); err != nil || took < 600*time.Millisecond || took > 3*time.Second {
		t.Fatalf("%v after %v", err, took)
	}

	// A permanent code gives up at once with a *GaveUpError keeping the code.
	failures = 100
	addr = flakyGRPCServer(t, &failures, codes.InvalidArgument, nil)
	conn2, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithUnaryInterceptor(c.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	err = conn2.Invoke(ctx, "/downstream.v1.Orders/Place", &emptypb.Empty{}, &emptypb.Empty{})
	var gave *retryd.GaveUpError
	if !errors.As(err, &gave) || gave.Decision.Reason != "permanent_error" || status.Code(err) != codes.InvalidArgument || failures != 99 {
		t.Fatalf("%v %d", err, failures)
	}

	// A negative pushback: retryd gives up (reason pushback).
	failures = 100
	addr = flakyGRPCServer(t, &failures, codes.Unavailable, metadata.Pairs("grpc-retry-pushback-ms", "-1"))
	conn3, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithUnaryInterceptor(c.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close()
	err = conn3.Invoke(ctx, "/downstream.v1.Orders/Place", &emptypb.Empty{}, &emptypb.Empty{})
	if !errors.As(err, &gave) || gave.Decision.Reason != "pushback" || failures != 99 {
		t.Fatalf("%v %d", err, failures)
	}
}

// flakyGRPCServer fails *failures calls (counting down) with code and
// trailers, then answers.
func flakyGRPCServer(t *testing.T, failures *int, code codes.Code, trailers metadata.MD) string {
	return startGRPC(t, func(stream grpc.ServerStream) error {
		if *failures > 0 {
			*failures--
			if trailers != nil {
				stream.SetTrailer(trailers)
			}
			return status.Error(code, "failing")
		}
		var m emptypb.Empty
		_ = stream.RecvMsg(&m)
		return stream.SendMsg(&m)
	})
}

func TestGeneratedCodeMatchesTheProto(t *testing.T) {
	if _, err := exec.LookPath("protoc-gen-go-grpc"); err != nil {
		t.Fatal("protoc-gen-go-grpc is not on PATH (Debian: apt-get install protobuf-compiler protoc-gen-go protoc-gen-go-grpc)")
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot(t), "clients", "go", "generate"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, f := range []string{"retryd.pb.go", "retryd_grpc.pb.go"} {
		fresh, err := os.ReadFile(filepath.Join(out, "retrydv1", f))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(repoRoot(t), "clients", "go", "retrydv1", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("retrydv1/%s differs from what ./generate makes of proto/: run clients/go/generate", f)
		}
	}
}
