//! The built-in rules: what every runtime's common errors mean, in order,
//! after the configured rules and the caller's verdict (listed in
//! docs/decisions.md, which a test keeps in step).

use super::{ErrorClass, Rule, grpc_code_from_name};

/// Shorthands for writing the table below.
impl Rule {
    fn builtin(category: &str, class: ErrorClass) -> Self {
        Rule {
            builtin: true,
            ..Rule::new(category, class)
        }
    }

    fn types(mut self, names: &[&str]) -> Self {
        self.types = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn messages(mut self, patterns: &[&str]) -> Self {
        self.message_regex = patterns.iter().map(|s| s.to_string()).collect();
        self
    }

    fn grpc(mut self, names: &[&str]) -> Self {
        self.grpc_codes = names
            .iter()
            .filter_map(|n| grpc_code_from_name(n))
            .collect();
        self
    }

    fn http(mut self, ranges: &[(u16, u16)]) -> Self {
        self.http_status = ranges.to_vec();
        self
    }
}

/// The built-in rules, in order.
pub fn builtin_rules() -> Vec<Rule> {
    use ErrorClass::{Permanent as P, Transient as T};
    vec![
        // Permanent type names. Node.js and Ruby (`Errno::ENOENT`) name a
        // system error by its errno code.
        Rule::builtin("invalid_input", P).types(&[
            "ValidationError",
            "InvalidFileFormat",
            "UnsupportedFormat",
            "CorruptedFile",
            "InvalidFileType",
            "FileTooLarge",
        ]),
        Rule::builtin("not_found", P).types(&[
            "FileNotFoundError",
            // Java (java.io, java.nio.file) and .NET (System.IO).
            "FileNotFoundException",
            "NoSuchFileException",
            "ENOENT",
        ]),
        Rule::builtin("auth", P).types(&[
            "AuthenticationError",
            "AuthenticationFailed",
            "PermissionDenied",
            "PermissionError",
            // Java (java.nio.file) and .NET (System).
            "AccessDeniedException",
            "UnauthorizedAccessException",
            "EACCES",
            "EPERM",
        ]),
        // Transient type names.
        Rule::builtin("network", T).types(&[
            "ConnectionError",
            "S3ConnectionError",
            // Python: the subclasses of ConnectionError, and getaddrinfo's
            // socket.gaierror.
            "ConnectionResetError",
            "ConnectionRefusedError",
            "ConnectionAbortedError",
            "BrokenPipeError",
            "gaierror",
            // Python HTTP clients: httpx, aiohttp.
            "ConnectError",
            "RemoteProtocolError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            // Java (java.net) and .NET (System.Net.Sockets.SocketException).
            // An unknown host is a permanent misconfiguration in some set-ups,
            // but DNS blips are common and pass: transient, like EAI_AGAIN.
            "ConnectException",
            "NoRouteToHostException",
            "UnknownHostException",
            "SocketException",
            // Node.js (err.code; the client sends it as the type) and Ruby
            // (Errno::ECONNRESET, SocketError). ENOTFOUND is getaddrinfo's
            // "no such host": transient for the same reason as above.
            "ECONNREFUSED",
            "ECONNRESET",
            "ECONNABORTED",
            "EPIPE",
            "EHOSTUNREACH",
            "ENETUNREACH",
            "ENETDOWN",
            "EAI_AGAIN",
            "ENOTFOUND",
            "SocketError",
            // undici (Node's fetch): the other side closed the socket.
            "UND_ERR_SOCKET",
        ]),
        Rule::builtin("timeout", T).types(&[
            "Timeout",
            "TimeoutError",
            "ReadTimeout",
            // Python: requests, httpx, urllib3, aiohttp; Celery's time limits.
            "ConnectTimeout",
            "WriteTimeout",
            "PoolTimeout",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ServerTimeoutError",
            "SoftTimeLimitExceeded",
            "TimeLimitExceeded",
            // Java (java.net, java.util.concurrent, java.net.http, java.sql)
            // and .NET (System.TimeoutException; HttpClient's timeout raises
            // System.Threading.Tasks.TaskCanceledException).
            "SocketTimeoutException",
            "TimeoutException",
            "HttpTimeoutException",
            "HttpConnectTimeoutException",
            "SQLTimeoutException",
            "TaskCanceledException",
            // Node.js: errno, undici's timeouts, and fetch's AbortError (the
            // usual abort is a timer's; AbortSignal.timeout() itself gives
            // TimeoutError). Ruby: Net::OpenTimeout.
            "ETIMEDOUT",
            "ESOCKETTIMEDOUT",
            "UND_ERR_CONNECT_TIMEOUT",
            "UND_ERR_HEADERS_TIMEOUT",
            "UND_ERR_BODY_TIMEOUT",
            "AbortError",
            "OpenTimeout",
        ]),
        Rule::builtin("rate_limit", T).types(&["RateLimitError", "RateLimitExceeded"]),
        Rule::builtin("unavailable", T).types(&[
            "APIError",
            "ServiceUnavailable",
            "TemporaryFailure",
            // JDBC's transient family (e.g. a pool that timed out waiting
            // for a connection) and its "retry on a new connection".
            "SQLTransientConnectionException",
            "SQLTransientException",
            "SQLRecoverableException",
        ]),
        // gRPC codes.
        Rule::builtin("unavailable", T).grpc(&["UNAVAILABLE"]),
        Rule::builtin("timeout", T).grpc(&["DEADLINE_EXCEEDED"]),
        Rule::builtin("rate_limit", T).grpc(&["RESOURCE_EXHAUSTED"]),
        Rule::builtin("server_error", T).grpc(&["ABORTED", "INTERNAL", "UNKNOWN"]),
        Rule::builtin("auth", P).grpc(&["PERMISSION_DENIED", "UNAUTHENTICATED"]),
        Rule::builtin("client_error", P).grpc(&[
            "CANCELLED",
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "FAILED_PRECONDITION",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "DATA_LOSS",
        ]),
        // HTTP statuses.
        Rule::builtin("rate_limit", T).http(&[(429, 429)]),
        Rule::builtin("client_error", P).http(&[(400, 499)]),
        Rule::builtin("server_error", T).http(&[(500, 599)]),
        // .NET raises HttpRequestException for a failed connection and, from
        // EnsureSuccessStatusCode, for an error status: a status, when sent,
        // decides first (the rules above), so this type comes after them.
        Rule::builtin("network", T).types(&["HttpRequestException"]),
        // Message patterns, transient first: what the runtimes print when the
        // type says nothing (Node's `Error`, Go's `*url.Error`, `io::Error`).
        Rule::builtin("network", T).messages(&[
            "connection.*refused",
            "timeout.*connecting",
            "network.*timeout",
            "connection.*reset",
            "temporary failure in name resolution",
            // Node.js: `connect ECONNREFUSED 127.0.0.1:5432`, `read ECONNRESET`,
            // `write EPIPE`, `getaddrinfo EAI_AGAIN db`, `socket hang up`.
            r"\beconnrefused\b",
            r"\beconnreset\b",
            r"\beconnaborted\b",
            r"\bepipe\b",
            r"\behostunreach\b",
            r"\benetunreach\b",
            r"\beai_again\b",
            r"\benotfound\b",
            "socket hang up",
            "broken pipe",
            "no route to host",
            "network is unreachable",
            // Go's resolver (`lookup db on 10.0.0.10:53: no such host`) and
            // glibc's: transient, as for the DNS types above.
            "no such host",
            "name or service not known",
            // Go's io.ErrUnexpectedEOF: a connection closed mid-answer.
            "unexpected eof",
        ]),
        Rule::builtin("timeout", T).messages(&[
            // Go: `context deadline exceeded`, `dial tcp 10.0.0.1:5432: i/o timeout`.
            "deadline exceeded",
            "i/o timeout",
            // Node.js: errno, fetch's `The operation was aborted due to
            // timeout`, axios's `timeout of 500ms exceeded`.
            r"\betimedout\b",
            "aborted due to timeout",
            r"timeout of \d+ ?ms exceeded",
            // Java's `Read timed out`, Rust's `connection timed out`, ...
            "timed out",
        ]),
        Rule::builtin("docker", T).messages(&["docker.*daemon.*not.*running"]),
        Rule::builtin("resources", T).messages(&[
            "out of memory",
            "no space left",
            "resource temporarily unavailable",
            "system overloaded",
            "too many open files",
            "cannot allocate memory",
        ]),
        Rule::builtin("not_found", P).messages(&[
            "image.*not found",
            "no such image",
            "repository.*not found",
            "executable.*not found",
            "command.*not found",
        ]),
        Rule::builtin("config", P).messages(&["invalid.*configuration", "invalid.*command"]),
        Rule::builtin("auth", P).messages(&[
            "permission denied",
            "access denied",
            "authorization.*failed",
        ]),
    ]
}
