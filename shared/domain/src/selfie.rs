//! What ATTN accepts as a selfie: a JPEG or PNG, by its magic bytes, within
//! the size limit. The file name and any claimed type are never trusted.

use crate::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(PNG) {
            Some(Self::Png)
        } else {
            None
        }
    }
}

/// `None` when no selfie was sent.
pub fn check_selfie(bytes: &[u8], max_bytes: usize) -> Result<Option<ImageKind>, Invalid> {
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() > max_bytes {
        return Err(Invalid::new("selfie", format!("is {} bytes; the limit is {max_bytes}", bytes.len())));
    }
    ImageKind::sniff(bytes).map(Some).ok_or_else(|| Invalid::new("selfie", "must be a JPEG or PNG image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_and_png_are_recognised_by_their_magic_bytes() {
        assert_eq!(check_selfie(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2], 100).unwrap(), Some(ImageKind::Jpeg));
        assert_eq!(check_selfie(b"\x89PNG\r\n\x1a\nrest", 100).unwrap(), Some(ImageKind::Png));
    }

    #[test]
    fn a_text_file_named_jpg_is_refused() {
        let err = check_selfie(b"hello, I am a text file", 100).unwrap_err();
        assert_eq!(err.field, "selfie");
    }

    #[test]
    fn an_oversized_selfie_is_refused_with_the_limit() {
        let big = vec![0xFF; 101];
        let err = check_selfie(&big, 100).unwrap_err();
        assert_eq!(err.field, "selfie");
        assert!(err.message.contains("100"));
    }

    #[test]
    fn no_selfie_is_not_an_error_here() {
        assert_eq!(check_selfie(&[], 100).unwrap(), None);
    }
}
