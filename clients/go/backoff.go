package retryd

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// BackOff is a backoff.BackOff (github.com/cenkalti/backoff/v4) answered by
// retryd: NextBackOff reports the latest failure of the job and returns
// retryd's delay, or backoff.Stop when retryd gives up (or cannot be asked
// and the client has no fallback). Wrap the operation with Operation, so
// that the BackOff sees each failure and the final success:
//
//	b := client.BackOff(ctx, "doc-42", retryd.WithJobType("chunking"))
//	err := backoff.Retry(b.Operation(chunk), b)
//
// A BackOff is for one job at a time.
type BackOff struct {
	client *Client
	ctx    context.Context
	jobID  string
	opts   []Option

	mu       sync.Mutex
	attempt  int
	last     error
	decision Decision
	err      error
}

var _ backoff.BackOff = (*BackOff)(nil)
var _ backoff.BackOffContext = (*BackOff)(nil)

// BackOff is a backoff.BackOff for the job: its attempts are numbered from 1.
func (c *Client) BackOff(ctx context.Context, jobID string, opts ...Option) *BackOff {
	return &BackOff{client: c, ctx: ctx, jobID: jobID, opts: opts}
}

// Operation wraps op: its failures are what NextBackOff reports, and a
// success after failures is reported to retryd.
func (b *BackOff) Operation(op backoff.Operation) backoff.Operation {
	return func() error {
		err := op()
		b.mu.Lock()
		b.last = err
		failed := b.attempt > 0
		b.mu.Unlock()
		if err == nil && failed {
			_, _ = b.client.ReportSuccess(b.ctx, b.jobID, b.opts...)
		}
		return err
	}
}

// Failed records the attempt's error, for an operation not wrapped by
// Operation.
func (b *BackOff) Failed(err error) {
	b.mu.Lock()
	b.last = err
	b.mu.Unlock()
}

// NextBackOff reports the latest failure: retryd's delay, or backoff.Stop.
func (b *BackOff) NextBackOff() time.Duration {
	b.mu.Lock()
	last := b.last
	b.attempt++
	n := b.attempt
	b.last = nil
	b.mu.Unlock()
	if last == nil {
		b.setErr(errors.New("retryd: BackOff.NextBackOff: no failure recorded: wrap the operation with BackOff.Operation, or call Failed"))
		return backoff.Stop
	}
	opts := append(append([]Option{}, b.opts...), WithAttempt(n))
	d, err := b.client.ReportFailure(b.ctx, b.jobID, last, opts...)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decision, b.err = d, err
	if err != nil || !d.Retry {
		return backoff.Stop
	}
	return d.RetryAfter
}

func (b *BackOff) setErr(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

// Reset starts the count of attempts again (backoff.Retry calls it first).
func (b *BackOff) Reset() {
	b.mu.Lock()
	b.attempt, b.last, b.err, b.decision = 0, nil, nil, Decision{}
	b.mu.Unlock()
}

// Context is the BackOff's context: backoff.Retry stops waiting when it is done.
func (b *BackOff) Context() context.Context { return b.ctx }

// Decision is retryd's latest decision (its Reason and Explanation after a give-up).
func (b *BackOff) Decision() Decision {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.decision
}

// Err is why the latest NextBackOff could not ask retryd (nil if it could).
func (b *BackOff) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
