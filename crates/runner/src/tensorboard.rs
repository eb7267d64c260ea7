//! TensorBoard's event files, for watching runs in the tool people already
//! use: scalars (`tag`, `step`, value) as TensorBoard's readers expect them.
//!
//! The format is TFRecord: each record is its length (`u64`, little-endian),
//! the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C
//! of the data; each record's data is a protobuf `Event { wall_time, step,
//! file_version | summary { value { tag, simple_value } } }`. The first
//! event names the file version (`brain.Event:2`). The messages are
//! declared here by hand (the fields used, with `event.proto`'s numbers)
//! and encoded with prost; [`read_events`] reads a file back, checking
//! every length and checksum.

use std::fmt;

/// `event.proto` and `summary.proto`, the fields used.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(double, tag = "1")]
        pub wall_time: f64,
        #[prost(int64, tag = "2")]
        pub step: i64,
        /// One member of the `what` oneof; the other used is `summary`.
        #[prost(string, optional, tag = "3")]
        pub file_version: Option<String>,
        #[prost(message, optional, tag = "5")]
        pub summary: Option<Summary>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        #[prost(message, repeated, tag = "1")]
        pub value: Vec<Value>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        #[prost(string, tag = "1")]
        pub tag: String,
        /// The `simple_value` member of the `value` oneof.
        #[prost(float, optional, tag = "2")]
        pub simple_value: Option<f32>,
    }
}

/// The version string TensorBoard's readers look for in a file's first event.
pub const FILE_VERSION: &str = "brain.Event:2";

/// CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`), bytewise
/// from a table built at compile time.
#[must_use]
pub fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}

/// TFRecord's masked checksum: the CRC rotated right by 15 bits plus a
/// constant (so a checksum of data that holds checksums stays strong).
#[must_use]
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One record: its data framed by length and checksums.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// The record of the event that opens a file.
#[must_use]
pub fn file_version_record(wall_time: f64) -> Vec<u8> {
    let event = proto::Event { wall_time, step: 0, file_version: Some(FILE_VERSION.into()), summary: None };
    record(&prost::Message::encode_to_vec(&event))
}

/// The record of one event holding `scalars` (tag, value) at `step`.
#[must_use]
pub fn scalars_record(wall_time: f64, step: u64, scalars: &[(&str, f32)]) -> Vec<u8> {
    let value = scalars.iter().map(|&(tag, v)| proto::Value { tag: tag.into(), simple_value: Some(v) }).collect();
    let event = proto::Event {
        wall_time,
        step: i64::try_from(step).unwrap_or(i64::MAX),
        file_version: None,
        summary: Some(proto::Summary { value }),
    };
    record(&prost::Message::encode_to_vec(&event))
}

/// One event as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch when it was written.
    pub wall_time: f64,
    /// Its step.
    pub step: i64,
    /// The file version, for the opening event.
    pub file_version: Option<String>,
    /// Its scalars: tag and value.
    pub scalars: Vec<(String, f32)>,
}

/// Why bytes are not an event file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventFileError {
    /// The file ends inside the record that starts at `offset`.
    Truncated {
        /// Where the record starts.
        offset: u64,
    },
    /// A record's length or data does not match its checksum.
    Checksum {
        /// Where the record starts.
        offset: u64,
    },
    /// A record's data is not an `Event`.
    Decode {
        /// Where the record starts.
        offset: u64,
        /// The protobuf decoder's error.
        source: prost::DecodeError,
    },
}

impl fmt::Display for EventFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset } => write!(f, "the file ends inside the record at byte {offset}"),
            Self::Checksum { offset } => write!(f, "the record at byte {offset} does not match its checksum"),
            Self::Decode { offset, .. } => write!(f, "the record at byte {offset} is not a TensorBoard event"),
        }
    }
}

impl std::error::Error for EventFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode { source, .. } => Some(source),
            Self::Truncated { .. } | Self::Checksum { .. } => None,
        }
    }
}

/// The events of an event file, in order, every length and checksum checked.
///
/// # Errors
/// [`EventFileError`] naming the first bad record.
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>, EventFileError> {
    let mut events = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let offset = at as u64;
        let header = bytes.get(at..at + 12).ok_or(EventFileError::Truncated { offset })?;
        let (len_bytes, len_crc) = header.split_at(8);
        if masked_crc32c(len_bytes).to_le_bytes() != len_crc {
            return Err(EventFileError::Checksum { offset });
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        // Bounded by the bytes there are, so no length can ask for more.
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| (at + 12).checked_add(n))
            .and_then(|e| e.checked_add(4))
            .filter(|&e| e <= bytes.len())
            .ok_or(EventFileError::Truncated { offset })?;
        let data = &bytes[at + 12..end - 4];
        if masked_crc32c(data).to_le_bytes() != bytes[end - 4..end] {
            return Err(EventFileError::Checksum { offset });
        }
        let event: proto::Event =
            prost::Message::decode(data).map_err(|source| EventFileError::Decode { offset, source })?;
        let scalars = event
            .summary
            .map(|s| s.value.into_iter().filter_map(|v| Some((v.tag, v.simple_value?))).collect())
            .unwrap_or_default();
        events.push(Event { wall_time: event.wall_time, step: event.step, file_version: event.file_version, scalars });
        at = end;
    }
    Ok(events)
}
