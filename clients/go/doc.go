// Package retryd is a client of the retryd sidecar: when a job attempt
// fails, ask it whether and when to retry.
//
//	client, err := retryd.New() // $RETRYD_ADDR, else 127.0.0.1:50051; timeout 500ms
//	...
//	d, err := client.ReportFailure(ctx, "doc-42", jobErr, retryd.WithJobType("chunking"), retryd.WithAttempt(attempt))
//	if err != nil { ... }   // retryd unavailable (errors.Is(err, retryd.ErrUnavailable)), or bad input
//	if d.Retry { requeue(doc, d.RetryAfter) } else { deadLetter(doc, d.Reason+": "+d.Explanation) }
//
// Every call is bounded by the client's timeout. The error's type, message,
// HTTP status, Retry-After and gRPC code are taken from what the job
// returned (ErrorInfoOf). BackOff is a github.com/cenkalti/backoff/v4
// BackOff answered by retryd; UnaryClientInterceptor retries gRPC calls as
// retryd decides.
package retryd
