//! A message on its way to the broker, as the outbox and its disk spill
//! keep it.

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// 0 or 1.
    pub qos: u8,
    /// Telemetry sequence number, for loss reports.
    pub seq: Option<u64>,
}

impl Msg {
    pub(crate) fn bytes(&self) -> u64 {
        (self.topic.len() + self.payload.len() + 16) as u64
    }
}
