package retryd_test

// Delivery's calls against a live retryd (deliveryRetryd): park, claim,
// extend, release, settle, fencing, the stream.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"retryd.dev/go/retryd"
)

func queueStats(t *testing.T, c *retryd.Client, queue string) (retryd.QueueStats, bool) {
	t.Helper()
	qs, err := c.ListQueues(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Queue == queue {
			return q, true
		}
	}
	return retryd.QueueStats{}, false
}

// claimOne claims the queue's one due job, waiting (at most 3 s) for it.
func claimOne(t *testing.T, c *retryd.Client, queue string, opts ...retryd.Option) retryd.DueJob {
	t.Helper()
	var got []retryd.DueJob
	eventually(t, 3*time.Second, "a job due on "+queue, func() bool {
		var err error
		got, err = c.ClaimDue(ctxT(t), queue, 10, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("claimed %d jobs: %+v", len(got), got)
	}
	return got[0]
}

func TestDeliveryParkClaimExtendReleaseSettle(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	ctx := ctxT(t)
	q, id := queueName("mail"), jobID("mail")
	payload := []byte(`{"to":"a@example.com"}`)
	d, err := c.ReportFailure(ctx, id, syscall.ECONNRESET, retryd.WithJobType("mail"), retryd.WithAttempt(1),
		retryd.WithPayload(payload), retryd.WithQueue(q))
	if err != nil || !d.Retry || d.RetryAfter != deliveryDelay {
		t.Fatalf("%+v %v", d, err)
	}
	// Parked, not yet due.
	if jobs, err := c.ClaimDue(ctx, q, 10); err != nil || len(jobs) != 0 {
		t.Fatalf("%+v %v", jobs, err)
	}
	job, err := c.GetJob(ctx, id)
	if err != nil || job.Queue != q || job.PayloadBytes != len(payload) || job.Deliveries != 0 || !job.LeaseUntil.IsZero() {
		t.Fatalf("%+v %v", job, err)
	}
	if s, ok := queueStats(t, c, q); !ok || s.Parked != 1 || s.Due != 0 || s.Leased != 0 || s.ParkedBytes != int64(len(payload)) {
		t.Fatalf("%+v", s)
	}

	// Due: claimed under a lease of 5 s.
	time.Sleep(time.Until(d.RetryAt))
	before := time.Now()
	got := claimOne(t, c, q, retryd.WithLeaseDuration(5*time.Second))
	if got.JobID != id || got.JobType != "mail" || got.Queue != q || !bytes.Equal(got.Payload, payload) ||
		got.Attempt != 2 || got.Deliveries != 1 || got.LastError.Type != "syscall.ECONNRESET" || got.LeaseID == "" {
		t.Fatalf("%+v", got)
	}
	if got.LeaseUntil.Before(before.Add(4*time.Second)) || got.LeaseUntil.After(time.Now().Add(5*time.Second)) ||
		got.DueAt.Sub(d.RetryAt).Abs() > 10*time.Millisecond {
		t.Fatalf("lease until %v, due at %v (retry at %v)", got.LeaseUntil, got.DueAt, d.RetryAt)
	}
	if s, _ := queueStats(t, c, q); s.Parked != 0 || s.Leased != 1 {
		t.Fatalf("%+v", s)
	}

	// Fencing: without the lease, or with another, nothing changes.
	_, err = c.ReportSuccess(ctx, id)
	var re *retryd.Error
	if !errors.Is(err, retryd.ErrLeaseLost) || !errors.As(err, &re) || re.Code != codes.FailedPrecondition ||
		errors.Is(err, retryd.ErrUnavailable) || !strings.Contains(err.Error(), "report it with that lease_id") {
		t.Fatalf("%v", err)
	}
	_, err = c.ReportFailure(ctx, id, syscall.ECONNRESET, retryd.WithLease("0000000000000001"), retryd.WithAttempt(2))
	if !errors.Is(err, retryd.ErrLeaseLost) {
		t.Fatalf("%v", err)
	}
	if job, _ := c.GetJob(ctx, id); job.FailureCount != 1 || job.Deliveries != 1 {
		t.Fatalf("%+v", job)
	}

	// A long run keeps the job.
	until, err := c.ExtendLease(ctx, id, got.LeaseID, 10*time.Second)
	if err != nil || until.Before(time.Now().Add(9*time.Second)) {
		t.Fatalf("%v %v", until, err)
	}
	if job, _ := c.GetJob(ctx, id); !job.LeaseUntil.Equal(until) {
		t.Fatalf("%v, extended to %v", job.LeaseUntil, until)
	}

	// Released: due again at once, no failure counted; the old lease is over.
	if err := c.ReleaseJob(ctx, id, got.LeaseID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExtendLease(ctx, id, got.LeaseID, 0); !errors.Is(err, retryd.ErrLeaseLost) {
		t.Fatalf("%v", err)
	}
	again := claimOne(t, c, q)
	if again.Attempt != 2 || again.Deliveries != 2 || again.LeaseID == got.LeaseID {
		t.Fatalf("%+v", again)
	}

	// Failed again with the lease: parked again (its payload kept).
	d, err = c.ReportFailure(ctx, id, syscall.ECONNRESET, retryd.WithJobType("mail"), retryd.WithLease(again.LeaseID),
		retryd.WithAttempt(again.Attempt))
	if err != nil || !d.Retry || d.FailureCount != 2 {
		t.Fatalf("%+v %v", d, err)
	}
	third := claimOne(t, c, q)
	if third.Attempt != 3 || third.Deliveries != 3 || !bytes.Equal(third.Payload, payload) {
		t.Fatalf("%+v", third)
	}

	// Success with the lease: forgotten.
	s, err := c.ReportSuccess(ctx, id, retryd.WithJobType("mail"), retryd.WithLease(third.LeaseID))
	if err != nil || !s.Known || s.FailuresBeforeSuccess != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	if job, err := c.GetJob(ctx, id); job != nil || err != nil {
		t.Fatalf("%+v %v", job, err)
	}
	if s, ok := queueStats(t, c, q); ok {
		t.Fatalf("the queue is still listed: %+v", s)
	}
	if _, err := c.ReportSuccess(ctx, id, retryd.WithLease(third.LeaseID)); !errors.Is(err, retryd.ErrLeaseLost) {
		t.Fatalf("%v", err)
	}
}

func TestDeliveryALeaseThatRunsOutHandsTheJobOutAgainUntilTheLimit(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	ctx := ctxT(t)
	q, id := queueName("poison"), jobID("poison")
	if _, err := c.ReportFailure(ctx, id, syscall.ECONNRESET, retryd.WithAttempt(1), retryd.WithPayload([]byte("x")), retryd.WithQueue(q)); err != nil {
		t.Fatal(err)
	}
	// Two claimers die in turn (max_deliveries = 2): the job is dead.
	first := claimOne(t, c, q, retryd.WithLeaseDuration(400*time.Millisecond))
	second := claimOne(t, c, q, retryd.WithLeaseDuration(400*time.Millisecond))
	if second.Deliveries != 2 || second.Attempt != first.Attempt || second.LeaseID == first.LeaseID {
		t.Fatalf("%+v then %+v", first, second)
	}
	// The first claimer, back too late, is fenced off.
	if _, err := c.ReportSuccess(ctx, id, retryd.WithLease(first.LeaseID)); !errors.Is(err, retryd.ErrLeaseLost) {
		t.Fatalf("%v", err)
	}
	eventually(t, 3*time.Second, "the job dead of the delivery limit", func() bool {
		job, err := c.GetJob(ctx, id)
		return err == nil && job != nil && job.State == "dead"
	})
	job, _ := c.GetJob(ctx, id)
	if job.LastDecision == nil || job.LastDecision.Reason != retryd.ReasonDeliveryLimit || job.PayloadBytes != 1 {
		t.Fatalf("%+v %+v", job, job.LastDecision)
	}
}

func TestDeliveryBadArgumentsAndBounds(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	ctx := ctxT(t)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(c.ClaimDue(ctx, "", 1)), "retryd: ClaimDue: queue must not be empty"},
		{second(c.ClaimDue(ctx, "q", 0)), "retryd: ClaimDue: max must be 1 to 1000, got 0"},
		{second(c.ClaimDue(ctx, "q", 1, retryd.WithLeaseDuration(-time.Second))), "WithLeaseDuration: lease must be more than 0 and at most 12h, got -1s"},
		{second(c.WatchDue(ctx, "q", 1001)), "retryd: WatchDue: maxInFlight must be 1 to 1000, got 1001"},
		{second(c.ExtendLease(ctx, "j", "l", 13*time.Hour)), "retryd: ExtendLease: lease must be 0 (the sidecar's default) to 12h, got 13h0m0s"},
		{c.ReleaseJob(ctx, "j", "l", -time.Second), "retryd: ReleaseJob: delay must not be negative, got -1s"},
		{second(c.ReportFailure(ctx, "j", syscall.ECONNRESET, retryd.WithQueue(strings.Repeat("q", 129)))), "WithQueue: queue must be at most 128 bytes, got 129"},
		// retryd's own refusals name the field.
		{c.ReleaseJob(ctx, "j", "", 0), "lease_id"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%v, want %q", tc.err, tc.want)
		}
	}
	// A payload over [delivery] max_payload_bytes: refused, not unavailable
	// (waiting would not help), and no fallback.
	fb := newClient(t, deliveryRetryd(t), retryd.WithFallback(retryd.Exponential{MaxAttempts: 3, Base: time.Second, MaxDelay: time.Minute}))
	_, err := fb.ReportFailure(ctx, jobID("big"), syscall.ECONNRESET, retryd.WithPayload(make([]byte, 300*1024)))
	var re *retryd.Error
	if !errors.As(err, &re) || re.Code != codes.ResourceExhausted || errors.Is(err, retryd.ErrUnavailable) || !strings.HasPrefix(re.Detail, "payload:") {
		t.Fatalf("%v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestWatchDueStreamsDueJobsAtMostMaxInFlight(t *testing.T) {
	t.Parallel()
	c := newClient(t, deliveryRetryd(t))
	ctx := ctxT(t)
	q := queueName("watch")
	stream, err := c.WatchDue(ctx, q, 1, retryd.WithLeaseDuration(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	ids := []string{jobID("w"), jobID("w")}
	for _, id := range ids {
		if _, err := c.ReportFailure(ctx, id, syscall.ECONNRESET, retryd.WithAttempt(1), retryd.WithPayload([]byte(id)), retryd.WithQueue(q)); err != nil {
			t.Fatal(err)
		}
	}
	jobs := make(chan retryd.DueJob, 2)
	errs := make(chan error, 1)
	go func() {
		for {
			job, err := stream.Recv()
			if err != nil {
				errs <- err
				return
			}
			jobs <- job
		}
	}()
	var first retryd.DueJob
	select {
	case first = <-jobs:
	case <-time.After(3 * time.Second):
		t.Fatal("no job within 3s")
	}
	if first.JobID != ids[0] || string(first.Payload) != ids[0] {
		t.Fatalf("%+v", first)
	}
	// One in flight: the second waits until the first is settled.
	select {
	case j := <-jobs:
		t.Fatalf("a second job in flight: %+v", j)
	case <-time.After(2 * deliveryDelay):
	}
	if _, err := c.ReportSuccess(ctx, first.JobID, retryd.WithLease(first.LeaseID)); err != nil {
		t.Fatal(err)
	}
	select {
	case j := <-jobs:
		if j.JobID != ids[1] {
			t.Fatalf("%+v", j)
		}
		if _, err := c.ReportSuccess(ctx, j.JobID, retryd.WithLease(j.LeaseID)); err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the second job did not come after the first was settled")
	}
	stream.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Recv did not return after Close")
	}
}

func TestWatchDueRefusedOrUnavailableAtOnce(t *testing.T) {
	t.Parallel()
	off := ownDeliveryRetryd(t, "enabled = false\n")
	c := newClient(t, off.Addr)
	start := time.Now()
	_, err := c.WatchDue(ctxT(t), "q", 1)
	var re *retryd.Error
	if !errors.As(err, &re) || re.Code != codes.FailedPrecondition || !strings.Contains(re.Detail, "delivery is off") || errors.Is(err, retryd.ErrLeaseLost) {
		t.Fatalf("%v", err)
	}
	for name, addr := range map[string]string{"closed port": closedPort(t), "black hole": blackHole(t)} {
		down := newClient(t, addr, retryd.WithTimeout(300*time.Millisecond))
		start = time.Now()
		_, err = down.WatchDue(ctxT(t), "q", 1)
		if !errors.Is(err, retryd.ErrUnavailable) || time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("%s: %v after %v", name, err, time.Since(start))
		}
	}
}
