//! Loading shared objects (orchestration plugins, kernel objects) from a
//! path or from bytes; every failure carries the loader's own reason
//! (dlerror's text).

use std::io::Write;
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::error::{Error, Result};

/// The loader's full reason: `e` and every error in its `source()` chain
/// (libloading keeps dlerror's text, e.g. "invalid ELF header", in the
/// source; its own message is only "dlopen failed").
fn reason(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// What to add to the reason a bare file name (no `/`) failed to load:
/// the dynamic loader searched the library search path for it, not the
/// current directory.
fn bare_name_hint(path: &Path) -> Option<String> {
    let name = path.to_str()?;
    if name.contains('/') {
        return None;
    }
    let here = if path.exists() {
        format!("; there is a {name} in the current directory")
    } else {
        String::new()
    };
    Some(format!(
        " (a bare file name is searched on the library search path (LD_LIBRARY_PATH, \
         the ld.so cache, the system directories), not in the current directory{here}: \
         to load ./{name}, pass \"./{name}\")"
    ))
}

/// Loads the shared object at `path`. A bare file name (no `/`) is looked
/// up by the dynamic loader on the library search path, as `dlopen` does;
/// the error for one that is not found says so.
///
/// # Safety
/// Loading runs the object's initialisers; it must be a trusted object.
pub(crate) unsafe fn open(what: &'static str, path: &Path) -> Result<Library> {
    // SAFETY: the caller vouches for the object (see above).
    unsafe { Library::new(path) }.map_err(|e| {
        let mut message = reason(&e);
        message.extend(bare_name_hint(path));
        Error::Load {
            what,
            path: path.to_path_buf(),
            message,
        }
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
        message: format!("symbol {symbol:?}: {}", reason(&e)),
    })?;
    Ok(*sym)
}
