//! An error and its sources on one line, for logs and the CLI.

/// "transport error: tcp connect error: Connection refused (os error 111)":
/// each source after a colon, unless the text so far already says it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Outer(&'static str, #[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Inner(&'static str);

    #[test]
    fn sources_follow_unless_already_said() {
        assert_eq!(
            error_chain(&Outer("transport error", Inner("connection refused"))),
            "transport error: connection refused"
        );
        assert_eq!(
            error_chain(&Outer(
                "bad: connection refused",
                Inner("connection refused")
            )),
            "bad: connection refused"
        );
    }
}
