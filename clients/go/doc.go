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
//
// With delivery, a report carries the job (WithPayload) and retryd holds it
// until it is due; a Worker runs the due jobs of a queue, settling each with
// its lease:
//
//	w, err := retryd.NewWorker(client, "mail", func(ctx context.Context, job retryd.DueJob) error {
//		return send(ctx, job.Payload) // nil: a success; an error: this attempt's failure
//	}, retryd.WithConcurrency(4))
//	...
//	err = w.Run(ctx) // until ctx is done
package retryd
