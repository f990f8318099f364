package retryd

import (
	"fmt"
	"time"
)

// Fallback makes the decision when retryd is unavailable (WithFallback). n
// is the caller's attempt number, else the client's own count of the job's
// failures since its last success.
type Fallback interface {
	Decide(n int, info ErrorInfo) Decision
}

// FallbackFunc is a function as a Fallback.
type FallbackFunc func(n int, info ErrorInfo) Decision

// Decide calls f.
func (f FallbackFunc) Decide(n int, info ErrorInfo) Decision { return f(n, info) }

// Exponential is a cautious local policy: retry after Base, 2*Base,
// 4*Base... (at most MaxDelay) until MaxAttempts attempts have failed; give
// up at once on an error the caller marked not retryable. It knows none of
// retryd's rules: it only keeps a worker going until the sidecar answers.
type Exponential struct {
	MaxAttempts int
	Base        time.Duration
	MaxDelay    time.Duration
}

// Validate names the field that is out of range.
func (e Exponential) Validate() error {
	if e.MaxAttempts < 1 {
		return fmt.Errorf("Exponential.MaxAttempts must be at least 1, got %d", e.MaxAttempts)
	}
	if e.Base < 0 {
		return fmt.Errorf("Exponential.Base must not be negative, got %v", e.Base)
	}
	if e.MaxDelay < 0 {
		return fmt.Errorf("Exponential.MaxDelay must not be negative, got %v", e.MaxDelay)
	}
	return nil
}

// Decide is the local decision for failure n.
func (e Exponential) Decide(n int, info ErrorInfo) Decision {
	if n < 1 {
		n = 1
	}
	d := Decision{FailureCount: n, MaxAttempts: e.MaxAttempts, Policy: "local", ErrorClass: "unknown", Category: "unknown"}
	if info.Retryable != nil && !*info.Retryable {
		d.Reason, d.ErrorClass, d.Category = ReasonPermanentError, "permanent", "caller"
		d.Explanation = "the caller marked the error not retryable"
		return d
	}
	if n >= e.MaxAttempts {
		d.Reason = ReasonRetriesExhausted
		d.Explanation = fmt.Sprintf("attempt %d of %d failed: no retries left", n, e.MaxAttempts)
		return d
	}
	delay := e.MaxDelay
	if n-1 < 62 {
		if b := e.Base << uint(n-1); b>>uint(n-1) == e.Base && b < e.MaxDelay {
			delay = b
		}
	}
	d.Retry, d.RetryAfter, d.RetryAt = true, delay, time.Now().Add(delay)
	d.Explanation = fmt.Sprintf("retry %d of %d after %v (exponential from %v, at most %v)", n, e.MaxAttempts-1, delay, e.Base, e.MaxDelay)
	return d
}

func localDecision(f Fallback, n int, info ErrorInfo, why error) Decision {
	d := f.Decide(n, info)
	d.Local = true
	d.Explanation = fmt.Sprintf("local decision, retryd unavailable (%v): %s", why, d.Explanation)
	return d
}
