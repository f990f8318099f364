package retryd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "retryd.dev/go/retryd/retrydv1"
)

// Delivery (docs/delivery.md): a report with a payload makes retryd hold
// the job and hand it back, under a lease, when it is due.

// Bounds of delivery's calls (retryd refuses more).
const (
	MaxQueue    = 128
	MaxLeaseID  = 128
	MaxClaim    = 1000
	MaxLease    = 12 * time.Hour
	leasePrefix = "lease_id:"
)

// ErrLeaseLost matches (errors.Is) retryd's fencing refusal: a report, an
// extension or a release with a lease that is not the job's current one
// (it was handed out again, released or settled), or a report without a
// lease for a job handed out under one. The error is an *Error with code
// FAILED_PRECONDITION. A worker that gets it must drop the job: another
// claimer holds it, or it is settled.
var ErrLeaseLost = errors.New("retryd: lease lost")

// Is makes errors.Is(err, ErrLeaseLost) true for retryd's fencing refusal.
func (e *Error) Is(target error) bool {
	return target == ErrLeaseLost && e.Code == codes.FailedPrecondition && strings.HasPrefix(e.Detail, leasePrefix)
}

func isPayloadBound(msg string) bool { return strings.HasPrefix(msg, "payload:") }

// WithPayload is the job itself (ReportFailure): a RETRY parks it, due at
// the decision's RetryAt on its queue, and retryd hands it to a claimer
// then; a give-up keeps it with the dead job. Empty keeps the job's. At
// most [delivery] max_payload_bytes (256 KiB): more is an *Error with code
// RESOURCE_EXHAUSTED naming payload.
func WithPayload(payload []byte) Option {
	return func(cc *callConfig) { cc.payload = payload }
}

// WithQueue is the queue the job is due on (ReportFailure); default the
// job's, else its job type, else "default".
func WithQueue(queue string) Option {
	return func(cc *callConfig) {
		if len(queue) > MaxQueue {
			cc.bad("WithQueue: queue must be at most %d bytes, got %d", MaxQueue, len(queue))
			return
		}
		cc.queue = queue
	}
}

// WithLease is the lease the job was claimed under (DueJob.LeaseID), for
// ReportFailure and ReportSuccess: a claimed job must be settled with it.
func WithLease(leaseID string) Option {
	return func(cc *callConfig) {
		if len(leaseID) > MaxLeaseID {
			cc.bad("WithLease: lease id must be at most %d bytes, got %d", MaxLeaseID, len(leaseID))
			return
		}
		cc.leaseID = leaseID
	}
}

// WithLeaseDuration is how long a claimer has to settle each job it takes
// (ClaimDue, WatchDue); default [delivery] default_lease (30s), at most 12h.
func WithLeaseDuration(d time.Duration) Option {
	return func(cc *callConfig) {
		if d <= 0 || d > MaxLease {
			cc.bad("WithLeaseDuration: lease must be more than 0 and at most 12h, got %v", d)
			return
		}
		cc.lease = &d
	}
}

// DueJob is a due job handed to one claimer under a lease. Settle it with
// the lease: ReportSuccess(WithLease), ReportFailure(WithLease,
// WithAttempt(Attempt)), ReleaseJob; ExtendLease keeps a long run.
type DueJob struct {
	JobID   string
	JobType string
	Queue   string
	// Payload is what the job's last report parked.
	Payload []byte
	// Attempt is the attempt number this run is: report it as
	// ReportFailure's WithAttempt.
	Attempt int
	// LastError is why its last attempt failed.
	LastError ErrorInfo
	// DueAt is when it fell due.
	DueAt   time.Time
	LeaseID string
	// LeaseUntil: unsettled by then, the job is due again (at-least-once).
	LeaseUntil time.Time
	// Deliveries is the times it has been handed out, this time included.
	Deliveries int
}

// QueueStats is one queue's jobs (ListQueues).
type QueueStats struct {
	Queue string
	// Parked is the jobs waiting on the queue (due or not yet), leased
	// ones not counted; Due is those of them due now.
	Parked int64
	Due    int64
	// Leased is the jobs handed out and not yet settled.
	Leased int64
	// ParkedBytes is the payload bytes of its parked and leased jobs.
	ParkedBytes int64
	// OldestDueAt is the oldest unclaimed due job's due time (zero: none).
	OldestDueAt time.Time
}

func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func errorInfoOfPB(e *pb.ErrorInfo) ErrorInfo {
	return ErrorInfo{
		Type: e.GetType(), Message: e.GetMessage(), HTTPStatus: int(e.GetHttpStatus()),
		GRPCCode: codes.Code(e.GetGrpcCode()), Retryable: e.Retryable,
	}
}

func dueJobOf(j *pb.DueJob) DueJob {
	return DueJob{
		JobID: j.GetJobId(), JobType: j.GetJobType(), Queue: j.GetQueue(), Payload: j.GetPayload(),
		Attempt: int(j.GetAttempt()), LastError: errorInfoOfPB(j.GetLastError()), DueAt: timeOf(j.GetDueAt()),
		LeaseID: j.GetLeaseId(), LeaseUntil: timeOf(j.GetLeaseUntil()), Deliveries: int(j.GetDeliveries()),
	}
}

func claimArgs(method, what, queue string, n int, opts []Option) (*durationpb.Duration, error) {
	cc := configure(opts)
	if queue == "" {
		cc.bad("queue must not be empty")
	} else if len(queue) > MaxQueue {
		cc.bad("queue must be at most %d bytes, got %d", MaxQueue, len(queue))
	}
	if n < 1 || n > MaxClaim {
		cc.bad("%s must be 1 to %d, got %d", what, MaxClaim, n)
	}
	if e := cc.err(method); e != nil {
		return nil, e
	}
	if cc.lease == nil {
		return nil, nil
	}
	return durationpb.New(*cc.lease), nil
}

// ClaimDue takes up to max (1 to 1000) due jobs of the queue, oldest due
// first, each leased to this caller for WithLeaseDuration (default the
// sidecar's [delivery] default_lease): none, and no error, when none is due.
func (c *Client) ClaimDue(ctx context.Context, queue string, max int, opts ...Option) ([]DueJob, error) {
	lease, e := claimArgs("ClaimDue", "max", queue, max, opts)
	if e != nil {
		return nil, e
	}
	var resp *pb.ClaimDueResponse
	e = c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.ClaimDue(ctx, &pb.ClaimDueRequest{Queue: queue, MaxJobs: uint32(max), Lease: lease})
		return err
	})
	if e != nil {
		return nil, e
	}
	jobs := make([]DueJob, 0, len(resp.GetJobs()))
	for _, j := range resp.GetJobs() {
		jobs = append(jobs, dueJobOf(j))
	}
	return jobs, nil
}

// DueStream is a WatchDue stream: Recv each due job as it falls due.
type DueStream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	stream pb.RetryCoordinator_WatchDueClient
	first  *pb.DueJob
}

// WatchDue opens a stream of the queue's due jobs as they fall due, each
// leased to this caller (WithLeaseDuration), never more than maxInFlight
// (1 to 1000) handed out on it and unsettled at once: settling a job (with
// its lease, through the same sidecar) frees its slot. The stream lasts
// until ctx is done, Close, or the sidecar stops; it is not bounded by the
// client's timeout, but opening it is: a sidecar that is down, refuses the
// arguments or has delivery off is an error here.
func (c *Client) WatchDue(ctx context.Context, queue string, maxInFlight int, opts ...Option) (*DueStream, error) {
	if ctx == nil {
		return nil, errors.New("retryd: ctx must not be nil")
	}
	lease, e := claimArgs("WatchDue", "maxInFlight", queue, maxInFlight, opts)
	if e != nil {
		return nil, e
	}
	sctx, cancel := context.WithCancel(ctx)
	opened := make(chan error, 1)
	var stream pb.RetryCoordinator_WatchDueClient
	var first *pb.DueJob
	go func() {
		var err error
		stream, err = c.stub.WatchDue(sctx, &pb.WatchDueRequest{Queue: queue, MaxInFlight: uint32(maxInFlight), Lease: lease})
		if err == nil {
			// Response headers (a gRPC response's carry its content-type)
			// say that the sidecar took the stream; a refusal comes
			// without them, its status read by Recv.
			var md metadata.MD
			if md, err = stream.Header(); err == nil && len(md) == 0 {
				first, err = stream.Recv()
			}
		}
		opened <- err
	}()
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case err := <-opened:
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, c.mapErr(err)
		}
	case <-timer.C:
		cancel()
		<-opened
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &UnavailableError{Addr: c.addr, Code: codes.DeadlineExceeded, Detail: "WatchDue", Timeout: c.timeout}
	}
	return &DueStream{c: c, ctx: ctx, cancel: cancel, stream: stream, first: first}, nil
}

// Recv waits for the next due job. It returns io.EOF when the sidecar ended
// the stream (it is stopping), ctx's error once the caller's ctx is done or
// the stream closed, else an *UnavailableError (the connection was lost)
// or an *Error.
func (s *DueStream) Recv() (DueJob, error) {
	if j := s.first; j != nil {
		s.first = nil
		return dueJobOf(j), nil
	}
	j, err := s.stream.Recv()
	if err == nil {
		return dueJobOf(j), nil
	}
	if s.ctx.Err() != nil {
		return DueJob{}, s.ctx.Err()
	}
	if err == io.EOF {
		return DueJob{}, io.EOF
	}
	if s.closed() {
		return DueJob{}, context.Canceled
	}
	return DueJob{}, s.c.mapErr(err)
}

func (s *DueStream) closed() bool {
	select {
	case <-s.stream.Context().Done():
		return true
	default:
		return false
	}
}

// Close ends the stream. The jobs it handed out stay leased to the caller
// until settled or their leases run out; retryd releases those it had
// claimed for the stream and not yet sent.
func (s *DueStream) Close() { s.cancel() }

// ExtendLease keeps a long run: the job's lease then runs until now +
// lease (0: the sidecar's [delivery] default_lease), returned. A lease that
// is no longer the job's is an error matching ErrLeaseLost.
func (c *Client) ExtendLease(ctx context.Context, jobID, leaseID string, lease time.Duration) (time.Time, error) {
	req := &pb.ExtendLeaseRequest{JobId: jobID, LeaseId: leaseID}
	if lease < 0 || lease > MaxLease {
		return time.Time{}, fmt.Errorf("retryd: ExtendLease: lease must be 0 (the sidecar's default) to 12h, got %v", lease)
	}
	if lease > 0 {
		req.Lease = durationpb.New(lease)
	}
	var resp *pb.ExtendLeaseResponse
	e := c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.ExtendLease(ctx, req)
		return err
	})
	if e != nil {
		return time.Time{}, e
	}
	return timeOf(resp.GetLeaseUntil()), nil
}

// ReleaseJob hands a claimed job back unprocessed: due again after delay
// (0: now), no failure counted, its lease over. A lease that is no longer
// the job's is an error matching ErrLeaseLost.
func (c *Client) ReleaseJob(ctx context.Context, jobID, leaseID string, delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("retryd: ReleaseJob: delay must not be negative, got %v", delay)
	}
	req := &pb.ReleaseJobRequest{JobId: jobID, LeaseId: leaseID}
	if delay > 0 {
		req.Delay = durationpb.New(delay)
	}
	return c.call(ctx, func(ctx context.Context) error {
		_, err := c.stub.ReleaseJob(ctx, req)
		return err
	})
}

// ListQueues is each queue with a parked or leased job, by name.
func (c *Client) ListQueues(ctx context.Context) ([]QueueStats, error) {
	var resp *pb.ListQueuesResponse
	e := c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.stub.ListQueues(ctx, &pb.ListQueuesRequest{})
		return err
	})
	if e != nil {
		return nil, e
	}
	out := make([]QueueStats, 0, len(resp.GetQueues()))
	for _, q := range resp.GetQueues() {
		out = append(out, QueueStats{
			Queue: q.GetQueue(), Parked: int64(q.GetParked()), Due: int64(q.GetDue()), Leased: int64(q.GetLeased()),
			ParkedBytes: int64(q.GetParkedBytes()), OldestDueAt: timeOf(q.GetOldestDueAt()),
		})
	}
	return out, nil
}
