//! gRPC status codes by name: for rules (`grpc_codes = ["UNAVAILABLE"]`),
//! explanations, metrics labels and the CLI. (That the table is tonic's, code
//! by code, is tested at the edge: `src/server/convert.rs`.)

const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The canonical name of a numeric gRPC code (`14` → `UNAVAILABLE`).
pub fn grpc_code_name(code: u8) -> &'static str {
    GRPC_CODES
        .get(usize::from(code))
        .copied()
        .unwrap_or("INVALID")
}

/// `"unavailable"`, `"UNAVAILABLE"` or `"14"` → 14.
pub fn grpc_code_from_name(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return (usize::from(n) < GRPC_CODES.len()).then_some(n);
    }
    GRPC_CODES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .and_then(|i| u8::try_from(i).ok())
}
