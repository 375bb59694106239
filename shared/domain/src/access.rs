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
    /// Another ATTN service, presenting the internal token.
    Internal,
    /// Not a method ATTN serves: refused for everyone, signed in or not.
    Denied,
}

/// Every method ATTN serves and what it needs. A method missing here is
/// refused (deny by default), so a new RPC is unreachable until someone
/// decides who may call it; a test checks this table against the protos.
const METHODS: &[(&str, &[&str], Access)] = &[
    ("attn.v1.AuthService", &["Login"], Access::Public),
    ("attn.v1.AuthService", &["Logout", "WhoAmI"], Access::SignedIn),
    (
        "attn.v1.TeacherService",
        &[
            "StartAttendance",
            "FinishAttendance",
            "GetLiveAttendance",
            "ListAttendances",
            "ListRecords",
            "WatchRecords",
            "AcceptStudent",
            "FailStudent",
            "ExcuseStudent",
            "AddStudent",
            "DeleteRecord",
            "DeleteAttendance",
            "ListAuditEvents",
            "ExportSessionRecords",
            "GetCourseReport",
            "ExportCourseReport",
            "WatchCheckInCode",
            "ListCourses",
        ],
        Access::Role(Role::Teacher),
    ),
    (
        "attn.v1.StudentService",
        &["FindActiveAttendances", "Attend", "GetMyRecord", "WatchMyRecord", "ListMyAttendance", "GetMyCourseSummary"],
        Access::Role(Role::Student),
    ),
    ("attn.v1.SweeperService", &["ListJobs", "RunJob"], Access::Role(Role::Admin)),
    (
        "attn.internal.v1.VerificationService",
        &["CheckNetwork", "SubmitFaceCheck", "GetFaceCheck", "GetCapabilities"],
        Access::Internal,
    ),
    ("grpc.health.v1.Health", &["Check", "Watch"], Access::Public),
    ("grpc.reflection.v1.ServerReflection", &["ServerReflectionInfo"], Access::Public),
    ("grpc.reflection.v1alpha.ServerReflection", &["ServerReflectionInfo"], Access::Public),
];

/// The access rule for a gRPC path such as `/attn.v1.TeacherService/StartAttendance`.
pub fn required_access(path: &str) -> Access {
    let Some((service, method)) = path.strip_prefix('/').and_then(|path| path.split_once('/')) else {
        return Access::Denied;
    };
    METHODS
        .iter()
        .find(|(name, methods, _)| *name == service && methods.contains(&method))
        .map_or(Access::Denied, |(_, _, access)| *access)
}

/// Every `(service, method)` in the table, for checking it against the protos.
pub fn known_methods() -> impl Iterator<Item = (&'static str, &'static str)> {
    METHODS.iter().flat_map(|(service, methods, _)| methods.iter().map(move |method| (*service, *method)))
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
        assert_eq!(required_access("/attn.internal.v1.VerificationService/CheckNetwork"), Access::Internal);
    }

    #[test]
    fn unknown_methods_and_paths_are_denied() {
        for path in [
            "/attn.v1.NewService/Anything",
            "/attn.v1.TeacherService/DropDatabase",
            "/attn.v1.AuthService/Login/extra",
            "/attn.v1.AuthService/login",
            "/attn.v1.StudentService/",
            "/attn.v1.VerificationService/CheckNetwork",
            "attn.v1.AuthService/Login",
            "/something",
            "/",
            "",
        ] {
            assert_eq!(required_access(path), Access::Denied, "{path:?}");
        }
    }

    #[test]
    fn internal_access_is_exactly_the_internal_package() {
        for (service, _, access) in METHODS {
            let internal_package = service.starts_with("attn.internal.");
            assert_eq!(*access == Access::Internal, internal_package, "{service}");
        }
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(Role::parse(" Teacher "), Some(Role::Teacher));
        assert_eq!(Role::parse("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("dean"), None);
    }
}
