package retryd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// GaveUpError is the error of a call that retryd gave up on: the last
// attempt's error (Unwrap, and its gRPC status) and retryd's decision.
type GaveUpError struct {
	Decision Decision
	Err      error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("%v (retryd gave up: %s: %s)", e.Err, e.Decision.Reason, e.Decision.Explanation)
}

// Unwrap is the last attempt's error.
func (e *GaveUpError) Unwrap() error { return e.Err }

// GRPCStatus is the last attempt's status, so status.Code(err) is its code.
func (e *GaveUpError) GRPCStatus() *status.Status {
	s, _ := status.FromError(e.Err)
	return s
}

// UnaryClientInterceptor retries failed unary calls as retryd decides
// (grpc.WithUnaryInterceptor). Each call is a job of its own, its id the
// method and a random suffix, its job type the method (WithJobType
// overrides) and its target the connection's target (WithTarget
// overrides); the call's grpc-retry-pushback-ms trailer is sent with each
// failure. When retryd gives up the call returns a *GaveUpError; when it
// cannot be asked (and the client has no fallback), the call's own error.
// The call's context bounds the whole, waits included.
func (c *Client) UnaryClientInterceptor(opts ...Option) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		base := configure(opts)
		jobOpts := append([]Option{}, opts...)
		if !base.jobTypeGiven {
			jobOpts = append(jobOpts, WithJobType(method))
		}
		if !base.targetGiven {
			jobOpts = append(jobOpts, WithTarget(cc.Target()))
		}
		jobID := method + "#" + randomID()
		for attempt := 1; ; attempt++ {
			var trailer metadata.MD
			err := invoker(ctx, method, req, reply, cc, append(callOpts, grpc.Trailer(&trailer))...)
			if err == nil {
				if attempt > 1 {
					_, _ = c.ReportSuccess(ctx, jobID, jobOpts...)
				}
				return nil
			}
			if ctx.Err() != nil {
				return err
			}
			d, rerr := c.ReportFailure(ctx, jobID, err, append(jobOpts, WithAttempt(attempt), WithTrailer(trailer))...)
			if rerr != nil {
				return err
			}
			if !d.Retry {
				return &GaveUpError{Decision: d, Err: err}
			}
			t := time.NewTimer(d.RetryAfter)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
	}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
