//! Keyset pages: "newest first, after this (time, id)". Tokens are opaque to
//! clients but carry only that position.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::Invalid;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// Where a page starts: items strictly older than this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub time_ms: i64,
    pub id: Uuid,
}

/// AIP-158: 0 asks for the default, more than the maximum gets the maximum
/// (a client asking for "everything" still gets pages), negative is an error.
pub fn page_size(requested: i32) -> Result<u32, Invalid> {
    match u32::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
        Err(_) => Err(Invalid::new("page_size", format!("must not be negative, not {requested}"))),
    }
}

pub fn encode_cursor(cursor: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.time_ms, cursor.id))
}

/// Empty token: the first page.
pub fn decode_cursor(token: &str) -> Result<Option<Cursor>, Invalid> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Invalid::new("page_token", "is not a token this service gave out");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (time, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok(Some(Cursor { time_ms: time.parse().map_err(|_| invalid())?, id: Uuid::try_parse(id).map_err(|_| invalid())? }))
}

/// Is an item at `(time_ms, id)` on a page that starts after `cursor`?
pub fn is_after(cursor: Option<Cursor>, time_ms: i64, id: Uuid) -> bool {
    cursor.is_none_or(|c| (time_ms, id) < (c.time_ms, c.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor { time_ms: 1_780_000_000_123, id: Uuid::now_v7() };
        assert_eq!(decode_cursor(&encode_cursor(cursor)).unwrap(), Some(cursor));
        assert_eq!(decode_cursor("").unwrap(), None);
    }

    #[test]
    fn forged_tokens_are_invalid() {
        for bad in ["%%%", "bm9wZQ", "MTIzOm5vdC1hLXV1aWQ"] {
            assert_eq!(decode_cursor(bad).unwrap_err().field, "page_token", "{bad}");
        }
    }

    #[test]
    fn page_size_defaults_is_capped_and_refuses_negatives() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(1).unwrap(), 1);
        assert_eq!(page_size(100).unwrap(), 100);
        assert_eq!(page_size(101).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(i32::MAX).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(-1).unwrap_err().field, "page_size");
        assert_eq!(page_size(i32::MIN).unwrap_err().field, "page_size");
    }

    #[test]
    fn items_after_the_cursor_are_strictly_older() {
        let id = Uuid::now_v7();
        let cursor = Some(Cursor { time_ms: 100, id });
        assert!(is_after(cursor, 99, Uuid::max()));
        assert!(!is_after(cursor, 100, id));
        assert!(!is_after(cursor, 101, Uuid::nil()));
        assert!(is_after(None, 0, id));
    }
}
