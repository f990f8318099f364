package retryd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "retryd.dev/go/retryd/retrydv1"
)

// DefaultAddress is where a client looks for its sidecar when neither
// WithAddress nor $RETRYD_ADDR says otherwise.
const DefaultAddress = "127.0.0.1:50051"

// DefaultTimeout bounds every call unless WithTimeout says otherwise.
const DefaultTimeout = 500 * time.Millisecond

// Bounds retryd puts on what a caller sends (longer is INVALID_ARGUMENT).
const (
	MaxMessage = 64 * 1024
	MaxType    = 1024
	MaxAttempt = 10_000_000
)

// ErrUnavailable matches (errors.Is) every *UnavailableError.
var ErrUnavailable = errors.New("retryd unavailable")

// UnavailableError says that retryd did not answer: it is down, did not
// answer within the client's timeout, or shed the call.
type UnavailableError struct {
	Addr    string
	Code    codes.Code
	Detail  string
	Timeout time.Duration
}

func (e *UnavailableError) Error() string {
	if e.Code == codes.DeadlineExceeded {
		return fmt.Sprintf("retryd at %s did not answer within %v", e.Addr, e.Timeout)
	}
	return fmt.Sprintf("retryd at %s is unavailable: %v: %s", e.Addr, e.Code, e.Detail)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Error is retryd's answer when it refused a call, e.g. INVALID_ARGUMENT
// naming the bad field.
type Error struct {
	Code   codes.Code
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("retryd: %v: %s", e.Code, e.Detail) }

// GRPCStatus lets status.FromError and status.Code see retryd's code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Detail) }

// Client is a client of the retryd sidecar. It is safe for concurrent use.
type Client struct {
	addr     string
	conn     *grpc.ClientConn
	ownsConn bool
	stub     pb.RetryCoordinatorClient
	timeout  time.Duration
	fallback Fallback
	counts   *localCounts
}

// ClientOption configures New.
type ClientOption func(*clientConfig) error

type clientConfig struct {
	addr     string
	timeout  time.Duration
	fallback Fallback
	conn     *grpc.ClientConn
	dialOpts []grpc.DialOption
}

// WithAddress is the sidecar's host:port (default $RETRYD_ADDR, else
// 127.0.0.1:50051).
func WithAddress(addr string) ClientOption {
	return func(c *clientConfig) error {
		if addr == "" {
			return errors.New("retryd: WithAddress: addr must not be empty")
		}
		c.addr = addr
		return nil
	}
}

// WithTimeout bounds every call (default 500ms): a sidecar that is down or
// hung makes a call fail with an *UnavailableError, or answer with the
// fallback's decision, after at most this long.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return fmt.Errorf("retryd: WithTimeout: timeout must be positive, got %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithFallback makes ReportFailure answer with f's decision, marked Local,
// when retryd is unavailable, instead of an *UnavailableError.
func WithFallback(f Fallback) ClientOption {
	return func(c *clientConfig) error {
		if f == nil {
			return errors.New("retryd: WithFallback: fallback must not be nil")
		}
		if v, ok := f.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("retryd: WithFallback: %w", err)
			}
		}
		c.fallback = f
		return nil
	}
}

// WithConn uses an existing connection (its owner closes it; Close does not).
func WithConn(conn *grpc.ClientConn) ClientOption {
	return func(c *clientConfig) error {
		if conn == nil {
			return errors.New("retryd: WithConn: conn must not be nil")
		}
		c.conn = conn
		return nil
	}
}

// WithDialOptions adds options to the connection New makes (after its own:
// plaintext, reconnect within a second).
func WithDialOptions(opts ...grpc.DialOption) ClientOption {
	return func(c *clientConfig) error {
		c.dialOpts = append(c.dialOpts, opts...)
		return nil
	}
}

// New makes a client. It does not wait for the sidecar: the connection is
// made in the background and each call waits at most the timeout for it.
func New(opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{addr: os.Getenv("RETRYD_ADDR"), timeout: DefaultTimeout}
	if cfg.addr == "" {
		cfg.addr = DefaultAddress
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	c := &Client{addr: cfg.addr, timeout: cfg.timeout, fallback: cfg.fallback, counts: newLocalCounts(10000)}
	if cfg.conn != nil {
		c.conn = cfg.conn
		c.addr = cfg.conn.Target()
	} else {
		dial := append([]grpc.DialOption{
			grpc.WithInsecure(),
			// A sidecar that restarts is found again within a second, not
			// after gRPC's default reconnect backoff (up to two minutes).
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: grpcbackoff.Config{
					BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second,
				},
				MinConnectTimeout: cfg.timeout,
			}),
		}, cfg.dialOpts...)
		conn, err := grpc.Dial(cfg.addr, dial...)
		if err != nil {
			return nil, fmt.Errorf("retryd: cannot make a connection to %s: %w", cfg.addr, err)
		}
		c.conn, c.ownsConn = conn, true
	}
	c.stub = pb.NewRetryCoordinatorClient(c.conn)
	return c, nil
}

// Close closes the connection New made.
func (c *Client) Close() error {
	if c.ownsConn {
		return c.conn.Close()
	}
	return nil
}

// Addr is the sidecar's address.
func (c *Client) Addr() string { return c.addr }

// Stub is the generated client, for the RPCs this package does not wrap.
func (c *Client) Stub() pb.RetryCoordinatorClient { return c.stub }

// call runs f with the client's timeout and maps retryd's errors.
func (c *Client) call(ctx context.Context, f func(ctx context.Context) error) error {
	if ctx == nil {
		return errors.New("retryd: ctx must not be nil")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.mapErr(f(ctx))
}

// mapErr is retryd's status as an *UnavailableError or an *Error.
func (c *Client) mapErr(err error) error {
	if err == nil {
		return nil
	}
	s, _ := status.FromError(err)
	switch s.Code() {
	case codes.DeadlineExceeded:
		return &UnavailableError{Addr: c.addr, Code: codes.DeadlineExceeded, Detail: s.Message(), Timeout: c.timeout}
	case codes.Unavailable, codes.ResourceExhausted, codes.Canceled:
		if s.Code() == codes.ResourceExhausted && isPayloadBound(s.Message()) {
			// A payload past [delivery]'s bounds: waiting will not help.
			return &Error{Code: s.Code(), Detail: s.Message()}
		}
		return &UnavailableError{Addr: c.addr, Code: s.Code(), Detail: s.Message(), Timeout: c.timeout}
	}
	return &Error{Code: s.Code(), Detail: s.Message()}
}

// Option adds to one call: the job's type, the attempt number, the target...
type Option func(*callConfig)

type callConfig struct {
	jobType      string
	policy       string
	target       string
	attempt      int
	priority     *uint32
	retryAfter   *time.Duration
	trailer      []string
	retryable    *bool
	payload      []byte
	queue        string
	leaseID      string
	lease        *time.Duration
	jobTypeGiven bool
	targetGiven  bool
	invalid      []string
}

func (cc *callConfig) bad(format string, args ...interface{}) {
	cc.invalid = append(cc.invalid, fmt.Sprintf(format, args...))
}

func configure(opts []Option) callConfig {
	var cc callConfig
	for _, o := range opts {
		if o != nil {
			o(&cc)
		}
	}
	return cc
}

func (cc *callConfig) err(method string) error {
	if len(cc.invalid) == 0 {
		return nil
	}
	return fmt.Errorf("retryd: %s: %s", method, strings.Join(cc.invalid, "; "))
}

// WithJobType names the job's type: it selects a policy through
// [job_types] and labels the metrics.
func WithJobType(jobType string) Option {
	return func(cc *callConfig) { cc.jobType, cc.jobTypeGiven = jobType, true }
}

// WithPolicy names the policy explicitly.
func WithPolicy(policy string) Option { return func(cc *callConfig) { cc.policy = policy } }

// WithTarget names the downstream the attempt called (its retry budget and
// circuit breaker).
func WithTarget(target string) Option {
	return func(cc *callConfig) { cc.target, cc.targetGiven = target, true }
}

// WithAttempt is the caller's attempt number, 1-based (0: not given): a
// report re-sent with the same number is not counted twice.
func WithAttempt(n int) Option {
	return func(cc *callConfig) {
		if n < 0 || n > MaxAttempt {
			cc.bad("WithAttempt: attempt must be 0 (not given) to %d, got %d", MaxAttempt, n)
			return
		}
		cc.attempt = n
	}
}

// WithPriority (0 to 100) selects a policy through the priority bands.
func WithPriority(p int) Option {
	return func(cc *callConfig) {
		if p < 0 || p > 100 {
			cc.bad("WithPriority: priority must be 0 to 100, got %d", p)
			return
		}
		v := uint32(p)
		cc.priority = &v
	}
}

// WithRetryAfter is the delay the failed call was told to wait, overriding
// what the error carries.
func WithRetryAfter(d time.Duration) Option {
	return func(cc *callConfig) {
		if d < 0 || d > maxHint {
			cc.bad("WithRetryAfter: retry-after must be 0 to 366 days, got %v", d)
			return
		}
		cc.retryAfter = &d
	}
}

// WithRetryable is the caller's own verdict on the error, which overrides
// retryd's built-in rules (not its configured ones).
func WithRetryable(retryable bool) Option {
	return func(cc *callConfig) { cc.retryable = &retryable }
}

// Decision is retryd's answer to a failure.
type Decision struct {
	// Retry: retry after RetryAfter; false: give up because of Reason.
	Retry      bool
	RetryAfter time.Duration
	// RetryAt is when the next attempt is due (zero on give-up).
	RetryAt time.Time
	// Reason is why retryd gave up (one of the Reason constants), "" on retry.
	Reason string
	// FailureCount is the failed attempts recorded, this one included.
	FailureCount int
	// MaxAttempts is the attempts the applied limit allows; 0 = unlimited.
	MaxAttempts int
	// ErrorClass is "transient", "permanent" or "unknown".
	ErrorClass string
	// Category is the classification rule that matched, e.g. "network".
	Category string
	Policy   string
	// Explanation says which rule and which limit decided.
	Explanation string
	// Local: made by the fallback, retryd being unavailable.
	Local bool
}

// The reasons of a give-up.
const (
	ReasonPermanentError   = "permanent_error"
	ReasonRetriesExhausted = "retries_exhausted"
	ReasonDeadlineExceeded = "deadline_exceeded"
	ReasonCancelled        = "cancelled"
	ReasonBudgetExhausted  = "budget_exhausted"
	ReasonPushback         = "pushback"
	// ReasonDeliveryLimit: delivery handed the job out [delivery]
	// max_deliveries times in a row, and each lease ran out unsettled.
	ReasonDeliveryLimit = "delivery_limit"
)

// Success is retryd's answer to ReportSuccess.
type Success struct {
	FailuresBeforeSuccess int
	// Known: retryd held state for the job.
	Known bool
	// Local: retryd was unavailable and a fallback is set; nothing was reported.
	Local bool
}

// Job is the state retryd holds for a job.
type Job struct {
	JobID          string
	JobType        string
	Policy         string
	State          string // "retrying", "dead" or "cancelled"
	FailureCount   int
	FirstFailureAt time.Time
	LastFailureAt  time.Time
	NextRetryAt    time.Time
	LastError      ErrorInfo
	LastDecision   *Decision
	// Delivery: the queue the job is due on ("" when retryd holds no
	// payload for it), the payload's size, the times it was handed out, and
	// until when its current lease runs (zero unless handed out).
	Queue        string
	PayloadBytes int
	Deliveries   int
	LeaseUntil   time.Time
}

func (c *Client) request(method, jobID string, err error, opts []Option) (*pb.ReportFailureRequest, ErrorInfo, callConfig, error) {
	if err == nil {
		return nil, ErrorInfo{}, callConfig{}, fmt.Errorf("retryd: %s: err must not be nil", method)
	}
	cc := configure(opts)
	if e := cc.err(method); e != nil {
		return nil, ErrorInfo{}, cc, e
	}
	info := errorInfoOf(err, &cc)
	req := &pb.ReportFailureRequest{
		JobId:   jobID,
		JobType: cc.jobType,
		Policy:  cc.policy,
		Target:  cc.target,
		Attempt: uint32(cc.attempt),
		Error: &pb.ErrorInfo{
			Type:       info.Type,
			Message:    info.Message,
			HttpStatus: uint32(info.HTTPStatus),
			GrpcCode:   int32(info.GRPCCode),
			Retryable:  info.Retryable,
		},
		Priority: cc.priority,
		Payload:  cc.payload,
		Queue:    cc.queue,
		LeaseId:  cc.leaseID,
	}
	if info.HasRetryAfter {
		req.RetryAfterHint = durationpb.New(info.RetryAfter)
	}
	if info.HasPushback && info.PushbackMs < 0 {
		// The server said not to retry: retryd gives up (ReasonPushback).
		ms := info.PushbackMs
		req.RetryPushbackMs = &ms
	}
	return req, info, cc, nil
}

// ReportFailure records a failed attempt of the job and returns retryd's
// decision. err is what the attempt returned (see ErrorInfoOf for what is
// sent). When retryd is unavailable the error is an *UnavailableError
// (errors.Is(err, ErrUnavailable)), or, with WithFallback, the decision is
// the fallback's, marked Local.
//
// Delivery: WithPayload (and WithQueue) make retryd hold the job and hand
// it back when due; a claimed job is reported WithLease(job.LeaseID) and
// WithAttempt(job.Attempt), and a lease that is no longer the job's is an
// error matching ErrLeaseLost. A Local decision changed nothing in retryd:
// no payload was parked.
func (c *Client) ReportFailure(ctx context.Context, jobID string, err error, opts ...Option) (Decision, error) {
	req, info, cc, e := c.request("ReportFailure", jobID, err, opts)
	if e != nil {
		return Decision{}, e
	}
	// The failure's number for the fallback: the caller's attempt, else
	// this client's count of the job's failures since its last success.
	n := cc.attempt
	if n == 0 && c.fallback != nil {
		n = c.counts.failed(jobID)
	}
	var resp *pb.ReportFailureResponse
	e = c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.ReportFailure(ctx, req)
		return err
	})
	if e != nil {
		var un *UnavailableError
		if c.fallback != nil && errors.As(e, &un) {
			return localDecision(c.fallback, n, info, un), nil
		}
		return Decision{}, e
	}
	return decisionOf(resp.GetDecision()), nil
}

// Explain is the decision ReportFailure would give, changing nothing (never
// the fallback's).
func (c *Client) Explain(ctx context.Context, jobID string, err error, opts ...Option) (Decision, error) {
	req, _, _, e := c.request("Explain", jobID, err, opts)
	if e != nil {
		return Decision{}, e
	}
	var resp *pb.ExplainResponse
	e = c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.Explain(ctx, &pb.ExplainRequest{
			JobId: req.JobId, JobType: req.JobType, Policy: req.Policy, Priority: req.Priority,
			Error: req.Error, RetryAfterHint: req.RetryAfterHint, Attempt: req.Attempt,
			Target: req.Target, RetryPushbackMs: req.RetryPushbackMs,
		})
		return err
	})
	if e != nil {
		return Decision{}, e
	}
	return decisionOf(resp.GetDecision()), nil
}

// ReportSuccess says the job succeeded: retryd forgets it. With a fallback
// set, an unavailable retryd is not an error (Success.Local is true). A
// claimed job is reported WithLease(job.LeaseID); a lease that is no longer
// the job's is an error matching ErrLeaseLost.
func (c *Client) ReportSuccess(ctx context.Context, jobID string, opts ...Option) (Success, error) {
	cc := configure(opts)
	if e := cc.err("ReportSuccess"); e != nil {
		return Success{}, e
	}
	c.counts.forget(jobID)
	var resp *pb.ReportSuccessResponse
	e := c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.ReportSuccess(ctx, &pb.ReportSuccessRequest{JobId: jobID, JobType: cc.jobType, Target: cc.target, LeaseId: cc.leaseID})
		return err
	})
	if e != nil {
		if c.fallback != nil && errors.Is(e, ErrUnavailable) {
			return Success{Local: true}, nil
		}
		return Success{}, e
	}
	return Success{FailuresBeforeSuccess: int(resp.GetFailuresBeforeSuccess()), Known: resp.GetKnown()}, nil
}

// GetJob is the state retryd holds for the job; nil (and no error) if it
// holds none.
func (c *Client) GetJob(ctx context.Context, jobID string) (*Job, error) {
	var resp *pb.GetJobResponse
	e := c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.GetJob(ctx, &pb.GetJobRequest{JobId: jobID})
		return err
	})
	if e != nil {
		var re *Error
		if errors.As(e, &re) && re.Code == codes.NotFound {
			return nil, nil
		}
		return nil, e
	}
	return jobOf(resp.GetJob()), nil
}

func enumName(name, prefix string) string {
	if len(name) > len(prefix) && name[:len(prefix)] == prefix {
		name = name[len(prefix):]
	}
	if name == "UNSPECIFIED" {
		return ""
	}
	b := []byte(name)
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

func decisionOf(d *pb.Decision) Decision {
	retry := d.GetAction() == pb.Action_ACTION_RETRY
	out := Decision{
		Retry:        retry,
		RetryAfter:   d.GetRetryAfter().AsDuration(),
		FailureCount: int(d.GetFailureCount()),
		MaxAttempts:  int(d.GetMaxAttempts()),
		ErrorClass:   enumName(d.GetErrorClass().String(), "ERROR_CLASS_"),
		Category:     d.GetCategory(),
		Policy:       d.GetPolicy(),
		Explanation:  d.GetExplanation(),
	}
	if d.GetRetryAt() != nil {
		out.RetryAt = d.GetRetryAt().AsTime()
	}
	if !retry {
		out.Reason = enumName(d.GetReason().String(), "GIVE_UP_REASON_")
	}
	return out
}

func jobOf(j *pb.Job) *Job {
	e := j.GetLastError()
	out := &Job{
		JobID:        j.GetJobId(),
		JobType:      j.GetJobType(),
		Policy:       j.GetPolicy(),
		State:        enumName(j.GetState().String(), "JOB_STATE_"),
		FailureCount: int(j.GetFailureCount()),
		LastError:    errorInfoOfPB(e),
		Queue:        j.GetQueue(),
		PayloadBytes: int(j.GetPayloadBytes()),
		Deliveries:   int(j.GetDeliveries()),
		LeaseUntil:   timeOf(j.GetLeaseUntil()),
	}
	if t := j.GetFirstFailureAt(); t != nil {
		out.FirstFailureAt = t.AsTime()
	}
	if t := j.GetLastFailureAt(); t != nil {
		out.LastFailureAt = t.AsTime()
	}
	if t := j.GetNextRetryAt(); t != nil {
		out.NextRetryAt = t.AsTime()
	}
	if d := j.GetLastDecision(); d != nil {
		dd := decisionOf(d)
		out.LastDecision = &dd
	}
	return out
}

// localCounts is each job's failures as this client saw them, for the
// fallback when the caller gives no attempt (bounded: the oldest are
// forgotten).
type localCounts struct {
	mu    sync.Mutex
	limit int
	n     map[string]int
	order []string
}

func newLocalCounts(limit int) *localCounts {
	return &localCounts{limit: limit, n: map[string]int{}}
}

func (l *localCounts) failed(jobID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.n[jobID]; !ok {
		l.order = append(l.order, jobID)
	}
	l.n[jobID]++
	for len(l.n) > l.limit && len(l.order) > 0 {
		delete(l.n, l.order[0])
		l.order = l.order[1:]
	}
	return l.n[jobID]
}

func (l *localCounts) forget(jobID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.n, jobID)
}
