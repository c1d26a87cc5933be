//! Loading shared objects (orchestration plugins, kernel objects) from a
//! path or from bytes; every failure carries the loader's own reason
//! (dlerror's text).

use std::ffi::c_void;
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
/// the error for one that is not found says so. A path to something that
/// is not a regular file (a FIFO, which the loader would wait on for a
/// writer without end, a device, a directory) is refused first.
///
/// # Safety
/// Loading runs the object's initialisers; it must be a trusted object.
pub(crate) unsafe fn open(what: &'static str, path: &Path) -> Result<Library> {
    let has_dir = path.to_str().is_none_or(|p| p.contains('/'));
    if has_dir
        && let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(Error::Load {
            what,
            path: path.to_path_buf(),
            message: format!("not a regular file ({:?})", meta.file_type()),
        });
    }
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
/// a pointer to a static). A symbol whose address is null (an absolute
/// symbol at 0: `dlsym` returns null without an error) is refused, never
/// made into a function pointer or read through.
///
/// # Safety
/// `T` must be the symbol's real type: a function pointer or a pointer to
/// a static (pointer-sized).
pub(crate) unsafe fn symbol<T: Copy>(
    what: &'static str,
    lib: &Library,
    path: &Path,
    symbol: &str,
) -> Result<T> {
    const {
        assert!(size_of::<T>() == size_of::<*mut c_void>());
    }
    let refused = |message: String| Error::Load {
        what,
        path: path.to_path_buf(),
        message: format!("symbol {symbol:?}: {message}"),
    };
    // SAFETY: the address of any symbol may be read as a data pointer.
    let address = *unsafe { lib.get::<*mut c_void>(symbol) }.map_err(|e| refused(reason(&e)))?;
    if address.is_null() {
        return Err(refused("resolves to a null address".into()));
    }
    // SAFETY: `T` is the symbol's real type, a pointer-sized pointer (the
    // caller's promise, and the size is checked above), and `address` is
    // the symbol's non-null address, which is such a pointer's value.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&address) })
}
