//! A `ReportFailureRequest` read in place: the hot path's request
//! (`server::hot_path`).
//!
//! The generated message copies each of its texts into a `String` of its
//! own; this one is decoded by prost too, from the same field numbers and
//! wire types, but its texts are `Bytes` slices of the received buffer (no
//! copy, no allocation). Their UTF-8 is checked as prost would check a
//! `string`, and a message prost refuses is refused here as well (both
//! compared on arbitrary input in the tests and the fuzz corpus).

use prost::Message;
use prost::bytes::{Buf, Bytes};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use super::validate::{ErrorFields, FailureRequest};
use crate::pb;

/// `retryd.v1.ReportFailureRequest`, its `string` fields read as bytes.
/// Named as the generated messages are, so prost's errors read the same.
#[derive(Clone, PartialEq, Message)]
pub struct ReportFailureRequest {
    #[prost(bytes = "bytes", tag = "1")]
    pub job_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub job_type: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub policy: Bytes,
    #[prost(uint32, optional, tag = "4")]
    pub priority: Option<u32>,
    #[prost(message, optional, tag = "5")]
    pub error: Option<ErrorInfo>,
    #[prost(message, optional, tag = "6")]
    pub retry_after_hint: Option<prost_types::Duration>,
    #[prost(uint32, tag = "7")]
    pub attempt: u32,
    #[prost(bytes = "bytes", tag = "8")]
    pub target: Bytes,
    #[prost(bytes = "bytes", tag = "9")]
    pub retry_after_header: Bytes,
    #[prost(int64, optional, tag = "10")]
    pub retry_pushback_ms: Option<i64>,
    #[prost(bytes = "bytes", tag = "11")]
    pub payload: Bytes,
    #[prost(bytes = "bytes", tag = "12")]
    pub queue: Bytes,
    #[prost(bytes = "bytes", tag = "13")]
    pub lease_id: Bytes,
}

/// `retryd.v1.ErrorInfo`, its `string` fields read as bytes.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorInfo {
    #[prost(bytes = "bytes", tag = "1")]
    pub r#type: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub message: Bytes,
    #[prost(uint32, tag = "3")]
    pub http_status: u32,
    #[prost(int32, tag = "4")]
    pub grpc_code: i32,
    #[prost(bool, optional, tag = "5")]
    pub retryable: Option<bool>,
}

/// A text field that is not UTF-8, in prost's words for a `string`
/// (`field` as prost names it: `ReportFailureRequest.job_id`, or
/// `ErrorInfo.message: ReportFailureRequest.error` inside the error).
fn not_utf8(field: &str) -> Status {
    Status::internal(format!(
        "failed to decode Protobuf message: {field}: invalid string value: data is not UTF-8 encoded"
    ))
}

fn text<'a>(field: &str, b: &'a Bytes) -> Result<&'a str, Status> {
    std::str::from_utf8(b).map_err(|_| not_utf8(field))
}

impl ReportFailureRequest {
    /// The request's fields as validation reads them; INTERNAL (as prost's
    /// decoding answers) if a text is not UTF-8.
    pub fn request(&self) -> Result<FailureRequest<'_>, Status> {
        let error = match &self.error {
            Some(e) => Some(ErrorFields {
                r#type: text("ErrorInfo.type: ReportFailureRequest.error", &e.r#type)?,
                message: text("ErrorInfo.message: ReportFailureRequest.error", &e.message)?,
                http_status: e.http_status,
                grpc_code: e.grpc_code,
                retryable: e.retryable,
            }),
            None => None,
        };
        Ok(FailureRequest {
            job_id: text("ReportFailureRequest.job_id", &self.job_id)?,
            job_type: text("ReportFailureRequest.job_type", &self.job_type)?,
            policy: text("ReportFailureRequest.policy", &self.policy)?,
            priority: self.priority,
            error,
            retry_after_hint: self.retry_after_hint.map(|d| (d.seconds, d.nanos)),
            attempt: self.attempt,
            target: text("ReportFailureRequest.target", &self.target)?,
            retry_after_header: text(
                "ReportFailureRequest.retry_after_header",
                &self.retry_after_header,
            )?,
            retry_pushback_ms: self.retry_pushback_ms,
            payload: &self.payload,
            queue: text("ReportFailureRequest.queue", &self.queue)?,
            lease_id: text("ReportFailureRequest.lease_id", &self.lease_id)?,
        })
    }
}

/// Decodes `ReportFailureRequest`, encodes the generated `ReportFailureResponse`.
#[derive(Default)]
pub struct WireCodec;

impl Codec for WireCodec {
    type Encode = pb::ReportFailureResponse;
    type Decode = ReportFailureRequest;
    type Encoder = ProstEncoder<pb::ReportFailureResponse>;
    type Decoder = WireDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder
    }
}

pub struct WireDecoder;

impl Decoder for WireDecoder {
    type Item = ReportFailureRequest;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<ReportFailureRequest>, Status> {
        // The frame's bytes taken whole (tonic's buffer hands them over
        // without a copy); the texts are slices of them.
        let bytes = buf.copy_to_bytes(buf.remaining());
        // As tonic's prost codec answers a message that does not decode.
        ReportFailureRequest::decode(bytes)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// Whether `bytes` read here give what the generated message gives: the
/// same fields, or a refusal both ways (the fuzz target asserts it).
#[cfg(any(test, feature = "fuzzing"))]
pub fn agrees_with_generated(bytes: &[u8]) -> bool {
    let ours = ReportFailureRequest::decode(bytes)
        .ok()
        .and_then(|w| w.request().ok().map(|r| format!("{r:?}")));
    let theirs = pb::ReportFailureRequest::decode(bytes)
        .ok()
        .map(|g| format!("{:?}", FailureRequest::from(&g)));
    ours == theirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(bytes: &[u8]) {
        assert!(agrees_with_generated(bytes), "input {bytes:?}");
    }

    fn full() -> pb::ReportFailureRequest {
        pb::ReportFailureRequest {
            job_id: "job-1".into(),
            job_type: "invoice".into(),
            policy: "fast".into(),
            priority: Some(7),
            error: Some(pb::ErrorInfo {
                r#type: "TimeoutError".into(),
                message: "read timed out — ünïcode".into(),
                http_status: 503,
                grpc_code: 14,
                retryable: Some(false),
            }),
            retry_after_hint: Some(prost_types::Duration {
                seconds: 3,
                nanos: 5,
            }),
            attempt: 4,
            target: "s3".into(),
            retry_after_header: "120".into(),
            retry_pushback_ms: Some(-1),
            ..Default::default()
        }
    }

    #[test]
    fn reads_every_field_as_the_generated_message_does() {
        let g = full();
        let bytes = g.encode_to_vec();
        let w = ReportFailureRequest::decode(Bytes::from(bytes.clone())).unwrap_or_default();
        assert_eq!(w.request().ok(), Some(FailureRequest::from(&g)));
        agree(&bytes);
        agree(&pb::ReportFailureRequest::default().encode_to_vec());
    }

    #[test]
    fn a_repeated_field_merges_as_protobuf_says() {
        // Two messages one after the other are one message: the last
        // scalar or text wins, embedded messages merge field by field.
        let first = full();
        let second = pb::ReportFailureRequest {
            job_id: "job-2".into(),
            error: Some(pb::ErrorInfo {
                message: "second".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut bytes = first.encode_to_vec();
        bytes.extend(second.encode_to_vec());
        agree(&bytes);
        let w = ReportFailureRequest::decode(Bytes::from(bytes)).unwrap_or_default();
        let r = w.request().unwrap_or_default();
        assert_eq!(r.job_id, "job-2");
        assert_eq!(r.job_type, "invoice");
        let e = r.error.unwrap_or_default();
        assert_eq!(
            (e.r#type, e.message, e.http_status),
            ("TimeoutError", "second", 503)
        );
    }

    #[test]
    fn refuses_what_prost_refuses() {
        let bytes = full().encode_to_vec();
        // Every truncation, and every single byte changed to a few values.
        for end in 0..bytes.len() {
            agree(&bytes[..end]);
        }
        for i in 0..bytes.len() {
            for v in [0x00, 0x07, 0x0a, 0x80, 0xc3, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                agree(&b);
            }
        }
        // A text that is not UTF-8, in the request and in its error.
        agree(&[0x0a, 0x02, 0xc3, 0x28]);
        agree(&[0x2a, 0x04, 0x12, 0x02, 0xff, 0xfe]);
        // Wrong wire types, unknown fields of each type, groups.
        agree(&[0x08, 0x01]);
        agree(&[0x20, 0x05, 0x58, 0x01, 0x65, 1, 2, 3, 4]);
        agree(&[0x22, 0x01, 0x05]);
        agree(&[0x5b, 0x08, 0x01, 0x5c, 0x0a, 0x01, 0x61]);
        agree(&[0x5c]);
    }

    #[test]
    fn a_refusal_is_worded_as_prost_words_it() {
        let full = full().encode_to_vec();
        for bytes in [
            vec![0x0a, 0x02, 0xc3, 0x28],
            vec![0x2a, 0x04, 0x12, 0x02, 0xff, 0xfe],
            full[..20].to_vec(),
            full[..full.len() - 1].to_vec(),
            vec![0x08, 0x01],
        ] {
            let theirs = pb::ReportFailureRequest::decode(&bytes[..])
                .err()
                .map(|e| e.to_string());
            let ours = match ReportFailureRequest::decode(&bytes[..]) {
                Ok(w) => w.request().err().map(|s| s.message().to_string()),
                Err(e) => Some(e.to_string()),
            };
            assert!(theirs.is_some(), "{bytes:?} is refused");
            assert_eq!(ours, theirs, "{bytes:?}");
        }
    }

    #[test]
    fn texts_are_slices_of_the_received_buffer() {
        let bytes = Bytes::from(full().encode_to_vec());
        let w = ReportFailureRequest::decode(bytes.clone()).unwrap_or_default();
        let inside = |b: &Bytes| {
            let (start, end) = (
                bytes.as_ptr() as usize,
                bytes.as_ptr() as usize + bytes.len(),
            );
            (start..end).contains(&(b.as_ptr() as usize))
        };
        assert!(inside(&w.job_id) && inside(&w.target));
        assert!(w.error.as_ref().is_some_and(|e| inside(&e.message)));
    }
}
