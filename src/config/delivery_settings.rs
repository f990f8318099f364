//! `[delivery]`: retryd holds the jobs it retries (payloads, due queues,
//! leases) within these bounds.

use std::time::Duration;

/// The longest lease a claimer may ask for.
pub const MAX_LEASE: Duration = Duration::from_secs(12 * 3600);

/// The largest `max_payload_bytes` accepted: a request carries its payload
/// whole, and the gRPC edge bounds a request by it.
pub const MAX_PAYLOAD_LIMIT: usize = 16 * 1024 * 1024;

/// `[delivery]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Off: a report with a payload, a lease or a queue is refused, and so
    /// are the delivery calls.
    pub enabled: bool,
    /// Largest payload one report may park.
    pub max_payload_bytes: usize,
    /// Payload bytes held in all (parked, leased and dead jobs).
    pub max_parked_bytes: u64,
    /// A claim's lease when it asks for none.
    pub default_lease: Duration,
    /// Hand-outs in a row whose leases run out unsettled before the job is
    /// given up (`GIVE_UP_REASON_DELIVERY_LIMIT`).
    pub max_deliveries: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            enabled: true,
            max_payload_bytes: 256 * 1024,
            max_parked_bytes: 1024 * 1024 * 1024,
            default_lease: Duration::from_secs(30),
            max_deliveries: 5,
        }
    }
}
