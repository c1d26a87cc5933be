//! [`OrchError`]: a failed ABI call, as the Rust facade reports it.

use core::fmt;

use crate::OrchStatus;

/// A call through the orchestration ABI that failed.
///
/// Displays as `"<call> failed: <status>"`, e.g.
/// `"add_successor failed: unknown task id"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrchError {
    /// Why the call failed (never [`OrchStatus::Ok`] when built by this
    /// crate).
    pub status: OrchStatus,
    /// The name of the call that failed, e.g. `"add_successor"`.
    pub call: &'static str,
}

impl OrchError {
    /// An error for `call` failing with `status`.
    pub const fn new(call: &'static str, status: OrchStatus) -> OrchError {
        OrchError { status, call }
    }

    /// Maps a status code returned by the table entry `call`: `0` is `Ok`,
    /// a known negative code becomes that status, and any other code (which
    /// a runtime speaking this ABI version never returns) is reported as
    /// [`OrchStatus::AbiMismatch`].
    pub const fn check(call: &'static str, code: i32) -> Result<(), OrchError> {
        if code == OrchStatus::Ok.code() {
            Ok(())
        } else {
            Err(OrchError::from_code(call, code))
        }
    }

    /// The error for the failure code `code` returned by the table entry
    /// `call`. A code that is not an error status (`0`, a positive value or
    /// an unknown negative value, none of which a runtime speaking this ABI
    /// version returns on failure) is reported as
    /// [`OrchStatus::AbiMismatch`].
    pub const fn from_code(call: &'static str, code: i32) -> OrchError {
        let status = match OrchStatus::from_code(code) {
            Some(OrchStatus::Ok) | None => OrchStatus::AbiMismatch,
            Some(status) => status,
        };
        OrchError::new(call, status)
    }
}

impl fmt::Display for OrchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.call, self.status)
    }
}

impl std::error::Error for OrchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_check() {
        let err = OrchError::new("add_successor", OrchStatus::UnknownTask);
        assert_eq!(err.to_string(), "add_successor failed: unknown task id");
        assert_eq!(OrchError::check("x", 0), Ok(()));
        assert_eq!(
            OrchError::check("x", -3),
            Err(OrchError::new("x", OrchStatus::SelfEdge))
        );
        assert_eq!(
            OrchError::check("x", 7),
            Err(OrchError::new("x", OrchStatus::AbiMismatch))
        );
        assert_eq!(
            OrchError::check("x", -99),
            Err(OrchError::new("x", OrchStatus::AbiMismatch))
        );
        assert_eq!(
            OrchError::from_code("y", 0),
            OrchError::new("y", OrchStatus::AbiMismatch)
        );
    }
}
