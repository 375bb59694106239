//! `check_selfie`: image sniffing and the size limit, on any bytes.

use attn_domain::selfie::{ImageKind, check_selfie};
use proptest::prelude::*;

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Bytes that start like an image, or almost: a whole signature, a cut
/// one, one with a byte changed, or the other format's.
fn image_like() -> impl Strategy<Value = Vec<u8>> {
    let signature = prop::sample::select(vec![JPEG, PNG]);
    let head = prop_oneof![
        signature.clone().prop_map(<[u8]>::to_vec),
        (signature.clone(), any::<prop::sample::Index>()).prop_map(|(sig, cut)| sig[..cut.index(sig.len())].to_vec()),
        (signature, any::<prop::sample::Index>(), 1..=255u8).prop_map(|(sig, at, flip)| {
            let mut head = sig.to_vec();
            head[at.index(sig.len())] ^= flip;
            head
        }),
        Just(b"GIF89a".to_vec()),
        Just(b"RIFF\0\0\0\0WEBP".to_vec()),
        Just(b"<svg".to_vec()),
    ];
    (head, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(head, tail)| [head, tail].concat())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..128), image_like()]
}

proptest! {
    #[test]
    fn a_selfie_is_accepted_only_as_a_jpeg_or_png_within_the_limit(bytes in bytes(), max_bytes in 0..160usize) {
        let kind = if bytes.starts_with(JPEG) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(PNG) {
            Some(ImageKind::Png)
        } else {
            None
        };
        match check_selfie(&bytes, max_bytes) {
            Ok(None) => prop_assert!(bytes.is_empty(), "only no bytes at all is no selfie"),
            Ok(Some(found)) => {
                prop_assert!(bytes.len() <= max_bytes);
                prop_assert_eq!(Some(found), kind);
                prop_assert_eq!(found.mime(), if found == ImageKind::Jpeg { "image/jpeg" } else { "image/png" });
            }
            Err(err) => {
                prop_assert_eq!(err.field, "selfie");
                prop_assert!(bytes.len() > max_bytes || kind.is_none(), "refused a {:?} within the limit", kind);
            }
        }
    }

    #[test]
    fn an_over_limit_selfie_is_refused_naming_the_limit_whatever_it_holds(
        bytes in image_like().prop_map(|mut bytes| { bytes.push(0); bytes }),
        under in 1..=64usize,
    ) {
        let max_bytes = bytes.len() - under.min(bytes.len());
        let err = check_selfie(&bytes, max_bytes).expect_err("over the limit");
        prop_assert_eq!(err.field, "selfie");
        prop_assert!(err.message.contains(&max_bytes.to_string()), "{}", err.message);
    }
}
