package retryd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A Retry-After longer than this is a mistake, not advice: retryd refuses
// it, so one read from a response is dropped rather than sent.
const maxHint = 366 * 24 * time.Hour

// PushbackTrailer is gRPC's trailer naming how long to wait before retrying
// (milliseconds; negative: do not retry).
const PushbackTrailer = "grpc-retry-pushback-ms"

// ErrorInfo is what retryd is told about a failure. ErrorInfoOf makes one
// from an error; an ErrorInfo is itself an error, so one made by hand can be
// passed to ReportFailure and is sent as it is.
type ErrorInfo struct {
	// Type names the error (see ErrorInfoOf); retryd matches the part after
	// the last '.'.
	Type string
	// Message is the error's text (at most 64 KiB of valid UTF-8).
	Message string
	// HTTPStatus is the HTTP status the attempt got (0: none).
	HTTPStatus int
	// GRPCCode is the gRPC code the attempt got (codes.OK: none).
	GRPCCode codes.Code
	// Retryable is the caller's own verdict (nil: none).
	Retryable *bool
	// RetryAfter is the wait the server named (Retry-After, or a gRPC
	// pushback of 0 or more), when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// PushbackMs is gRPC's grpc-retry-pushback-ms, when HasPushback; a
	// negative one ("do not retry") makes retryd give up (ReasonPushback).
	PushbackMs  int64
	HasPushback bool
}

func (e ErrorInfo) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// HTTPError is an HTTP response that failed the attempt: ReportFailure
// sends its status and Retry-After. Make one with ResponseError.
type HTTPError struct {
	Response *http.Response
}

// ResponseError makes an error of an *http.Response, e.g. one whose status
// is not 2xx: return retryd.ResponseError(resp).
func ResponseError(resp *http.Response) error {
	return &HTTPError{Response: resp}
}

func (e *HTTPError) Error() string {
	r := e.Response
	if r == nil {
		return "HTTP response (nil)"
	}
	msg := "HTTP " + r.Status
	if r.Status == "" {
		msg = "HTTP " + strconv.Itoa(r.StatusCode)
	}
	if r.Request != nil && r.Request.URL != nil {
		msg += " from " + r.Request.Method + " " + r.Request.URL.Redacted()
	}
	return msg
}

// WithTrailer passes the trailer of the gRPC call that failed (from the
// grpc.Trailer call option), for its grpc-retry-pushback-ms. The unary
// interceptor does this by itself.
func WithTrailer(md metadata.MD) Option {
	return func(cc *callConfig) {
		cc.trailer = md.Get(PushbackTrailer)
	}
}

// ErrorInfoOf is what ReportFailure sends for err (opts may add a trailer, a
// retry-after or a verdict). The chain of wrapped errors is walked (errors.As,
// errors.Is), and:
//
//   - an ErrorInfo in it is sent as it is;
//   - the message is err.Error(), cut to 64 KiB;
//   - the HTTP status and Retry-After (seconds or an HTTP-date) are an
//     *HTTPError's (ResponseError);
//   - the gRPC code is a status's (any error with GRPCStatus(), as grpc-go
//     returns), and its pushback comes from WithTrailer;
//   - the type names the failure: "syscall.ECONNREFUSED" (any syscall.Errno
//     by its name: ECONNRESET, EPIPE, ETIMEDOUT, EACCES...),
//     "context.DeadlineExceeded", "context.Canceled",
//     "os.ErrDeadlineExceeded", "io.ErrUnexpectedEOF", "io.EOF";
//     "net.Error.Timeout" for another net.Error whose Timeout() is true;
//     else the Go type of the first error in the chain that is not a mere
//     wrapper (fmt.Errorf's %w, *url.Error, *net.OpError, *os.SyscallError,
//     *fs.PathError, *os.LinkError), as "package.Type": "net.DNSError",
//     "x509.UnknownAuthorityError", "status.Error", "retryd.HTTPError",
//     "billing.ValidationError".
func ErrorInfoOf(err error, opts ...Option) ErrorInfo {
	cc := configure(opts)
	return errorInfoOf(err, &cc)
}

func errorInfoOf(err error, cc *callConfig) ErrorInfo {
	if err == nil {
		return ErrorInfo{}
	}
	var given ErrorInfo
	var info ErrorInfo
	if errors.As(err, &given) {
		info = given
		info.Type = cutUTF8(info.Type, MaxType)
		info.Message = cutUTF8(info.Message, MaxMessage)
		if info.HTTPStatus < 100 || info.HTTPStatus > 599 {
			info.HTTPStatus = 0
		}
		if info.GRPCCode < 0 || info.GRPCCode > 16 {
			info.GRPCCode = codes.OK
		}
	} else {
		info = ErrorInfo{Type: cutUTF8(typeName(err), MaxType), Message: cutUTF8(err.Error(), MaxMessage)}
		var he *HTTPError
		if errors.As(err, &he) && he.Response != nil {
			if s := he.Response.StatusCode; s >= 100 && s <= 599 {
				info.HTTPStatus = s
			}
			if d, ok := ParseRetryAfter(he.Response.Header.Get("Retry-After"), time.Now()); ok {
				info.RetryAfter, info.HasRetryAfter = d, true
			}
		}
		if s, ok := grpcStatus(err); ok && s.Code() != codes.OK {
			info.GRPCCode = s.Code()
		}
	}
	if len(cc.trailer) > 0 {
		if ms, e := strconv.ParseInt(strings.TrimSpace(cc.trailer[0]), 10, 64); e == nil {
			info.PushbackMs, info.HasPushback = ms, true
			if ms >= 0 && time.Duration(ms)*time.Millisecond <= maxHint && !info.HasRetryAfter {
				info.RetryAfter, info.HasRetryAfter = time.Duration(ms)*time.Millisecond, true
			}
		}
	}
	if cc.retryAfter != nil {
		info.RetryAfter, info.HasRetryAfter = *cc.retryAfter, true
	}
	if cc.retryable != nil {
		v := *cc.retryable
		info.Retryable = &v
	}
	return info
}

func grpcStatus(err error) (*status.Status, bool) {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		if s := se.GRPCStatus(); s != nil {
			return s, true
		}
	}
	return nil, false
}

// The Go types that only wrap another error, adding context: the type sent
// is their cause's.
var wrappers = map[string]bool{
	"*fmt.wrapError":    true,
	"*fmt.wrapErrors":   true,
	"*url.Error":        true,
	"*net.OpError":      true,
	"*os.SyscallError":  true,
	"*fs.PathError":     true,
	"*os.PathError":     true,
	"*os.LinkError":     true,
	"*errors.joinError": true,
}

// Sentinel errors named by their variable.
var sentinels = []struct {
	err  error
	name string
}{
	{context.DeadlineExceeded, "context.DeadlineExceeded"},
	{context.Canceled, "context.Canceled"},
	{os.ErrDeadlineExceeded, "os.ErrDeadlineExceeded"},
	{io.ErrUnexpectedEOF, "io.ErrUnexpectedEOF"},
	{io.EOF, "io.EOF"},
}

func typeName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return "syscall." + name
		}
		return "syscall.Errno"
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	first := firstSpecific(err)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !exported(first) {
		return "net.Error.Timeout"
	}
	return goTypeName(first)
}

// firstSpecific is the first error in err's chain that is not a wrapper.
func firstSpecific(err error) error {
	for e := err; e != nil; {
		if !wrappers[reflect.TypeOf(e).String()] {
			return e
		}
		next := errors.Unwrap(e)
		if next == nil {
			if m, ok := e.(interface{ Unwrap() []error }); ok && len(m.Unwrap()) > 0 {
				next = m.Unwrap()[0]
			}
		}
		if next == nil {
			return e
		}
		e = next
	}
	return err
}

func goTypeName(err error) string {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Ptr && t.Name() == "" {
		t = t.Elem()
	}
	name := t.String() // package name, not path: "net.DNSError"
	if name == "" {
		name = fmt.Sprintf("%T", err)
	}
	return strings.TrimLeft(name, "*")
}

func exported(err error) bool {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	r, _ := utf8.DecodeRuneInString(t.Name())
	return r >= 'A' && r <= 'Z'
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (the time left until it from now; zero if past). ok is false for an empty
// or unreadable value, or one over 366 days (retryd would refuse it).
func ParseRetryAfter(value string, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs != secs || secs > maxHint.Seconds() {
			return 0, false
		}
		if secs < 0 {
			secs = 0
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	when, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = when.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > maxHint {
		return 0, false
	}
	return d, true
}

// cutUTF8 is s made valid UTF-8 and cut to at most limit bytes, on a
// character boundary.
func cutUTF8(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= limit {
		return s
	}
	end := limit
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end]
}

var errnoNames = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.ECONNRESET:   "ECONNRESET",
	syscall.ECONNABORTED: "ECONNABORTED",
	syscall.EPIPE:        "EPIPE",
	syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH:  "ENETUNREACH",
	syscall.ENETDOWN:     "ENETDOWN",
	syscall.ETIMEDOUT:    "ETIMEDOUT",
	syscall.EACCES:       "EACCES",
	syscall.EPERM:        "EPERM",
	syscall.ENOENT:       "ENOENT",
	syscall.EADDRINUSE:   "EADDRINUSE",
	syscall.EAGAIN:       "EAGAIN",
	syscall.EMFILE:       "EMFILE",
	syscall.ENOSPC:       "ENOSPC",
	syscall.ENOMEM:       "ENOMEM",
	syscall.EEXIST:       "EEXIST",
	syscall.EINVAL:       "EINVAL",
	syscall.EROFS:        "EROFS",
}
