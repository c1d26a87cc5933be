//! Orchestration plugins: shared objects that build a graph through an ops
//! table. A [`Plugin`] is native: it exports
//! `int entry(OrchestrationRuntime *, const OrchArgs *)` and the ABI version
//! it was built against. A [`ReferencePlugin`] was written for the reference
//! runtime (simpler's `host_build_graph`) and built against
//! `orch_abi/include/reference/orchestration_api.h`: its C-linkage entry
//! takes a `const ChipStorageTaskArgs &`, and it exports no version, so the
//! caller opts in by loading it as one.
//!
//! Each loader refuses the other kind where it can tell: a native plugin
//! exports `hostgraph_orch_abi_version`, and a plugin built against the
//! reference-compatible header exports its marker
//! (`hostgraph_orch_reference_api`). Either mix-up is
//! [`Error::WrongAbi`]; a reference plugin built against the reference
//! runtime's own header carries no marker, and loading it as native fails
//! for the missing version symbol.

use std::ffi::c_void;
use std::path::{Path, PathBuf};

use hostgraph_orch_abi::reference::{MARKER_SYMBOL, ReferenceEntryFn};
use hostgraph_orch_abi::{
    ABI_VERSION, ABI_VERSION_SYMBOL, DEFAULT_ENTRY_SYMBOL, OrchestrationEntryFn,
};
use libloading::Library;

use crate::error::{Error, Result};
use crate::sharedlib;

const WHAT: &str = "orchestration plugin";
const VERSION_SYMBOL: &str = "hostgraph_orch_abi_version";

/// A loaded object, where it came from and the name of its entry: what
/// both kinds of plugin hold besides the entry itself.
struct Loaded {
    library: Library,
    path: PathBuf,
    entry_name: String,
}

impl Loaded {
    /// Loads the object at `path`.
    ///
    /// # Safety
    /// The object runs code when loaded: it must be trusted.
    unsafe fn open(path: &Path, entry: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        let library = unsafe { sharedlib::open(WHAT, path)? };
        Ok(Loaded {
            library,
            path: path.to_path_buf(),
            entry_name: entry.to_owned(),
        })
    }

    /// Loads an object from its bytes (written fully to a private temp
    /// file, loaded, unlinked).
    ///
    /// # Safety
    /// As [`open`](Self::open).
    unsafe fn from_bytes(bytes: &[u8], entry: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        let (library, path) = unsafe { sharedlib::open_bytes(WHAT, bytes)? };
        Ok(Loaded {
            library,
            path,
            entry_name: entry.to_owned(),
        })
    }

    /// Whether the object exports `symbol` (NUL-terminated).
    fn exports(&self, symbol: &[u8]) -> bool {
        // SAFETY: only whether the symbol resolves is asked; the address is
        // neither read nor called.
        unsafe { self.library.get::<*const c_void>(symbol) }.is_ok()
    }

    /// The entry, as a value of type `F`.
    ///
    /// # Safety
    /// `F` must be the entry's real type.
    unsafe fn entry<F: Copy>(&self) -> Result<F> {
        // SAFETY: forwarded from the caller.
        unsafe { sharedlib::symbol::<F>(WHAT, &self.library, &self.path, &self.entry_name) }
    }

    /// A [`Error::WrongAbi`] for this object.
    fn wrong_abi(&self, message: &str) -> Error {
        Error::WrongAbi {
            path: self.path.clone(),
            message: message.to_owned(),
        }
    }

    fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("path", &self.path)
            .field("entry", &self.entry_name)
            .finish()
    }
}

/// A loaded native orchestration plugin, checked for ABI version and entry
/// symbol.
pub struct Plugin {
    loaded: Loaded,
    pub(crate) entry: OrchestrationEntryFn,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.loaded.debug("Plugin", f)
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
        // SAFETY: forwarded from the caller.
        unsafe { Self::check(Loaded::open(path.as_ref(), entry)?) }
    }

    /// Loads a plugin from its bytes: written fully to a private temp file,
    /// loaded, and unlinked.
    ///
    /// # Safety
    /// As [`load`](Self::load).
    pub unsafe fn from_bytes(bytes: &[u8], entry: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe { Self::check(Loaded::from_bytes(bytes, entry)?) }
    }

    /// # Safety
    /// As [`load`](Self::load).
    unsafe fn check(loaded: Loaded) -> Result<Self> {
        if !loaded.exports(ABI_VERSION_SYMBOL) && loaded.exports(MARKER_SYMBOL) {
            return Err(loaded.wrong_abi(
                "built against the reference-compatible orchestration_api.h \
                 (orch_abi/include/reference), so it speaks the reference runtime's \
                 interface: load it with ReferencePlugin::load(path, entry)",
            ));
        }
        // SAFETY: the version symbol is a `const uint32_t` (orchestration_api.h).
        let version = unsafe {
            sharedlib::symbol::<*const u32>(WHAT, &loaded.library, &loaded.path, VERSION_SYMBOL)
        }
        .map_err(|e| match e {
            Error::Load {
                what,
                path,
                message,
            } => Error::Load {
                what,
                path,
                message: format!(
                    "{message} (not built against orchestration_api.h, or from an ABI before \
                     versioning; an orchestration written for the reference runtime loads with \
                     ReferencePlugin::load)"
                ),
            },
            other => other,
        })?;
        // SAFETY: the symbol is a live static of the loaded object.
        let found = unsafe { version.read() };
        if found != ABI_VERSION {
            return Err(Error::AbiMismatch {
                path: loaded.path,
                found,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: the entry has the orchestration signature (the contract of `load`).
        let entry = unsafe { loaded.entry::<OrchestrationEntryFn>()? };
        log::info!(
            "hostgraph: loaded orchestration plugin {} (entry {}, ABI {found})",
            loaded.path.display(),
            loaded.entry_name
        );
        Ok(Plugin { loaded, entry })
    }

    /// Where the plugin was loaded from (a removed temp path for [`from_bytes`](Self::from_bytes)).
    pub fn path(&self) -> &Path {
        &self.loaded.path
    }

    /// The entry symbol.
    pub fn entry_name(&self) -> &str {
        &self.loaded.entry_name
    }
}

/// A loaded orchestration plugin written for the reference runtime
/// (simpler's `host_build_graph`): built against
/// `orch_abi/include/reference/orchestration_api.h` (or the reference's own
/// header), with a C-linkage entry
/// `int build_xxx_graph(OrchestrationRuntime *, const ChipStorageTaskArgs &)`.
/// Build with it through
/// [`Runtime::build_with_reference`](crate::Runtime::build_with_reference).
pub struct ReferencePlugin {
    loaded: Loaded,
    pub(crate) entry: ReferenceEntryFn,
}

impl std::fmt::Debug for ReferencePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.loaded.debug("ReferencePlugin", f)
    }
}

impl ReferencePlugin {
    /// Loads the reference-runtime plugin at `path` with entry symbol
    /// `entry` (the reference names one per example, e.g.
    /// `build_example_graph`). A native hostgraph plugin is refused with
    /// [`Error::WrongAbi`]. A bare file name is searched on the library
    /// search path, as with [`Plugin::load`].
    ///
    /// # Safety
    /// The object runs code when loaded and when called: it must be
    /// trusted, and `entry` must have the reference's entry signature
    /// (nothing in the object can confirm it).
    pub unsafe fn load(path: impl AsRef<Path>, entry: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe { Self::check(Loaded::open(path.as_ref(), entry)?) }
    }

    /// Loads a reference-runtime plugin from its bytes (written fully to a
    /// private temp file, loaded, unlinked).
    ///
    /// # Safety
    /// As [`load`](Self::load).
    pub unsafe fn from_bytes(bytes: &[u8], entry: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe { Self::check(Loaded::from_bytes(bytes, entry)?) }
    }

    /// # Safety
    /// As [`load`](Self::load).
    unsafe fn check(loaded: Loaded) -> Result<Self> {
        if loaded.exports(ABI_VERSION_SYMBOL) {
            return Err(loaded.wrong_abi(
                "exports hostgraph_orch_abi_version, so it is a native hostgraph plugin \
                 (built against hostgraph's orchestration_api.h): load it with \
                 Plugin::load_entry(path, entry)",
            ));
        }
        // SAFETY: the entry has the reference's signature (the contract of `load`).
        let entry = unsafe { loaded.entry::<ReferenceEntryFn>()? };
        log::info!(
            "hostgraph: loaded reference-runtime orchestration plugin {} (entry {})",
            loaded.path.display(),
            loaded.entry_name
        );
        Ok(ReferencePlugin { loaded, entry })
    }

    /// Where the plugin was loaded from (a removed temp path for
    /// [`from_bytes`](Self::from_bytes)).
    pub fn path(&self) -> &Path {
        &self.loaded.path
    }

    /// The entry symbol.
    pub fn entry_name(&self) -> &str {
        &self.loaded.entry_name
    }
}
