package retryd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// Handler runs one due job. Returning nil reports its success; an error is
// reported as the failure of job.Attempt (classified as ReportFailure
// classifies errors): retryd parks the job again, or gives up on it. ctx
// is cancelled when the job's lease is lost (another claimer may run it
// now: stop, nothing will be reported) or when the Worker stops and its
// stop timeout ran out.
type Handler func(ctx context.Context, job DueJob) error

// PanicError is a handler's panic, reported as its failure (type
// "retryd.PanicError").
type PanicError struct {
	Value interface{}
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Default settings of a Worker.
const (
	DefaultWorkerLease = 30 * time.Second
	DefaultStopTimeout = 30 * time.Second
)

// WorkerOption configures NewWorker.
type WorkerOption func(*workerConfig) error

type workerConfig struct {
	concurrency int
	lease       time.Duration
	stopTimeout time.Duration
	reportOpts  []Option
	logger      *log.Logger
	onLeaseLost func(DueJob, error)
}

// WithConcurrency is how many handlers run at once (1 to 1000, default
// 1): the WatchDue stream's max_in_flight.
func WithConcurrency(n int) WorkerOption {
	return func(c *workerConfig) error {
		if n < 1 || n > MaxClaim {
			return fmt.Errorf("retryd: WithConcurrency: concurrency must be 1 to %d, got %d", MaxClaim, n)
		}
		c.concurrency = n
		return nil
	}
}

// WithWorkerLease is the lease each job is claimed under (default 30s, at
// most 12h). A handler that runs past a third of it has it extended, by
// as much again, as long as it runs; a worker that dies leaves its jobs to
// their leases: retryd hands them out again when they run out.
func WithWorkerLease(d time.Duration) WorkerOption {
	return func(c *workerConfig) error {
		if d <= 0 || d > MaxLease {
			return fmt.Errorf("retryd: WithWorkerLease: lease must be more than 0 and at most 12h, got %v", d)
		}
		c.lease = d
		return nil
	}
}

// WithStopTimeout bounds how long stopping waits for running handlers
// (default 30s; 0: not at all). Past it their ctx is cancelled and their
// jobs released (due again at once, no failure counted), and what they
// return is not reported.
func WithStopTimeout(d time.Duration) WorkerOption {
	return func(c *workerConfig) error {
		if d < 0 {
			return fmt.Errorf("retryd: WithStopTimeout: timeout must not be negative, got %v", d)
		}
		c.stopTimeout = d
		return nil
	}
}

// WithReportOptions adds options to every report the Worker sends
// (WithTarget, WithPolicy, WithPriority...). The job's type, attempt and
// lease are the DueJob's.
func WithReportOptions(opts ...Option) WorkerOption {
	return func(c *workerConfig) error {
		cc := configure(opts)
		if e := cc.err("WithReportOptions"); e != nil {
			return e
		}
		c.reportOpts = append(c.reportOpts, opts...)
		return nil
	}
}

// WithLogger is where the Worker says what went wrong around its jobs: a
// lost lease (unless WithOnLeaseLost), a job it could not settle, retryd
// unavailable (default log.Default()).
func WithLogger(l *log.Logger) WorkerOption {
	return func(c *workerConfig) error {
		if l == nil {
			return errors.New("retryd: WithLogger: logger must not be nil (log.New(io.Discard, \"\", 0) for none)")
		}
		c.logger = l
		return nil
	}
}

// WithOnLeaseLost is called, instead of logging, when a job's lease is
// lost: an extension or the settling report was refused with ErrLeaseLost
// (the job went to another claimer, or was released or settled). Nothing
// more is reported for the job. f runs on the job's goroutine.
func WithOnLeaseLost(f func(job DueJob, err error)) WorkerOption {
	return func(c *workerConfig) error {
		if f == nil {
			return errors.New("retryd: WithOnLeaseLost: f must not be nil")
		}
		c.onLeaseLost = f
		return nil
	}
}

// WorkerStats is what a Worker did so far.
type WorkerStats struct {
	// Received is the due jobs handed to it.
	Received int64
	// Succeeded: handlers that returned nil, reported as successes.
	Succeeded int64
	// Retried and Dead: handlers that returned an error, reported as
	// failures: retryd parked the job again, or gave up on it.
	Retried int64
	Dead    int64
	// Extended is the lease extensions of long runs.
	Extended int64
	// Lost is the leases lost (ErrLeaseLost): nothing was reported.
	Lost int64
	// Released is the jobs handed back unrun or unfinished as it stopped.
	Released int64
	// Unsettled is the jobs it could not settle (retryd unavailable until
	// the lease ran out, or another refusal): retryd hands them out again
	// when their leases run out.
	Unsettled int64
	// Reconnects is the times the stream was opened again.
	Reconnects int64
}

type workerCounts struct {
	received, succeeded, retried, dead, extended, lost, released, unsettled, reconnects int64
}

// Worker runs the due jobs of one queue: retryd is the queue of retries
// (docs/delivery.md). It holds a WatchDue stream open (opening it again
// when the sidecar restarts), runs each job it receives in a goroutine of
// its own, at most the concurrency at once, and settles each with its
// lease. Make one with NewWorker; Start or Run it once.
type Worker struct {
	client  *Client
	queue   string
	handler Handler
	cfg     workerConfig
	counts  workerCounts

	startOnce sync.Once
	started   atomic.Bool
	stopOnce  sync.Once
	stopping  chan struct{}
	gaveUp    chan struct{}
	done      chan struct{}
	err       error
	slots     chan struct{}
	baseCtx   context.Context
	runs      sync.WaitGroup

	mu      sync.Mutex
	running map[*jobRun]struct{}
}

// NewWorker makes a Worker of the queue, running handler for each due job.
func NewWorker(client *Client, queue string, handler Handler, opts ...WorkerOption) (*Worker, error) {
	if client == nil {
		return nil, errors.New("retryd: NewWorker: client must not be nil")
	}
	if handler == nil {
		return nil, errors.New("retryd: NewWorker: handler must not be nil")
	}
	if _, err := claimArgs("NewWorker", "concurrency", queue, 1, nil); err != nil {
		return nil, err
	}
	cfg := workerConfig{concurrency: 1, lease: DefaultWorkerLease, stopTimeout: DefaultStopTimeout, logger: log.Default()}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Worker{
		client: client, queue: queue, handler: handler, cfg: cfg,
		stopping: make(chan struct{}), gaveUp: make(chan struct{}), done: make(chan struct{}),
		slots: make(chan struct{}, cfg.concurrency), running: map[*jobRun]struct{}{},
	}, nil
}

// Start runs the Worker in the background until ctx is done or Stop is
// called. The handlers' ctx carries ctx's values, not its cancellation:
// stopping lets running handlers finish (see WithStopTimeout).
func (w *Worker) Start(ctx context.Context) error {
	if ctx == nil {
		return errors.New("retryd: Worker.Start: ctx must not be nil")
	}
	first := false
	w.startOnce.Do(func() { first = true })
	if !first {
		return errors.New("retryd: Worker.Start: this worker already started: make a new one")
	}
	w.started.Store(true)
	w.baseCtx = detached{ctx}
	go func() {
		select {
		case <-ctx.Done():
			w.requestStop()
		case <-w.done:
		}
	}()
	go w.loop()
	return nil
}

// Run is Start and Wait: it returns once the Worker stopped.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	return w.Wait()
}

// Stop asks the Worker to stop, as cancelling Start's ctx does, and returns
// at once: it claims no more jobs, waits for the running handlers (at most
// the stop timeout) and settles their jobs; Wait waits for that. Safe to
// call more than once, from any goroutine, a handler's included.
func (w *Worker) Stop() { w.requestStop() }

// Wait waits until the Worker stopped. It returns nil, or the error that
// stopped it: a refusal that waiting would not help (delivery off in
// retryd, a bad argument). An unavailable sidecar does not stop it: it is
// waited for.
func (w *Worker) Wait() error {
	if !w.started.Load() {
		return errors.New("retryd: Worker.Wait: the worker was not started")
	}
	<-w.done
	return w.err
}

// Stats is what the Worker did so far.
func (w *Worker) Stats() WorkerStats {
	c := &w.counts
	return WorkerStats{
		Received: atomic.LoadInt64(&c.received), Succeeded: atomic.LoadInt64(&c.succeeded),
		Retried: atomic.LoadInt64(&c.retried), Dead: atomic.LoadInt64(&c.dead),
		Extended: atomic.LoadInt64(&c.extended), Lost: atomic.LoadInt64(&c.lost),
		Released: atomic.LoadInt64(&c.released), Unsettled: atomic.LoadInt64(&c.unsettled),
		Reconnects: atomic.LoadInt64(&c.reconnects),
	}
}

func (w *Worker) requestStop() { w.stopOnce.Do(func() { close(w.stopping) }) }

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

func (w *Worker) logf(format string, args ...interface{}) {
	w.cfg.logger.Printf("retryd worker %q: "+format, append([]interface{}{w.queue}, args...)...)
}

// Between two attempts to open the stream: from the first to the last.
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = time.Second
)

func (w *Worker) loop() {
	defer close(w.done)
	streamCtx, cancel := context.WithCancel(w.baseCtx)
	go func() { <-w.stopping; cancel() }()
	defer cancel()
	delay := reconnectFirst
	outage := false
	for first := true; !w.isStopping(); first = false {
		if !first {
			select {
			case <-w.stopping:
			case <-time.After(delay):
			}
			if w.isStopping() {
				break
			}
			delay *= 2
			if delay > reconnectMax {
				delay = reconnectMax
			}
			atomic.AddInt64(&w.counts.reconnects, 1)
		}
		stream, err := w.client.WatchDue(streamCtx, w.queue, w.cfg.concurrency, WithLeaseDuration(w.cfg.lease))
		for err == nil {
			var job DueJob
			job, err = stream.Recv()
			if err == nil {
				if outage {
					w.logf("retryd at %s is back", w.client.addr)
					outage = false
				}
				delay = reconnectFirst
				w.dispatch(job)
			}
		}
		if stream != nil {
			stream.Close()
		}
		switch {
		case w.isStopping():
		case errors.Is(err, io.EOF):
			// The sidecar stopped: open the stream again when it is back.
		case fatal(err):
			w.err = fmt.Errorf("retryd: Worker on queue %q: %w", w.queue, err)
			w.logf("stopped: %v", err)
			w.requestStop()
		default:
			if !outage {
				w.logf("%v; trying again", err)
				outage = true
			}
		}
	}
	w.drain()
}

// fatal: a refusal of the stream that waiting will not help: a bad
// argument, delivery off, a call retryd does not know or does not allow.
func fatal(err error) bool {
	var re *Error
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// drain waits for the running jobs, at most the stop timeout; then it
// releases the jobs still running, and waits a little for their settles.
func (w *Worker) drain() {
	finished := make(chan struct{})
	go func() { w.runs.Wait(); close(finished) }()
	timer := time.NewTimer(w.cfg.stopTimeout)
	defer timer.Stop()
	select {
	case <-finished:
		return
	case <-timer.C:
	}
	close(w.gaveUp)
	w.mu.Lock()
	left := make([]*jobRun, 0, len(w.running))
	for r := range w.running {
		left = append(left, r)
	}
	w.mu.Unlock()
	for _, r := range left {
		if r.abandon() {
			w.logf("job %s: still running after the stop timeout (%v): released", r.job.JobID, w.cfg.stopTimeout)
			w.release(r.job)
		}
	}
	select {
	case <-finished:
	case <-time.After(2*w.client.timeout + time.Second):
		w.logf("stopped with %d handlers still running (their outcome will not be reported)", len(left))
	}
}

func (w *Worker) release(job DueJob) {
	err := w.client.ReleaseJob(w.baseCtx, job.JobID, job.LeaseID, 0)
	switch {
	case err == nil:
		atomic.AddInt64(&w.counts.released, 1)
	case errors.Is(err, ErrLeaseLost):
		atomic.AddInt64(&w.counts.lost, 1)
	default:
		atomic.AddInt64(&w.counts.unsettled, 1)
		w.logf("job %s: not released: %v; retryd hands it out again when its lease runs out", job.JobID, err)
	}
}

// jobRun is one received job, from its receipt to its settling.
type jobRun struct {
	job    DueJob
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	state      int // runWaiting, runRunning, runSettling, runAbandoned
	lost       bool
	leaseUntil time.Time
	lostOnce   sync.Once
}

const (
	runWaiting = iota
	runRunning
	runSettling
	runAbandoned
)

// abandon marks a job that has not finished as left: its outcome will not
// be reported. False if it is already being settled.
func (r *jobRun) abandon() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == runSettling || r.state == runAbandoned || r.lost {
		return false
	}
	r.state = runAbandoned
	r.cancel()
	return true
}

// to moves the job to state, unless it was abandoned or its lease lost.
func (r *jobRun) to(state int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == runAbandoned || r.lost {
		return false
	}
	r.state = state
	return true
}

func (w *Worker) dispatch(job DueJob) {
	atomic.AddInt64(&w.counts.received, 1)
	ctx, cancel := context.WithCancel(w.baseCtx)
	r := &jobRun{job: job, ctx: ctx, cancel: cancel, leaseUntil: job.LeaseUntil}
	w.mu.Lock()
	w.running[r] = struct{}{}
	w.mu.Unlock()
	w.runs.Add(1)
	go w.runJob(r)
}

func (w *Worker) runJob(r *jobRun) {
	defer w.runs.Done()
	defer func() {
		w.mu.Lock()
		delete(w.running, r)
		w.mu.Unlock()
		r.cancel()
	}()
	keeperDone := make(chan struct{})
	stopKeeper := make(chan struct{})
	go w.keepLease(r, stopKeeper, keeperDone)
	stopKeeping := func() { close(stopKeeper); <-keeperDone }

	// Past a reconnection the old stream's jobs may still run: the slots
	// keep the number of handlers at the concurrency.
	slot := false
	select {
	case w.slots <- struct{}{}:
		slot = true
	case <-w.stopping:
	}
	if w.isStopping() && r.to(runAbandoned) {
		// Received as the worker stops: hand it back unrun.
		if slot {
			<-w.slots
		}
		stopKeeping()
		w.release(r.job)
		return
	}
	if !r.to(runRunning) {
		if slot {
			<-w.slots
		}
		stopKeeping()
		return
	}
	err := w.call(r)
	<-w.slots
	stopKeeping()
	if !r.to(runSettling) {
		return // abandoned (released) or lost: nothing to report
	}
	w.settle(r, err)
}

func (w *Worker) call(r *jobRun) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return w.handler(r.ctx, r.job)
}

// keepLease extends the job's lease each time a third of it has passed,
// until stop is closed.
func (w *Worker) keepLease(r *jobRun, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every := w.cfg.lease / 3
	// A third of the lease from when it was handed out: sooner if the job
	// waited for a slot.
	wait := time.Until(r.job.LeaseUntil) - 2*every
	if wait < 0 {
		wait = 0
	} else if wait > every {
		wait = every
	}
	for {
		timer := time.NewTimer(wait)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		until, err := w.client.ExtendLease(w.baseCtx, r.job.JobID, r.job.LeaseID, w.cfg.lease)
		switch {
		case err == nil:
			atomic.AddInt64(&w.counts.extended, 1)
			r.mu.Lock()
			r.leaseUntil = until
			r.mu.Unlock()
			wait = every
		case errors.Is(err, ErrLeaseLost):
			r.mu.Lock()
			already := r.state == runAbandoned
			r.lost = true
			r.mu.Unlock()
			r.cancel()
			if !already {
				w.leaseLost(r, err)
			}
			return
		default:
			// retryd unreachable: try again soon, while the lease lasts.
			wait = every / 4
			if wait > time.Second {
				wait = time.Second
			}
		}
	}
}

func (w *Worker) leaseLost(r *jobRun, err error) {
	r.lostOnce.Do(func() {
		atomic.AddInt64(&w.counts.lost, 1)
		if w.cfg.onLeaseLost != nil {
			w.cfg.onLeaseLost(r.job, err)
			return
		}
		w.logf("job %s: lease lost (%v): another claimer may run it; nothing reported", r.job.JobID, err)
	})
}

// settle reports the job's outcome with its lease, trying again while
// retryd is unavailable and the lease lasts.
func (w *Worker) settle(r *jobRun, handlerErr error) {
	job := r.job
	opts := append(append([]Option{}, w.cfg.reportOpts...), WithJobType(job.JobType), WithLease(job.LeaseID))
	delay := reconnectFirst
	for {
		var err error
		var local bool
		var d Decision
		if handlerErr == nil {
			var s Success
			s, err = w.client.ReportSuccess(w.baseCtx, job.JobID, opts...)
			local = s.Local
		} else {
			d, err = w.client.ReportFailure(w.baseCtx, job.JobID, handlerErr, append(opts, WithAttempt(job.Attempt))...)
			local = d.Local
		}
		switch {
		case err == nil && local:
			err = &UnavailableError{Addr: w.client.addr, Code: codes.Unavailable, Detail: "the fallback answered", Timeout: w.client.timeout}
		case err == nil && handlerErr == nil:
			atomic.AddInt64(&w.counts.succeeded, 1)
			return
		case err == nil && d.Retry:
			atomic.AddInt64(&w.counts.retried, 1)
			return
		case err == nil:
			atomic.AddInt64(&w.counts.dead, 1)
			return
		case errors.Is(err, ErrLeaseLost):
			w.leaseLost(r, err)
			return
		}
		r.mu.Lock()
		until := r.leaseUntil
		r.mu.Unlock()
		if !errors.Is(err, ErrUnavailable) || time.Now().Add(delay).After(until) || !w.pause(delay) {
			atomic.AddInt64(&w.counts.unsettled, 1)
			w.logf("job %s: not settled: %v; retryd hands it out again when its lease runs out", job.JobID, err)
			return
		}
		if delay *= 2; delay > reconnectMax {
			delay = reconnectMax
		}
	}
}

// pause waits d, false if the worker gave up waiting for its jobs.
func (w *Worker) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.gaveUp:
		return false
	}
}

// detached is a context with the values of another and none of its
// cancellation.
type detached struct{ parent context.Context }

func (detached) Deadline() (time.Time, bool)         { return time.Time{}, false }
func (detached) Done() <-chan struct{}               { return nil }
func (detached) Err() error                          { return nil }
func (d detached) Value(key interface{}) interface{} { return d.parent.Value(key) }
