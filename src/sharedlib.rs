//! Loading shared objects (orchestration plugins, kernel objects) from a
//! path or from bytes; every failure carries the loader's own message.

use std::io::Write;
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::error::{Error, Result};

/// Loads the shared object at `path`.
///
/// # Safety
/// Loading runs the object's initialisers; it must be a trusted object.
pub(crate) unsafe fn open(what: &'static str, path: &Path) -> Result<Library> {
    // SAFETY: the caller vouches for the object (see above).
    unsafe { Library::new(path) }.map_err(|e| Error::Load {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `bytes` fully to a private temp file (mode 0600, random name),
/// loads it, and unlinks the file whether or not the load worked.
///
/// # Safety
/// As [`open`].
pub(crate) unsafe fn open_bytes(what: &'static str, bytes: &[u8]) -> Result<(Library, PathBuf)> {
    let io_err = |path: PathBuf, e: std::io::Error| Error::Load {
        what,
        path,
        message: e.to_string(),
    };
    let mut file = tempfile::Builder::new()
        .prefix("hostgraph-")
        .suffix(".so")
        .tempfile()
        .map_err(|e| io_err(std::env::temp_dir(), e))?;
    let path = file.path().to_path_buf();
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| io_err(path.clone(), e))?;
    // SAFETY: forwarded from the caller.
    let lib = unsafe { open(what, &path) };
    // Dropping `file` unlinks it; the loaded mapping stays valid.
    drop(file);
    Ok((lib?, path))
}

/// Resolves `symbol` in `lib` as a value of type `T` (a function pointer or
/// a pointer to a static).
///
/// # Safety
/// `T` must be the symbol's real type.
pub(crate) unsafe fn symbol<T: Copy>(
    what: &'static str,
    lib: &Library,
    path: &Path,
    symbol: &str,
) -> Result<T> {
    // SAFETY: the caller guarantees `T` is the symbol's type.
    let sym = unsafe { lib.get::<T>(symbol) }.map_err(|e| Error::Load {
        what,
        path: path.to_path_buf(),
        message: format!("symbol {symbol:?}: {e}"),
    })?;
    Ok(*sym)
}
