package retryd_test

// What the tests start, each on a free 127.0.0.1 port, and stop after them:
// a retryd sidecar ($RETRYD_BIN, default the repository's target/debug/retryd),
// a black hole (a TCP server that never answers) and HTTP servers.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"retryd.dev/go/retryd"
)

// Small delays so that the tests are fast: 4 attempts, 100 ms apart.
const testConfig = `
[policies.default]
max_attempts = 4
backoff = { kind = "constant", delay = "100ms" }
`

const (
	maxAttempts = 4
	delay       = 100 * time.Millisecond
)

// repoRoot is the repository's root: this package's real directory is
// clients/go (the tests run from a GOPATH that links to it).
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(abs))
}

func retrydBin(t testing.TB) string {
	bin := os.Getenv("RETRYD_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "target", "debug", "retryd")
	}
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("no retryd binary at %s: run `cargo build`, or set RETRYD_BIN", bin)
	}
	return bin
}

type sidecar struct {
	Addr string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

var serving = regexp.MustCompile(`retryd serving grpc=(\S+)`)

// startRetryd runs retryd with config on addr ("127.0.0.1:0" for a free
// port) until the test ends.
func startRetryd(t testing.TB, config, addr string) *sidecar {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "retryd.toml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "retryd.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(retrydBin(t), "--grpc-addr", addr, "--metrics-addr", "127.0.0.1:0", "--config", file)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	s := &sidecar{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, _ := os.ReadFile(logPath)
		if m := serving.FindSubmatch(text); m != nil {
			s.Addr = string(m[1])
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("retryd exited: %s\n%s", cmd.ProcessState, text)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("retryd not serving after 30s:\n%s", text)
		}
	}
}

func (s *sidecar) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

var (
	sharedOnce sync.Once
	shared     *sidecar
	sharedStop func()
)

// sharedRetryd is one sidecar with testConfig for the tests that need no
// sidecar of their own; TestMain stops it.
func sharedRetryd(t testing.TB) string {
	sharedOnce.Do(func() {
		ft := &fakeT{TB: t}
		shared = startRetryd(ft, testConfig, "127.0.0.1:0")
		sharedStop = ft.cleanup
	})
	if shared == nil {
		t.Fatal("the shared retryd did not start")
	}
	return shared.Addr
}

// fakeT holds the shared sidecar's cleanups until TestMain runs them.
type fakeT struct {
	testing.TB
	mu  sync.Mutex
	fns []func()
	dir string
}

func (f *fakeT) Cleanup(fn func()) {
	f.mu.Lock()
	f.fns = append(f.fns, fn)
	f.mu.Unlock()
}

func (f *fakeT) TempDir() string {
	if f.dir == "" {
		d, err := os.MkdirTemp("", "retryd-go-test-")
		if err != nil {
			f.TB.Fatal(err)
		}
		f.dir = d
	}
	return f.dir
}

func (f *fakeT) cleanup() {
	for i := len(f.fns) - 1; i >= 0; i-- {
		f.fns[i]()
	}
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedStop != nil {
		sharedStop()
	}
	if deliveryStop != nil {
		deliveryStop()
	}
	os.Exit(code)
}

// Delivery's tests: a 300 ms backoff (a reported job is due 300 ms later),
// five attempts, and a job dead after two unsettled hand-outs in a row.
const deliveryConfig = `
[policies.default]
max_attempts = 5
backoff = { kind = "constant", delay = "300ms" }

[delivery]
max_deliveries = 2
`

const deliveryDelay = 300 * time.Millisecond

// deliveryRetryd is what delivery's tests run against, made here alone:
// one memory sidecar with deliveryConfig, shared by the tests (each on
// queues of its own), stopped by TestMain. A fleet variant (sidecars on a
// Redis Cluster) is a change of this function and of ownDeliveryRetryd.
func deliveryRetryd(t testing.TB) string {
	deliveryOnce.Do(func() {
		ft := &fakeT{TB: t}
		delivery = startRetryd(ft, deliveryConfig, "127.0.0.1:0")
		deliveryStop = ft.cleanup
	})
	if delivery == nil {
		t.Fatal("the delivery retryd did not start")
	}
	return delivery.Addr
}

var (
	deliveryOnce sync.Once
	delivery     *sidecar
	deliveryStop func()
)

// restartable is a sidecar of a test's own that the test can stop and
// start again at the same address.
type restartable struct {
	t      testing.TB
	config string
	s      *sidecar
	Addr   string
}

// ownDeliveryRetryd is a delivery sidecar of the test's own (extra is
// appended to deliveryConfig), stopped when the test ends.
func ownDeliveryRetryd(t testing.TB, extra string) *restartable {
	r := &restartable{t: t, config: deliveryConfig + extra}
	r.s = startRetryd(t, r.config, "127.0.0.1:0")
	r.Addr = r.s.Addr
	return r
}

func (r *restartable) stop() { r.s.stop() }

func (r *restartable) start() { r.s = startRetryd(r.t, r.config, r.Addr) }

var queues int64

// queueName is a queue no other test uses.
func queueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, atomic.AddInt64(&queues, 1))
}

// eventually waits (at most within) until cond holds.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newClient(t testing.TB, addr string, opts ...retryd.ClientOption) *retryd.Client {
	t.Helper()
	c, err := retryd.New(append([]retryd.ClientOption{retryd.WithAddress(addr), retryd.WithTimeout(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var jobs int64

func jobID(prefix string) string {
	n := atomic.AddInt64(&jobs, 1)
	return fmt.Sprintf("%s-%d-%d-%d", prefix, os.Getpid(), time.Now().UnixNano(), n)
}

// blackHole accepts connections and never answers: a hung sidecar.
func blackHole(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// closedPort is an address where nothing listens.
func closedPort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resetServer reads a line from each connection, then resets it.
func resetServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				_, _ = bufio.NewReader(c).ReadString('\n')
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
