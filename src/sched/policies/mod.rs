//! The built-in policies beyond [`RoundRobin`](super::RoundRobin), each in
//! a small module saying what it does and where it comes from; and
//! [`BuiltIn`], which names them for command lines.

mod critical_path;
mod heft;
mod locality;
mod work_stealing;

pub use critical_path::{CriticalPath, bottom_levels};
pub use heft::Heft;
pub use locality::Locality;
pub use work_stealing::WorkStealing;

use std::fmt;
use std::str::FromStr;

/// The built-in policies by name: `round-robin`, `work-stealing`,
/// `critical-path`, `locality`, `heft`.
///
/// ```
/// use hostgraph::sched::BuiltIn;
/// let p: BuiltIn = "critical-path".parse().unwrap();
/// assert_eq!(p, BuiltIn::CriticalPath);
/// assert_eq!(p.to_string(), "critical-path");
/// assert!("fastest".parse::<BuiltIn>().unwrap_err().contains("round-robin"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltIn {
    /// [`RoundRobin`](super::RoundRobin).
    RoundRobin,
    /// [`WorkStealing`].
    WorkStealing,
    /// [`CriticalPath`].
    CriticalPath,
    /// [`Locality`].
    Locality,
    /// [`Heft`].
    Heft,
}

impl BuiltIn {
    /// Every built-in, in the order the policy lab lists them.
    pub const ALL: [BuiltIn; 5] = [
        BuiltIn::RoundRobin,
        BuiltIn::WorkStealing,
        BuiltIn::CriticalPath,
        BuiltIn::Locality,
        BuiltIn::Heft,
    ];

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            BuiltIn::RoundRobin => "round-robin",
            BuiltIn::WorkStealing => "work-stealing",
            BuiltIn::CriticalPath => "critical-path",
            BuiltIn::Locality => "locality",
            BuiltIn::Heft => "heft",
        }
    }
}

impl fmt::Display for BuiltIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltIn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        BuiltIn::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = BuiltIn::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown policy {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}
