//! The kernel registry: func_id -> kernel entry (native function or a
//! symbol of a loaded kernel object).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use libloading::Library;

use crate::error::Result;
use crate::panics::panic_message;
use crate::sharedlib;

/// Signature of a kernel with a C ABI: it receives a pointer to its task's
/// argument words.
pub type CKernelFn = unsafe extern "C" fn(args: *const u64);
/// A C-ABI kernel that may unwind (a Rust panic in it is caught and reported).
pub type CUnwindKernelFn = unsafe extern "C-unwind" fn(args: *const u64);

#[derive(Clone, Copy)]
enum Entry {
    C(CKernelFn),
    CUnwind(CUnwindKernelFn),
    Rust(fn(&[u64])),
}

/// A kernel: what a core calls to run a task, and optionally its name
/// (shown in profiles and traces instead of the func_id).
///
/// ```
/// use hostgraph::KernelFn;
/// fn noop(_args: &[u64]) {}
/// let k = KernelFn::rust(noop).named("noop");
/// assert_eq!(k.name(), Some("noop"));
/// ```
///
/// Only a core calls a kernel, with exactly a task's argument words: the
/// call is not public (its safety rests on those words).
///
/// ```compile_fail
/// let k = hostgraph::KernelFn::rust(|_| {});
/// let _ = k.call(&[0x1000]);
/// ```
#[derive(Clone)]
pub struct KernelFn {
    entry: Entry,
    name: Option<Arc<str>>,
    /// Keeps a kernel object loaded while any copy of the entry exists.
    _library: Option<Arc<Library>>,
}

impl std::fmt::Debug for KernelFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.entry {
            Entry::C(_) => "C",
            Entry::CUnwind(_) => "C-unwind",
            Entry::Rust(_) => "Rust",
        };
        write!(f, "KernelFn({kind}")?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        if self._library.is_some() {
            f.write_str(", from object")?;
        }
        f.write_str(")")
    }
}

impl KernelFn {
    /// A Rust kernel over its argument words. A panic is caught and fails
    /// the run with an error naming the task.
    pub fn rust(f: fn(&[u64])) -> Self {
        KernelFn {
            entry: Entry::Rust(f),
            name: None,
            _library: None,
        }
    }

    /// A C-ABI kernel. It must not unwind (a panic in an `extern "C"`
    /// function aborts the process); use [`c_unwind`](Self::c_unwind) for
    /// kernels that may panic.
    ///
    /// # Safety
    /// `f` must only read the argument words its tasks are given, and only
    /// dereference the device pointers among them within their allocations.
    pub unsafe fn c(f: CKernelFn) -> Self {
        KernelFn {
            entry: Entry::C(f),
            name: None,
            _library: None,
        }
    }

    /// A C-ABI kernel whose panics are caught.
    ///
    /// # Safety
    /// As [`c`](Self::c).
    pub unsafe fn c_unwind(f: CUnwindKernelFn) -> Self {
        KernelFn {
            entry: Entry::CUnwind(f),
            name: None,
            _library: None,
        }
    }

    /// Loads the kernel object at `path` and resolves `symbol`
    /// (`void symbol(const uint64_t *args)`); the kernel is named after
    /// the symbol.
    ///
    /// # Safety
    /// The object must be trusted (its initialisers run) and `symbol` must
    /// have the kernel signature and honour [`c`](Self::c)'s contract.
    pub unsafe fn load(path: impl AsRef<Path>, symbol: &str) -> Result<Self> {
        let path = path.as_ref();
        // SAFETY: forwarded from the caller.
        let lib = unsafe { sharedlib::open("kernel object", path)? };
        // SAFETY: the caller vouches for the symbol's signature.
        let f = unsafe { sharedlib::symbol::<CKernelFn>("kernel object", &lib, path, symbol)? };
        Ok(KernelFn {
            entry: Entry::C(f),
            name: Some(symbol.into()),
            _library: Some(Arc::new(lib)),
        })
    }

    /// Like [`load`](Self::load), from the object's bytes (written to a
    /// private temp file, loaded, unlinked); named after the symbol.
    ///
    /// # Safety
    /// As [`load`](Self::load).
    pub unsafe fn load_bytes(bytes: &[u8], symbol: &str) -> Result<Self> {
        // SAFETY: forwarded from the caller.
        let (lib, path) = unsafe { sharedlib::open_bytes("kernel object", bytes)? };
        // SAFETY: the caller vouches for the symbol's signature.
        let f = unsafe { sharedlib::symbol::<CKernelFn>("kernel object", &lib, &path, symbol)? };
        Ok(KernelFn {
            entry: Entry::C(f),
            name: Some(symbol.into()),
            _library: Some(Arc::new(lib)),
        })
    }

    /// The same kernel named `name`: profiles and traces show the name
    /// instead of the func_id (the name is looked up once per profile, not
    /// per task).
    pub fn named(self, name: impl Into<Arc<str>>) -> Self {
        KernelFn {
            name: Some(name.into()),
            ..self
        }
    }

    /// The kernel's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Calls the kernel with `args`, which must be exactly the argument
    /// words of a task of the graph it was registered for (the
    /// constructors' safety contracts are stated against those words, so
    /// this is not callable from outside the crate); a caught panic comes
    /// back as its message.
    #[inline]
    pub(crate) fn call(&self, args: &[u64]) -> std::result::Result<(), String> {
        let caught = match self.entry {
            Entry::C(f) => {
                // SAFETY: `args` are exactly a task's argument words (above),
                // and the constructor's contract covers the kernel on those
                // words.
                unsafe { f(args.as_ptr()) };
                return Ok(());
            }
            Entry::CUnwind(f) => std::panic::catch_unwind(|| {
                // SAFETY: as for `Entry::C`.
                unsafe { f(args.as_ptr()) }
            }),
            Entry::Rust(f) => std::panic::catch_unwind(|| f(args)),
        };
        caught.map_err(panic_message)
    }
}

/// func_id -> kernel. Registering a func_id again replaces its entry (the
/// old one, and its object if it held the last reference, is dropped once).
#[derive(Resource, Default, Debug)]
pub struct KernelRegistry {
    map: HashMap<i32, KernelFn>,
}

impl KernelRegistry {
    /// Registers `kernel` for `func_id`; returns the entry it replaced.
    pub fn insert(&mut self, func_id: i32, kernel: KernelFn) -> Option<KernelFn> {
        self.map.insert(func_id, kernel)
    }

    /// The kernel for `func_id`.
    pub fn get(&self, func_id: i32) -> Option<&KernelFn> {
        self.map.get(&func_id)
    }

    /// Removes every kernel; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }

    /// Registered kernels.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no kernel is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
