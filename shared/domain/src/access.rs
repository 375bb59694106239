//! Who may call what: one table from the gRPC method path to what it needs.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Teacher,
    Student,
    /// Operators: sweeper jobs.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::Student => "student",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "teacher" => Some(Self::Teacher),
            "student" => Some(Self::Student),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call must carry to be let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Login, health, reflection: nothing.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// A signed-in user of this role.
    Role(Role),
    /// Another ATTN service (the internal token, when one is configured).
    Internal,
}

/// The access rule for a gRPC path such as `/attn.v1.TeacherService/StartAttendance`.
/// Unknown `attn.*` paths need a signed-in user, so nothing new is ever
/// public by accident; tonic answers them UNIMPLEMENTED once let through.
pub fn required_access(path: &str) -> Access {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    match service {
        "attn.v1.AuthService" if method == "Login" => Access::Public,
        "attn.v1.AuthService" => Access::SignedIn,
        "attn.v1.TeacherService" => Access::Role(Role::Teacher),
        "attn.v1.StudentService" => Access::Role(Role::Student),
        "attn.v1.SweeperService" => Access::Role(Role::Admin),
        "attn.v1.VerificationService" => Access::Internal,
        "grpc.health.v1.Health"
        | "grpc.reflection.v1.ServerReflection"
        | "grpc.reflection.v1alpha.ServerReflection" => Access::Public,
        _ => Access::SignedIn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_health_and_reflection_are_public() {
        assert_eq!(required_access("/attn.v1.AuthService/Login"), Access::Public);
        assert_eq!(required_access("/grpc.health.v1.Health/Check"), Access::Public);
        assert_eq!(required_access("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"), Access::Public);
    }

    #[test]
    fn each_service_needs_its_role() {
        assert_eq!(required_access("/attn.v1.TeacherService/StartAttendance"), Access::Role(Role::Teacher));
        assert_eq!(required_access("/attn.v1.StudentService/Attend"), Access::Role(Role::Student));
        assert_eq!(required_access("/attn.v1.SweeperService/RunJob"), Access::Role(Role::Admin));
        assert_eq!(required_access("/attn.v1.AuthService/Logout"), Access::SignedIn);
        assert_eq!(required_access("/attn.v1.VerificationService/CheckNetwork"), Access::Internal);
    }

    #[test]
    fn unknown_paths_are_never_public() {
        assert_eq!(required_access("/attn.v1.NewService/Anything"), Access::SignedIn);
        assert_eq!(required_access("/something"), Access::SignedIn);
        assert_eq!(required_access(""), Access::SignedIn);
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(Role::parse(" Teacher "), Some(Role::Teacher));
        assert_eq!(Role::parse("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("dean"), None);
    }
}
