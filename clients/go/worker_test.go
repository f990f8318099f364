package retryd_test

// The Worker against a live retryd (deliveryRetryd): each test on a queue
// of its own, every Worker stopped before the test ends.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"retryd.dev/go/retryd"
)

// park reports a first failure of a new job with a payload on queue: due
// deliveryDelay later.
func park(t *testing.T, c *retryd.Client, queue, prefix string, payload []byte) string {
	t.Helper()
	id := jobID(prefix)
	d, err := c.ReportFailure(ctxT(t), id, syscall.ECONNRESET, retryd.WithJobType("mail"), retryd.WithAttempt(1),
		retryd.WithPayload(payload), retryd.WithQueue(queue))
	if err != nil || !d.Retry {
		t.Fatalf("%+v %v", d, err)
	}
	return id
}

// logBuffer is a *log.Logger whose lines a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startWorker starts a Worker that the test stops (at the latest when it
// ends), logging to the returned buffer.
func startWorker(t *testing.T, c *retryd.Client, queue string, h retryd.Handler, opts ...retryd.WorkerOption) (*retryd.Worker, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	w, err := retryd.NewWorker(c, queue, h, append([]retryd.WorkerOption{retryd.WithLogger(log.New(logs, "", 0))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Stop()
		waitStopped(t, w, 10*time.Second)
	})
	return w, logs
}

func waitStopped(t *testing.T, w *retryd.Worker, within time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("the worker did not stop within %v", within)
		return nil
	}
}

func gone(t *testing.T, c *retryd.Client, id string) bool {
	job, err := c.GetJob(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return job == nil
}

func TestWorkerRunsADueJobAndReportsItsSuccess(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	q := queueName("w-success")
	payload := []byte(`{"to":"a@example.com"}`)
	id := park(t, c, q, "w-success", payload)
	got := make(chan retryd.DueJob, 1)
	w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
		got <- job
		return nil
	}, retryd.WithConcurrency(2))
	select {
	case job := <-got:
		if job.JobID != id || !bytes.Equal(job.Payload, payload) || job.Attempt != 2 || job.JobType != "mail" {
			t.Fatalf("%+v", job)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the worker did not get the job within 3s")
	}
	eventually(t, 3*time.Second, "the success reported", func() bool { return w.Stats().Succeeded == 1 })
	if !gone(t, c, id) {
		t.Fatal("retryd still holds the job")
	}
	w.Stop()
	if err := waitStopped(t, w, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Received != 1 || s.Retried != 0 || s.Lost != 0 || s.Unsettled != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestWorkerRetriesATransientFailureUntilItSucceeds(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	q := queueName("w-flaky")
	id := park(t, c, q, "w-flaky", []byte("flaky"))
	var mu sync.Mutex
	var attempts []int
	w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
		mu.Lock()
		attempts = append(attempts, job.Attempt)
		mu.Unlock()
		if job.Attempt < 4 {
			return fmt.Errorf("send: %w", syscall.ECONNREFUSED)
		}
		return nil
	})
	eventually(t, 5*time.Second, "the success after two failures", func() bool { return w.Stats().Succeeded == 1 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(attempts) != "[2 3 4]" {
		t.Fatalf("attempts %v", attempts)
	}
	if s := w.Stats(); s.Retried != 2 || s.Dead != 0 {
		t.Fatalf("%+v", s)
	}
	if !gone(t, c, id) {
		t.Fatal("retryd still holds the job")
	}
}

func TestWorkerAPermanentErrorDiesAtOnceAndAPanicIsAFailure(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	q := queueName("w-permanent")
	bad := park(t, c, q, "w-permanent", []byte("bad"))
	panics := park(t, c, q, "w-panic", []byte("panic"))
	var mu sync.Mutex
	runs := map[string]int{}
	w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
		mu.Lock()
		runs[job.JobID]++
		mu.Unlock()
		if job.JobID == panics {
			if job.Attempt == 2 {
				panic("nil map")
			}
			return nil
		}
		return &ValidationError{"no such mailbox"}
	}, retryd.WithConcurrency(2))
	eventually(t, 5*time.Second, "one dead, one succeeded", func() bool {
		s := w.Stats()
		return s.Dead == 1 && s.Succeeded == 1
	})
	job, err := c.GetJob(ctxT(t), bad)
	if err != nil || job.State != "dead" || job.LastDecision.Reason != retryd.ReasonPermanentError ||
		job.LastError.Type != "retryd_test.ValidationError" || job.PayloadBytes != 3 {
		t.Fatalf("%+v %v", job, err)
	}
	// Retried after its panic (an unknown error), then done.
	if s := w.Stats(); s.Retried != 1 || !gone(t, c, panics) {
		t.Fatalf("%+v", s)
	}
	time.Sleep(2 * deliveryDelay) // nothing more comes
	mu.Lock()
	defer mu.Unlock()
	if runs[bad] != 1 || runs[panics] != 2 {
		t.Fatalf("%v", runs)
	}
}

func TestWorkerGetsTheJobOfADeadWorkerWhenItsLeaseRunsOut(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	q := queueName("w-dead")
	id := park(t, c, q, "w-dead", []byte("orphan"))
	// A worker that claims the job and dies: it never settles.
	dead := claimOne(t, c, q, retryd.WithLeaseDuration(time.Second))
	claimed := time.Now()
	got := make(chan retryd.DueJob, 1)
	fenced := make(chan error, 1)
	w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
		// The dead worker, back to life, cannot settle the job now.
		_, err := c.ReportSuccess(ctx, job.JobID, retryd.WithLease(dead.LeaseID))
		fenced <- err
		got <- job
		return nil
	})
	select {
	case job := <-got:
		if took := time.Since(claimed); took < 900*time.Millisecond {
			t.Fatalf("handed out again after %v, within the lease", took)
		}
		if job.JobID != id || job.Deliveries != 2 || job.Attempt != dead.Attempt || job.LeaseID == dead.LeaseID {
			t.Fatalf("%+v", job)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the job did not come back within 4s")
	}
	if err := <-fenced; !errors.Is(err, retryd.ErrLeaseLost) {
		t.Fatalf("the dead worker's report: %v", err)
	}
	eventually(t, 3*time.Second, "the success reported", func() bool { return w.Stats().Succeeded == 1 })
	if !gone(t, c, id) {
		t.Fatal("retryd still holds the job")
	}
}

func TestWorkerReportsALostLeaseAndReportsNothingForTheJob(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	type lostLease struct {
		job retryd.DueJob
		err error
	}

	// takeOver settles the job the worker runs behind its back, with its
	// lease (a duplicate consumer, say): a permanent error, so that it is
	// dead and handed out no more.
	takeOver := func(t *testing.T, job retryd.DueJob) {
		d, err := c.ReportFailure(ctxT(t), job.JobID, &ValidationError{"taken over"}, retryd.WithLease(job.LeaseID), retryd.WithAttempt(job.Attempt))
		if err != nil || d.Retry {
			t.Fatalf("%+v %v", d, err)
		}
	}
	check := func(t *testing.T, w *retryd.Worker, lost chan lostLease, id string) {
		select {
		case l := <-lost:
			if l.job.JobID != id || !errors.Is(l.err, retryd.ErrLeaseLost) {
				t.Fatalf("%+v", l)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no lost lease within 3s")
		}
		eventually(t, time.Second, "counted", func() bool { return w.Stats().Lost == 1 })
		// The worker's report changed nothing.
		job, err := c.GetJob(ctxT(t), id)
		if err != nil || job.State != "dead" || job.FailureCount != 2 || job.LastError.Message != "taken over" {
			t.Fatalf("%+v %v", job, err)
		}
		if s := w.Stats(); s.Succeeded+s.Retried+s.Dead != 0 {
			t.Fatalf("%+v", s)
		}
	}

	t.Run("when settling", func(t *testing.T) {
		q := queueName("w-lost-settle")
		id := park(t, c, q, "w-lost", []byte("x"))
		running, finish := make(chan retryd.DueJob, 1), make(chan struct{})
		lost := make(chan lostLease, 2)
		w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
			running <- job
			<-finish
			return errors.New("failed, and too late")
		}, retryd.WithOnLeaseLost(func(job retryd.DueJob, err error) { lost <- lostLease{job, err} }))
		var job retryd.DueJob
		select {
		case job = <-running:
		case <-time.After(3 * time.Second):
			t.Fatal("no job within 3s")
		}
		takeOver(t, job)
		close(finish)
		check(t, w, lost, id)
	})

	t.Run("when extending", func(t *testing.T) {
		q := queueName("w-lost-extend")
		id := park(t, c, q, "w-lost", []byte("x"))
		running := make(chan retryd.DueJob, 1)
		cancelled := make(chan struct{})
		lost := make(chan lostLease, 2)
		w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
			running <- job
			<-ctx.Done() // cancelled when the lease is lost
			close(cancelled)
			return ctx.Err()
		}, retryd.WithWorkerLease(900*time.Millisecond),
			retryd.WithOnLeaseLost(func(job retryd.DueJob, err error) { lost <- lostLease{job, err} }))
		var job retryd.DueJob
		select {
		case job = <-running:
		case <-time.After(3 * time.Second):
			t.Fatal("no job within 3s")
		}
		takeOver(t, job)
		select {
		case <-cancelled:
		case <-time.After(3 * time.Second):
			t.Fatal("the handler's ctx was not cancelled within 3s")
		}
		check(t, w, lost, id)
	})

	t.Run("logged by default", func(t *testing.T) {
		q := queueName("w-lost-log")
		park(t, c, q, "w-lost", []byte("x"))
		running, finish := make(chan retryd.DueJob, 1), make(chan struct{})
		w, logs := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
			running <- job
			<-finish
			return nil
		})
		var job retryd.DueJob
		select {
		case job = <-running:
		case <-time.After(3 * time.Second):
			t.Fatal("no job within 3s")
		}
		takeOver(t, job)
		close(finish)
		eventually(t, 3*time.Second, "the lost lease logged", func() bool {
			return strings.Contains(logs.String(), "job "+job.JobID+": lease lost (retryd: FailedPrecondition: lease_id: ")
		})
		if s := w.Stats(); s.Lost != 1 || s.Succeeded != 0 {
			t.Fatalf("%+v", s)
		}
	})
}

func TestWorkerExtendsTheLeaseOfALongHandler(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	q := queueName("w-long")
	id := park(t, c, q, "w-long", []byte("long"))
	started := make(chan retryd.DueJob, 1)
	w, _ := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
		started <- job
		select {
		case <-time.After(2 * time.Second): // more than three leases
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, retryd.WithWorkerLease(600*time.Millisecond))
	var job retryd.DueJob
	select {
	case job = <-started:
	case <-time.After(3 * time.Second):
		t.Fatal("no job within 3s")
	}
	// Past its first lease, nobody else gets it.
	time.Sleep(1200 * time.Millisecond)
	if jobs, err := c.ClaimDue(ctxT(t), q, 10); err != nil || len(jobs) != 0 {
		t.Fatalf("handed out again: %+v %v", jobs, err)
	}
	if held, err := c.GetJob(ctxT(t), id); err != nil || !held.LeaseUntil.After(job.LeaseUntil) {
		t.Fatalf("the lease was not extended: %+v %v", held, err)
	}
	eventually(t, 3*time.Second, "the success reported", func() bool { return w.Stats().Succeeded == 1 })
	if s := w.Stats(); s.Extended < 3 || s.Lost != 0 || s.Received != 1 {
		t.Fatalf("%+v", s)
	}
	if !gone(t, c, id) {
		t.Fatal("retryd still holds the job")
	}
}

func TestWorkerStopsCleanly(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))

	t.Run("waiting for its running handlers", func(t *testing.T) {
		q := queueName("w-stop")
		first := park(t, c, q, "w-stop", []byte("first"))
		running, finish := make(chan struct{}, 1), make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := retryd.NewWorker(c, q, func(context.Context, retryd.DueJob) error {
			running <- struct{}{}
			<-finish
			return nil
		}, retryd.WithConcurrency(2), retryd.WithLogger(log.New(io.Discard, "", 0)))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-running:
		case <-time.After(3 * time.Second):
			t.Fatal("no job within 3s")
		}
		cancel() // as SIGTERM would
		stopped := make(chan error, 1)
		go func() { stopped <- w.Wait() }()
		// It claims no more, and waits for the running handler.
		second := park(t, c, q, "w-stop", []byte("second"))
		time.Sleep(2 * deliveryDelay)
		select {
		case err := <-stopped:
			t.Fatalf("stopped with a handler running: %v", err)
		default:
		}
		close(finish)
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("not stopped within 3s of the handler's end")
		}
		if !gone(t, c, first) {
			t.Fatal("the running job was not settled")
		}
		if s := w.Stats(); s.Received != 1 || s.Succeeded != 1 {
			t.Fatalf("%+v", s)
		}
		// The job that fell due after the stop is another worker's.
		if job := claimOne(t, c, q); job.JobID != second {
			t.Fatalf("%+v", job)
		}
		if err := w.Start(context.Background()); err == nil {
			t.Fatal("a stopped worker started again")
		}
	})

	t.Run("releasing what runs past the stop timeout", func(t *testing.T) {
		q := queueName("w-stop-timeout")
		id := park(t, c, q, "w-stop", []byte("slow"))
		running := make(chan struct{}, 1)
		w, _ := startWorker(t, c, q, func(ctx context.Context, _ retryd.DueJob) error {
			running <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}, retryd.WithStopTimeout(300*time.Millisecond))
		select {
		case <-running:
		case <-time.After(3 * time.Second):
			t.Fatal("no job within 3s")
		}
		start := time.Now()
		w.Stop()
		if err := waitStopped(t, w, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 300*time.Millisecond {
			t.Fatalf("stopped after %v", took)
		}
		if s := w.Stats(); s.Released != 1 || s.Retried != 0 {
			t.Fatalf("%+v", s)
		}
		// Due again at once, no failure counted.
		job := claimOne(t, c, q)
		if job.JobID != id || job.Attempt != 2 {
			t.Fatalf("%+v", job)
		}
		held, _ := c.GetJob(ctxT(t), id)
		if held.FailureCount != 1 {
			t.Fatalf("%+v", held)
		}
	})
}

func TestWorkerReconnectsWhenTheSidecarRestarts(t *testing.T) {
	t.Parallel()
	side := ownDeliveryRetryd(t, "")
	c := newClient(t, side.Addr)
	q := queueName("w-restart")
	got := make(chan retryd.DueJob, 4)
	w, logs := startWorker(t, c, q, func(ctx context.Context, job retryd.DueJob) error {
		got <- job
		return nil
	})
	park(t, c, q, "w-restart", []byte("before"))
	select {
	case <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("no job within 3s")
	}
	// Settled before the stop: a success still on its way when the sidecar
	// goes would find the restarted (empty) sidecar without its lease.
	eventually(t, 5*time.Second, "the first success reported", func() bool { return w.Stats().Succeeded == 1 })
	side.stop()
	time.Sleep(300 * time.Millisecond)
	side.start() // in memory: it holds nothing now
	id := jobID("w-restart")
	eventually(t, 3*time.Second, "the client reconnected", func() bool {
		_, err := c.ReportFailure(ctxT(t), id, syscall.ECONNRESET, retryd.WithAttempt(1),
			retryd.WithPayload([]byte("after")), retryd.WithQueue(q))
		return err == nil
	})
	select {
	case job := <-got:
		if job.JobID != id || string(job.Payload) != "after" {
			t.Fatalf("%+v", job)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no job after the restart within 5s; logs:\n%s", logs)
	}
	eventually(t, 5*time.Second, "the success reported", func() bool { return w.Stats().Succeeded == 2 })
	if s := w.Stats(); s.Reconnects < 1 {
		t.Fatalf("%+v", s)
	}
}

func TestWorkerStopsOnARefusalThatWaitingWouldNotHelp(t *testing.T) {
	t.Parallel()
	off := ownDeliveryRetryd(t, "enabled = false\n")
	c := newClient(t, off.Addr)
	w, err := retryd.NewWorker(c, "mail", func(context.Context, retryd.DueJob) error { return nil },
		retryd.WithLogger(log.New(io.Discard, "", 0)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = w.Run(ctx)
	var re *retryd.Error
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `retryd: Worker on queue "mail": retryd: FailedPrecondition: delivery is off`) {
		t.Fatalf("%v", err)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(retryd.NewWorker(nil, "q", func(context.Context, retryd.DueJob) error { return nil })), "client must not be nil"},
		{second(retryd.NewWorker(c, "q", nil)), "handler must not be nil"},
		{second(retryd.NewWorker(c, "", func(context.Context, retryd.DueJob) error { return nil })), "queue must not be empty"},
		{second(retryd.NewWorker(c, "q", func(context.Context, retryd.DueJob) error { return nil }, retryd.WithConcurrency(0))), "WithConcurrency: concurrency must be 1 to 1000, got 0"},
		{second(retryd.NewWorker(c, "q", func(context.Context, retryd.DueJob) error { return nil }, retryd.WithWorkerLease(0))), "WithWorkerLease"},
		{second(retryd.NewWorker(c, "q", func(context.Context, retryd.DueJob) error { return nil }, retryd.WithReportOptions(retryd.WithPriority(101)))), "WithPriority"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%v, want %q", tc.err, tc.want)
		}
	}
}
