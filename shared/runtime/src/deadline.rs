//! The caller's deadline, as gRPC sends it (`grpc-timeout`), so a handler
//! can fit its own work inside it instead of being cut off half-way by the
//! server's timeout ([`crate::request_timeout`]).

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The `grpc-timeout` the caller sent, if any and well formed: one to eight
/// digits and a unit, `H`, `M`, `S`, `m`, `u` or `n` (gRPC over HTTP/2).
pub fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    grpc_timeout_header(metadata.as_ref())
}

/// [`grpc_timeout`] from the request's HTTP headers, for tower layers.
pub fn grpc_timeout_header(headers: &http::HeaderMap) -> Option<Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    // `to_str` admits visible ASCII only, so the last byte is a whole char.
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(value: &str) -> Option<Duration> {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", value.parse().unwrap());
        grpc_timeout(&metadata)
    }

    #[test]
    fn each_unit_is_read() {
        assert_eq!(timeout_of("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout_of("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout_of("4S"), Some(Duration::from_secs(4)));
        assert_eq!(timeout_of("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(timeout_of("3000000u"), Some(Duration::from_secs(3)));
        assert_eq!(timeout_of("10n"), Some(Duration::from_nanos(10)));
    }

    #[test]
    fn what_tonic_sends_is_read_back() {
        let mut request = tonic::Request::new(());
        request.set_timeout(Duration::from_millis(2500));
        assert_eq!(grpc_timeout(request.metadata()), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn a_missing_or_malformed_timeout_is_none() {
        assert_eq!(grpc_timeout(&MetadataMap::new()), None);
        for bad in ["", "S", "10", "10x", "123456789S", "-1S", "1.5S"] {
            assert_eq!(timeout_of(bad), None, "{bad:?}");
        }
    }
}
