//! Classification case by case: the built-in rules for each runtime,
//! configured rules before them, first match wins, explanations.

use super::*;

fn builtins() -> Classifier {
    Classifier::new(Vec::new()).expect("built-in rules compile")
}

fn report<'a>(type_name: &'a str, message: &'a str, http: u16, grpc: u8) -> ErrorReport<'a> {
    ErrorReport {
        type_name,
        message,
        http_status: http,
        grpc_code: grpc,
        retryable: None,
    }
}

fn class_of(c: &Classifier, e: ErrorReport<'_>) -> (ErrorClass, String) {
    let got = c.classify(&e);
    (got.class, c.category_name(got.category).to_string())
}

fn describe(c: &Classifier, e: ErrorReport<'_>) -> String {
    c.describe(&c.classify(&e)).to_string()
}

#[test]
fn every_builtin_permanent_type_is_permanent() {
    let c = builtins();
    for t in [
        "ValidationError",
        "FileNotFoundError",
        "InvalidFileFormat",
        "AuthenticationError",
        "AuthenticationFailed",
        "PermissionDenied",
        "UnsupportedFormat",
        "CorruptedFile",
        "InvalidFileType",
        "FileTooLarge",
    ] {
        assert_eq!(
            c.classify(&report(t, "", 0, 0)).class,
            ErrorClass::Permanent,
            "{t}"
        );
    }
}

#[test]
fn every_builtin_transient_type_is_transient() {
    let c = builtins();
    for t in [
        "ConnectionError",
        "Timeout",
        "TimeoutError",
        "ReadTimeout",
        "APIError",
        "RateLimitError",
        "RateLimitExceeded",
        "ServiceUnavailable",
        "TemporaryFailure",
        "S3ConnectionError",
    ] {
        assert_eq!(
            c.classify(&report(t, "", 0, 0)).class,
            ErrorClass::Transient,
            "{t}"
        );
    }
}

#[test]
fn type_names_match_last_segment_case_insensitively() {
    let c = builtins();
    for t in [
        "requests.exceptions.ConnectionError",
        "connectionerror",
        "CONNECTIONERROR",
        "aiohttp::ConnectionError",
        "com.example.Outer$ConnectionError",
    ] {
        assert_eq!(
            class_of(&c, report(t, "", 0, 0)),
            (ErrorClass::Transient, "network".into()),
            "{t}"
        );
    }
    // A type that merely contains a known name is not an exact match.
    assert_eq!(
        c.classify(&report("MyConnectionErrorX", "", 0, 0)).class,
        ErrorClass::Unknown
    );
    // Not on a middle segment either.
    assert_eq!(
        c.classify(&report("ConnectionError.Wrapper", "", 0, 0))
            .class,
        ErrorClass::Unknown
    );
}

#[test]
fn http_statuses() {
    let c = builtins();
    assert_eq!(
        class_of(&c, report("", "", 429, 0)),
        (ErrorClass::Transient, "rate_limit".into())
    );
    for s in [400, 401, 403, 404, 408, 422, 499] {
        assert_eq!(
            class_of(&c, report("", "", s, 0)),
            (ErrorClass::Permanent, "client_error".into()),
            "{s}"
        );
    }
    for s in [500, 502, 503, 504, 599] {
        assert_eq!(
            class_of(&c, report("", "", s, 0)),
            (ErrorClass::Transient, "server_error".into()),
            "{s}"
        );
    }
    for s in [200, 301, 100] {
        assert_eq!(
            c.classify(&report("", "", s, 0)).class,
            ErrorClass::Unknown,
            "{s}"
        );
    }
}

#[test]
fn grpc_codes() {
    let c = builtins();
    for name in [
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ABORTED",
        "INTERNAL",
        "UNKNOWN",
    ] {
        let code = grpc_code_from_name(name).expect("known code");
        assert_eq!(
            c.classify(&report("", "", 0, code)).class,
            ErrorClass::Transient,
            "{name}"
        );
    }
    for name in [
        "CANCELLED",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ] {
        let code = grpc_code_from_name(name).expect("known code");
        assert_eq!(
            c.classify(&report("", "", 0, code)).class,
            ErrorClass::Permanent,
            "{name}"
        );
    }
    assert_eq!(grpc_code_from_name("unavailable"), Some(14));
    assert_eq!(grpc_code_from_name("14"), Some(14));
    assert_eq!(grpc_code_from_name("17"), None);
    assert_eq!(grpc_code_from_name("NOPE"), None);
    assert_eq!(grpc_code_name(14), "UNAVAILABLE");
}

#[test]
fn message_patterns_transient_before_permanent() {
    let c = builtins();
    assert_eq!(
        class_of(&c, report("", "Connection to 10.0.0.1 was REFUSED", 0, 0)),
        (ErrorClass::Transient, "network".into())
    );
    assert_eq!(
        class_of(
            &c,
            report(
                "",
                "docker: Cannot connect, is the docker daemon not running?",
                0,
                0
            )
        ),
        (ErrorClass::Transient, "docker".into())
    );
    assert_eq!(
        class_of(
            &c,
            report("", "write failed: no space left on device", 0, 0)
        ),
        (ErrorClass::Transient, "resources".into())
    );
    assert_eq!(
        class_of(&c, report("", "Error: No such image: foo:latest", 0, 0)),
        (ErrorClass::Permanent, "not_found".into())
    );
    assert_eq!(
        class_of(&c, report("", "open /etc/x: Permission denied", 0, 0)),
        (ErrorClass::Permanent, "auth".into())
    );
    // Both a transient and a permanent pattern: transient comes first.
    assert_eq!(
        c.classify(&report(
            "",
            "permission denied, then connection reset",
            0,
            0
        ))
        .class,
        ErrorClass::Transient
    );
    assert_eq!(
        c.classify(&report("", "something odd", 0, 0)).class,
        ErrorClass::Unknown
    );
}

#[test]
fn builtin_order_type_before_grpc_before_http_before_message() {
    let c = builtins();
    // Permanent type beats a transient HTTP status.
    assert_eq!(
        c.classify(&report("ValidationError", "", 503, 0)).class,
        ErrorClass::Permanent
    );
    // Transient type beats a permanent HTTP status.
    assert_eq!(
        c.classify(&report("Timeout", "", 404, 0)).class,
        ErrorClass::Transient
    );
    // gRPC before HTTP.
    assert_eq!(
        c.classify(&report("", "", 503, 3)).class,
        ErrorClass::Permanent
    );
    // HTTP before message patterns.
    assert_eq!(
        c.classify(&report("", "connection refused", 404, 0)).class,
        ErrorClass::Permanent
    );
    // Unknown type falls through to the message.
    assert_eq!(
        class_of(&c, report("WeirdError", "network timeout after 30s", 0, 0)),
        (ErrorClass::Transient, "network".into())
    );
}

#[test]
fn caller_verdict_comes_after_configured_rules_and_before_builtins() {
    let mut configured = Rule::new("flaky_vendor", ErrorClass::Transient);
    configured.types = vec!["VendorError".into()];
    let c = Classifier::new(vec![configured]).expect("compiles");

    let mut e = report("ValidationError", "", 0, 0);
    e.retryable = Some(true);
    assert_eq!(class_of(&c, e), (ErrorClass::Transient, "caller".into()));

    let mut e = report("ConnectionError", "", 503, 0);
    e.retryable = Some(false);
    assert_eq!(class_of(&c, e), (ErrorClass::Permanent, "caller".into()));

    let mut e = report("vendor.VendorError", "", 0, 0);
    e.retryable = Some(false);
    assert_eq!(
        class_of(&c, e),
        (ErrorClass::Transient, "flaky_vendor".into())
    );
}

#[test]
fn configured_rules_come_first_and_match_any_matcher() {
    let mut docker = Rule::new("docker", ErrorClass::Permanent);
    docker.message_regex = vec!["connection.*refused".into()];
    let mut quota = Rule::new("quota", ErrorClass::Transient);
    quota.http_status = vec![(403, 403)];
    quota.grpc_codes = vec![7];
    quota.type_contains = vec!["quota".into()];
    let c = Classifier::new(vec![docker, quota]).expect("compiles");

    // Configured message rule beats the built-in transient pattern and type.
    assert_eq!(
        class_of(&c, report("ConnectionError", "Connection Refused", 0, 0)),
        (ErrorClass::Permanent, "docker".into())
    );
    assert_eq!(
        class_of(&c, report("", "", 403, 0)),
        (ErrorClass::Transient, "quota".into())
    );
    assert_eq!(
        class_of(&c, report("", "", 0, 7)),
        (ErrorClass::Transient, "quota".into())
    );
    assert_eq!(
        class_of(&c, report("google.api.QuotaExceededError", "", 0, 0)),
        (ErrorClass::Transient, "quota".into())
    );
    // Other statuses still reach the built-ins.
    assert_eq!(
        class_of(&c, report("", "", 404, 0)),
        (ErrorClass::Permanent, "client_error".into())
    );
}

#[test]
fn explanation_names_rule_and_matcher() {
    let c = builtins();
    assert_eq!(
        describe(&c, report("x.TimeoutError", "", 0, 0)),
        "built-in rule `timeout`: type TimeoutError"
    );
    assert_eq!(
        describe(&c, report("", "", 503, 0)),
        "built-in rule `server_error`: HTTP 503"
    );
    assert_eq!(
        describe(&c, report("", "", 0, 14)),
        "built-in rule `unavailable`: gRPC UNAVAILABLE"
    );
    assert_eq!(
        describe(&c, report("", "connection reset by peer", 0, 0)),
        "built-in rule `network`: message matches /connection.*reset/"
    );
    assert_eq!(describe(&c, report("", "?", 0, 0)), "no rule matched");
}

#[test]
fn stored_matches_are_described_from_the_kept_error() {
    let c = builtins();
    for e in [
        report("x.TimeoutError", "", 0, 0),
        report("", "", 503, 0),
        report("", "", 0, 14),
        report("", "connection reset by peer", 0, 0),
        report("", "?", 0, 0),
    ] {
        let cls = c.classify(&e);
        let stored = c
            .describe_stored(cls.rule, cls.matched.kind(), &e)
            .to_string();
        assert_eq!(stored, c.describe(&cls).to_string());
    }
    let mut e = report("ValidationError", "", 0, 0);
    e.retryable = Some(true);
    let cls = c.classify(&e);
    assert_eq!(
        c.describe_stored(cls.rule, cls.matched.kind(), &e)
            .to_string(),
        "the caller's verdict retryable=true"
    );
}

/// Each error as its runtime prints it: `(type, message, HTTP, class, category)`.
/// A type that says nothing (Node's `Error`, Go's `*url.Error`) leaves
/// the message to decide.
#[test]
fn errors_of_every_runtime_are_classified() {
    use ErrorClass::{Permanent as P, Transient as T};
    let c = builtins();
    let cases: &[(&str, &str, u16, ErrorClass, &str)] = &[
        // Node.js: the type as `err.name` (`Error`) with the message, and
        // as `err.code`, which the Node client sends.
        (
            "Error",
            "connect ECONNREFUSED 127.0.0.1:5432",
            0,
            T,
            "network",
        ),
        (
            "ECONNREFUSED",
            "connect ECONNREFUSED 127.0.0.1:5432",
            0,
            T,
            "network",
        ),
        ("Error", "read ECONNRESET", 0, T, "network"),
        ("ECONNRESET", "read ECONNRESET", 0, T, "network"),
        ("Error", "getaddrinfo EAI_AGAIN db", 0, T, "network"),
        ("EAI_AGAIN", "getaddrinfo EAI_AGAIN db", 0, T, "network"),
        ("Error", "getaddrinfo ENOTFOUND db", 0, T, "network"),
        ("Error", "write EPIPE", 0, T, "network"),
        ("EPIPE", "write EPIPE", 0, T, "network"),
        ("Error", "socket hang up", 0, T, "network"),
        ("Error", "connect ETIMEDOUT 10.0.0.1:443", 0, T, "timeout"),
        (
            "ETIMEDOUT",
            "connect ETIMEDOUT 10.0.0.1:443",
            0,
            T,
            "timeout",
        ),
        ("AbortError", "This operation was aborted", 0, T, "timeout"),
        (
            "TimeoutError",
            "The operation was aborted due to timeout",
            0,
            T,
            "timeout",
        ),
        (
            "Error",
            "The operation was aborted due to timeout",
            0,
            T,
            "timeout",
        ),
        (
            "UND_ERR_CONNECT_TIMEOUT",
            "fetch failed: Connect Timeout Error",
            0,
            T,
            "timeout",
        ),
        (
            "UND_ERR_SOCKET",
            "fetch failed: other side closed",
            0,
            T,
            "network",
        ),
        ("AxiosError", "timeout of 500ms exceeded", 0, T, "timeout"),
        (
            "ENOENT",
            "ENOENT: no such file or directory, open '/data/x.csv'",
            0,
            P,
            "not_found",
        ),
        (
            "EACCES",
            "EACCES: permission denied, open '/data/x.csv'",
            0,
            P,
            "auth",
        ),
        // An axios error with a response: the status decides.
        (
            "AxiosError",
            "Request failed with status code 503",
            503,
            T,
            "server_error",
        ),
        (
            "AxiosError",
            "Request failed with status code 404",
            404,
            P,
            "client_error",
        ),
        // Go: errors carry no useful type; the message decides.
        (
            "*url.Error",
            "Get \"http://db/\": context deadline exceeded",
            0,
            T,
            "timeout",
        ),
        ("", "context deadline exceeded", 0, T, "timeout"),
        (
            "*net.OpError",
            "dial tcp 10.0.0.1:5432: i/o timeout",
            0,
            T,
            "timeout",
        ),
        (
            "*net.OpError",
            "read tcp 10.0.0.2:41234->10.0.0.1:5432: read: connection reset by peer",
            0,
            T,
            "network",
        ),
        (
            "*net.OpError",
            "dial tcp: lookup db on 10.0.0.10:53: no such host",
            0,
            T,
            "network",
        ),
        ("", "unexpected EOF", 0, T, "network"),
        (
            "",
            "write tcp 10.0.0.2:41234->10.0.0.1:5432: write: broken pipe",
            0,
            T,
            "network",
        ),
        // Java.
        (
            "java.net.SocketTimeoutException",
            "Read timed out",
            0,
            T,
            "timeout",
        ),
        (
            "java.net.ConnectException",
            "Connection refused",
            0,
            T,
            "network",
        ),
        ("java.net.UnknownHostException", "db", 0, T, "network"),
        (
            "java.net.SocketException",
            "Connection reset",
            0,
            T,
            "network",
        ),
        (
            "java.sql.SQLTransientConnectionException",
            "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            0,
            T,
            "unavailable",
        ),
        ("java.util.concurrent.TimeoutException", "", 0, T, "timeout"),
        (
            "java.io.FileNotFoundException",
            "/data/x.csv (No such file or directory)",
            0,
            P,
            "not_found",
        ),
        // .NET.
        (
            "System.Net.Http.HttpRequestException",
            "Connection refused (db:5432)",
            0,
            T,
            "network",
        ),
        // With a status (EnsureSuccessStatusCode), the status decides.
        (
            "System.Net.Http.HttpRequestException",
            "Response status code does not indicate success: 404 (Not Found).",
            404,
            P,
            "client_error",
        ),
        (
            "System.Threading.Tasks.TaskCanceledException",
            "The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.",
            0,
            T,
            "timeout",
        ),
        (
            "System.TimeoutException",
            "The operation has timed out.",
            0,
            T,
            "timeout",
        ),
        (
            "System.Net.Sockets.SocketException",
            "No such host is known.",
            0,
            T,
            "network",
        ),
        (
            "System.UnauthorizedAccessException",
            "Access to the path is denied.",
            0,
            P,
            "auth",
        ),
        // Python.
        (
            "ConnectionResetError",
            "[Errno 104] Connection reset by peer",
            0,
            T,
            "network",
        ),
        (
            "builtins.BrokenPipeError",
            "[Errno 32] Broken pipe",
            0,
            T,
            "network",
        ),
        (
            "ConnectionRefusedError",
            "[Errno 111] Connection refused",
            0,
            T,
            "network",
        ),
        (
            "socket.gaierror",
            "[Errno -2] Name or service not known",
            0,
            T,
            "network",
        ),
        (
            "celery.exceptions.SoftTimeLimitExceeded",
            "SoftTimeLimitExceeded()",
            0,
            T,
            "timeout",
        ),
        (
            "httpx.ConnectError",
            "[Errno 111] Connection refused",
            0,
            T,
            "network",
        ),
        ("httpx.ConnectTimeout", "timed out", 0, T, "timeout"),
        ("requests.exceptions.ConnectTimeout", "", 0, T, "timeout"),
        (
            "httpx.HTTPStatusError",
            "Server error '503 Service Unavailable'",
            503,
            T,
            "server_error",
        ),
        (
            "PermissionError",
            "[Errno 13] Permission denied: '/data'",
            0,
            P,
            "auth",
        ),
        // Ruby: Errno::X is matched on its last segment.
        (
            "Errno::ECONNREFUSED",
            "Connection refused - connect(2) for \"db\" port 5432",
            0,
            T,
            "network",
        ),
        ("Net::OpenTimeout", "execution expired", 0, T, "timeout"),
        // Rust.
        (
            "std::io::Error",
            "Broken pipe (os error 32)",
            0,
            T,
            "network",
        ),
        ("std::io::Error", "connection timed out", 0, T, "timeout"),
    ];
    for &(t, m, http, class, category) in cases {
        assert_eq!(
            class_of(&c, report(t, m, http, 0)),
            (class, category.to_string()),
            "{t}: {m}"
        );
    }
}

#[test]
fn new_patterns_keep_to_whole_words() {
    let c = builtins();
    // errno names only as words: not inside other words.
    for m in [
        "depipeline failed",
        "reconnresetting",
        "the setimedout flag",
    ] {
        assert_eq!(
            c.classify(&report("", m, 0, 0)).class,
            ErrorClass::Unknown,
            "{m}"
        );
    }
    // A permanent type still beats a transient message.
    assert_eq!(
        class_of(&c, report("ValidationError", "upstream timed out", 0, 0)),
        (ErrorClass::Permanent, "invalid_input".into())
    );
    // The explanation names the pattern that matched.
    assert_eq!(
        describe(
            &c,
            report("Error", "connect ECONNREFUSED 127.0.0.1:5432", 0, 0)
        ),
        "built-in rule `network`: message matches /\\beconnrefused\\b/"
    );
    assert_eq!(
        describe(&c, report("", "context deadline exceeded", 0, 0)),
        "built-in rule `timeout`: message matches /deadline exceeded/"
    );
    assert_eq!(
        describe(&c, report("ECONNRESET", "read ECONNRESET", 0, 0)),
        "built-in rule `network`: type ECONNRESET"
    );
}

#[test]
fn non_ascii_and_long_type_names() {
    let mut r = Rule::new("odd", ErrorClass::Transient);
    r.types = vec!["ÉchecRéseau".into()];
    let c = Classifier::new(vec![r]).expect("compiles");
    assert_eq!(
        c.classify(&report("app.échecréseau", "", 0, 0)).class,
        ErrorClass::Transient
    );
    let long = "x".repeat(1000);
    assert_eq!(
        c.classify(&report(&long, "", 0, 0)).class,
        ErrorClass::Unknown
    );
}
