//! The C header, for build scripts and tools: [`HEADER`], [`HEADER_NAME`]
//! and [`include_dir`].

use std::path::PathBuf;

/// The file name of the C header (`#include "orchestration_api.h"`).
pub const HEADER_NAME: &str = "orchestration_api.h";

/// The full text of `include/orchestration_api.h`.
pub const HEADER: &str = include_str!("../include/orchestration_api.h");

/// The directory holding [`HEADER_NAME`], to add to a C compiler's include
/// path (e.g. `cc::Build::include(hostgraph_orch_abi::include_dir())`).
///
/// This is the crate's source directory as it was when the crate was
/// compiled, so it is meant for build scripts and tests in the same
/// checkout; tools that ship elsewhere should write out [`HEADER`] instead.
pub fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_dir_holds_the_header() {
        let on_disk = std::fs::read_to_string(include_dir().join(HEADER_NAME)).unwrap();
        assert_eq!(on_disk, HEADER);
        assert!(HEADER.contains("#define HOSTGRAPH_ORCH_ABI_VERSION 1u"));
    }
}
