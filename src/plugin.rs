//! Orchestration plugins: shared objects exporting
//! `int entry(OrchestrationRuntime *, const OrchArgs *)` and the ABI version
//! they were built against.

use std::path::{Path, PathBuf};

use hostgraph_orch_abi::{ABI_VERSION, DEFAULT_ENTRY_SYMBOL, OrchestrationEntryFn};
use libloading::Library;

use crate::error::{Error, Result};
use crate::sharedlib;

const WHAT: &str = "orchestration plugin";
const VERSION_SYMBOL: &str = "hostgraph_orch_abi_version";

/// A loaded orchestration plugin, checked for ABI version and entry symbol.
pub struct Plugin {
    _library: Library,
    path: PathBuf,
    entry_name: String,
    pub(crate) entry: OrchestrationEntryFn,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("entry", &self.entry_name)
            .finish()
    }
}

impl Plugin {
    /// Loads the plugin at `path` with the default entry symbol (`entry`).
    ///
    /// As with `dlopen`, a bare file name (no `/`) is searched on the
    /// library search path, not in the current directory: write
    /// `./libmy_orch.so` for a plugin there.
    ///
    /// # Safety
    /// The object runs code when loaded and when called: it must be trusted,
    /// and built against `orchestration_api.h` (which the version check
    /// enforces for the table layout, not for the code's behaviour).
    pub unsafe fn load(path: impl AsRef<Path>) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe { Self::load_entry(path, DEFAULT_ENTRY_SYMBOL) }
    }

    /// Loads the plugin at `path` with entry symbol `entry`.
    ///
    /// # Safety
    /// As [`load`](Self::load).
    pub unsafe fn load_entry(path: impl AsRef<Path>, entry: &str) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // SAFETY: forwarded from the caller.
        let library = unsafe { sharedlib::open(WHAT, &path)? };
        // SAFETY: forwarded from the caller.
        unsafe { Self::check(library, path, entry) }
    }

    /// Loads a plugin from its bytes: written fully to a private temp file,
    /// loaded, and unlinked.
    ///
    /// # Safety
    /// As [`load`](Self::load).
    pub unsafe fn from_bytes(bytes: &[u8], entry: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        let (library, path) = unsafe { sharedlib::open_bytes(WHAT, bytes)? };
        // SAFETY: forwarded from the caller.
        unsafe { Self::check(library, path, entry) }
    }

    /// # Safety
    /// As [`load`](Self::load).
    unsafe fn check(library: Library, path: PathBuf, entry: &str) -> Result<Self> {
        // SAFETY: the version symbol is a `const uint32_t` (orchestration_api.h).
        let version = unsafe { sharedlib::symbol::<*const u32>(WHAT, &library, &path, VERSION_SYMBOL) }.map_err(|e| {
            match e {
                Error::Load { what, path, message } => Error::Load {
                    what,
                    path,
                    message: format!("{message} (not built against orchestration_api.h, or from an ABI before versioning)"),
                },
                other => other,
            }
        })?;
        // SAFETY: the symbol is a live static of the loaded object.
        let found = unsafe { version.read() };
        if found != ABI_VERSION {
            return Err(Error::AbiMismatch {
                path,
                found,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: the entry has the orchestration signature (the contract of `load`).
        let entry_fn =
            unsafe { sharedlib::symbol::<OrchestrationEntryFn>(WHAT, &library, &path, entry)? };
        Ok(Plugin {
            _library: library,
            path,
            entry_name: entry.to_string(),
            entry: entry_fn,
        })
    }

    /// Where the plugin was loaded from (a removed temp path for [`from_bytes`](Self::from_bytes)).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry symbol.
    pub fn entry_name(&self) -> &str {
        &self.entry_name
    }
}
