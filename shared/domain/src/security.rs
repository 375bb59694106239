//! The three security options of a session, numbered as in the seeds.

use serde::{Deserialize, Serialize};

use crate::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum SecurityOption {
    /// 1: the teacher accepts or fails by hand; every check-in counts.
    Manual = 1,
    /// 2: the student must be on the classroom network.
    Network = 2,
    /// 3: the classroom network, then a face match.
    NetworkAndFace = 3,
}

impl SecurityOption {
    pub fn from_number(number: i32) -> Result<Self, Invalid> {
        match number {
            1 => Ok(Self::Manual),
            2 => Ok(Self::Network),
            3 => Ok(Self::NetworkAndFace),
            other => Err(Invalid::new(
                "security_option",
                format!("must be 1 (manual), 2 (network) or 3 (network and face), not {other}"),
            )),
        }
    }

    pub fn number(self) -> i32 {
        self as i32
    }

    pub fn checks_network(self) -> bool {
        matches!(self, Self::Network | Self::NetworkAndFace)
    }

    pub fn checks_face(self) -> bool {
        matches!(self, Self::NetworkAndFace)
    }
}

impl From<SecurityOption> for i32 {
    fn from(option: SecurityOption) -> Self {
        option.number()
    }
}

impl TryFrom<i32> for SecurityOption {
    type Error = Invalid;

    fn try_from(number: i32) -> Result<Self, Self::Error> {
        Self::from_number(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_one_to_three_are_the_seeds_options() {
        assert_eq!(SecurityOption::from_number(1), Ok(SecurityOption::Manual));
        assert_eq!(SecurityOption::from_number(2), Ok(SecurityOption::Network));
        assert_eq!(SecurityOption::from_number(3), Ok(SecurityOption::NetworkAndFace));
    }

    #[test]
    fn any_other_number_names_the_field() {
        for bad in [0, 4, -1, 99] {
            let err = SecurityOption::from_number(bad).unwrap_err();
            assert_eq!(err.field, "security_option");
            assert!(err.message.contains(&bad.to_string()));
        }
    }

    #[test]
    fn only_options_two_and_three_check_the_network() {
        assert!(!SecurityOption::Manual.checks_network());
        assert!(SecurityOption::Network.checks_network());
        assert!(SecurityOption::NetworkAndFace.checks_network());
        assert!(SecurityOption::NetworkAndFace.checks_face());
        assert!(!SecurityOption::Network.checks_face());
    }
}
