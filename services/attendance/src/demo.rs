//! Demo accounts for trying ATTN out (`ATTN_DEMO_ACCOUNTS=true`):
//! demo_teacher_1..10, demo_student_1..500 and demo_admin, all with the
//! password "password". Never enable this in production.

use attn_domain::Role;
use attn_store::{Archive, archive::NewUser};

use crate::passwords::Passwords;

pub const DEMO_PASSWORD: &str = "password";
pub const DEMO_TEACHERS: usize = 10;
pub const DEMO_STUDENTS: usize = 500;

/// `photo_base_url`: where demo students' reference photos live, if anywhere.
pub fn demo_users(password_hash: &str, photo_base_url: &str) -> Vec<NewUser> {
    let base = photo_base_url.trim().trim_end_matches('/');
    let user = |school_number: String, full_name: String, role| NewUser {
        photo_url: (role == Role::Student && !base.is_empty()).then(|| format!("{base}/{school_number}.jpg")),
        school_number,
        full_name,
        role,
        password_hash: Some(password_hash.to_owned()),
    };
    let teachers =
        (1..=DEMO_TEACHERS).map(|n| user(format!("demo_teacher_{n}"), format!("Demo Teacher {n}"), Role::Teacher));
    let students =
        (1..=DEMO_STUDENTS).map(|n| user(format!("demo_student_{n}"), format!("Demo Student {n}"), Role::Student));
    let admin = std::iter::once(user("demo_admin".into(), "Demo Operator".into(), Role::Admin));
    teachers.chain(students).chain(admin).collect()
}

/// Creates or resets the demo accounts. One hash serves them all: hashing
/// 511 passwords one by one would take seconds at every start.
pub async fn ensure_demo_accounts(
    archive: &Archive,
    passwords: &Passwords,
    photo_base_url: &str,
) -> anyhow::Result<u64> {
    let hash = passwords.hash(DEMO_PASSWORD.to_owned()).await?;
    Ok(archive.upsert_users(&demo_users(&hash, photo_base_url)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_roster_has_ten_teachers_five_hundred_students_and_an_operator() {
        let users = demo_users("h", "");
        assert_eq!(users.len(), 511);
        assert_eq!(users.iter().filter(|u| u.role == Role::Teacher).count(), 10);
        assert_eq!(users.iter().filter(|u| u.role == Role::Student).count(), 500);
        assert_eq!(users[0].school_number, "demo_teacher_1");
        assert_eq!(users[509].school_number, "demo_student_500");
        assert_eq!(users[510].role, Role::Admin);
        assert!(users.iter().all(|u| u.photo_url.is_none()));
    }

    #[test]
    fn demo_students_get_photo_urls_under_the_base() {
        let users = demo_users("h", "http://127.0.0.1:8090/photos/");
        assert_eq!(users[10].photo_url.as_deref(), Some("http://127.0.0.1:8090/photos/demo_student_1.jpg"));
        assert_eq!(users[0].photo_url, None, "teachers have none");
    }
}
