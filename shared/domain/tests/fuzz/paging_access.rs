//! Page tokens and page sizes from clients, and the access table looked up
//! by a method path a client chose.

use attn_domain::{
    Access, Role,
    access::{known_methods, required_access},
    paging::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor, encode_cursor, is_after, page_size},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use proptest::prelude::*;
use uuid::Uuid;

use crate::strategies::tricky_char;

fn cursor() -> impl Strategy<Value = Cursor> {
    (any::<i64>(), any::<[u8; 16]>()).prop_map(|(time_ms, id)| Cursor { time_ms, id: Uuid::from_bytes(id) })
}

/// Tokens a client might forge: anything, the token alphabet, or valid
/// base64 around text that is nearly a cursor.
fn token() -> impl Strategy<Value = String> {
    let nearly = prop_oneof![
        any::<String>(),
        (any::<i64>(), "[0-9a-fA-F-]{0,40}").prop_map(|(t, id)| format!("{t}:{id}")),
        (".{0,12}", any::<[u8; 16]>()).prop_map(|(t, id)| format!("{t}:{}", Uuid::from_bytes(id))),
        cursor().prop_map(|c| format!("{}:{}:{}", c.time_ms, c.id, c.id)),
    ];
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_=+/-]{0,80}",
        prop::collection::vec(any::<u8>(), 0..60).prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes)),
        nearly.prop_map(|text| URL_SAFE_NO_PAD.encode(text)),
    ]
}

/// Paths near the real ones: the table's, changed a little, or anything.
fn path() -> impl Strategy<Value = String> {
    let known: Vec<String> = known_methods().map(|(service, method)| format!("/{service}/{method}")).collect();
    let mutate = (prop::sample::select(known.clone()), any::<prop::sample::Index>(), tricky_char(), 0..4usize)
        .prop_map(|(path, at, c, how)| {
            let mut chars: Vec<char> = path.chars().collect();
            let at = at.index(chars.len());
            match how {
                0 => chars.insert(at, c),
                1 => {
                    chars.remove(at);
                }
                2 => chars[at] = c,
                _ => chars = path.to_lowercase().chars().collect(),
            }
            chars.into_iter().collect()
        });
    prop_oneof![
        2 => prop::sample::select(known.clone()),
        1 => prop::sample::select(known).prop_map(|p| format!("{p}/")),
        4 => mutate,
        2 => any::<String>(),
    ]
}

proptest! {
    #[test]
    fn page_tokens_round_trip_and_forged_ones_are_refused_naming_the_field(cursor in cursor(), token in token()) {
        prop_assert_eq!(decode_cursor(&encode_cursor(cursor)), Ok(Some(cursor)));
        match decode_cursor(&token) {
            Ok(None) => prop_assert!(token.is_empty()),
            Ok(Some(decoded)) => prop_assert_eq!(decode_cursor(&encode_cursor(decoded)), Ok(Some(decoded))),
            Err(err) => prop_assert_eq!(err.field, "page_token"),
        }
        // The cursor's own item is never on the page after it.
        prop_assert!(!is_after(Some(cursor), cursor.time_ms, cursor.id));
    }

    #[test]
    fn a_page_holds_one_to_the_maximum_items(requested in any::<i32>()) {
        match page_size(requested) {
            Ok(size) => {
                prop_assert!((1..=MAX_PAGE_SIZE).contains(&size));
                let expected = match requested {
                    0 => DEFAULT_PAGE_SIZE,
                    n => u32::try_from(n).unwrap().min(MAX_PAGE_SIZE),
                };
                prop_assert_eq!(size, expected);
            }
            Err(err) => {
                prop_assert!(requested < 0);
                prop_assert_eq!(err.field, "page_size");
            }
        }
    }

    #[test]
    fn only_the_methods_in_the_table_are_reachable(path in path()) {
        let listed = known_methods().any(|(service, method)| path == format!("/{service}/{method}"));
        prop_assert_eq!(required_access(&path) != Access::Denied, listed, "{:?}", path);
    }

    #[test]
    fn a_role_is_one_of_three_names_in_any_case(text in prop_oneof![
        any::<String>(),
        (prop::sample::select(vec!["teacher", "student", "admin", "TEACHER", "Admin"]), "[ \t]{0,2}", tricky_char())
            .prop_map(|(name, pad, c)| format!("{pad}{name}{pad}{c}")),
    ]) {
        match Role::parse(&text) {
            Some(role) => prop_assert!(text.trim().eq_ignore_ascii_case(role.as_str()), "{:?}", text),
            None => prop_assert!(
                !["teacher", "student", "admin"].iter().any(|name| text.trim().eq_ignore_ascii_case(name)),
                "{:?}", text
            ),
        }
    }
}
