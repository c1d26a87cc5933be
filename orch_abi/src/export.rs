//! Exporting a Rust build function as a plugin entry point:
//! [`run_entry`] and the [`export_orchestration!`](crate::export_orchestration),
//! [`export_orchestration_entry!`](crate::export_orchestration_entry) and
//! [`export_abi_version!`](crate::export_abi_version) macros.

use core::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::{ArgsView, OrchArgs, OrchError, OrchStatus, OrchestrationRuntime, Orchestrator};

/// A Rust orchestration build function, as the export macros take it.
pub type BuildFn = fn(&mut Orchestrator<'_>, &ArgsView<'_>) -> Result<(), OrchError>;

/// What an exported entry returns when the build function panicked.
pub const PANIC_EXIT_CODE: c_int = -1000;

/// What an exported entry returns when the build function failed with an
/// [`OrchError`] whose status is [`OrchStatus::Ok`] (which would otherwise
/// read as success).
pub const OK_STATUS_ERROR_EXIT_CODE: c_int = -1001;

/// Runs `build` as an entry point would: checks `rt` with
/// [`Orchestrator::from_raw`], views `args` with [`ArgsView::from_raw`] and
/// calls `build` inside [`catch_unwind`].
///
/// Returns `0` on success, the error's [`OrchStatus`] code when `rt` is
/// refused or `build` fails, [`PANIC_EXIT_CODE`] when `build` panics (the
/// panic message goes through the panic hook as usual; with `panic =
/// "abort"` the process aborts instead), and [`OK_STATUS_ERROR_EXIT_CODE`]
/// for an error carrying [`OrchStatus::Ok`].
///
/// # Safety
///
/// `rt` must satisfy [`Orchestrator::from_raw`] and `args` must satisfy
/// [`ArgsView::from_raw`], both for the duration of the call.
pub unsafe fn run_entry(
    rt: *mut OrchestrationRuntime,
    args: *const OrchArgs,
    build: BuildFn,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    let mut orch = match unsafe { Orchestrator::from_raw(rt) } {
        Ok(orch) => orch,
        Err(err) => return err.status.code(),
    };
    // SAFETY: forwarded from this function's contract.
    let args = unsafe { ArgsView::from_raw(args) };
    match catch_unwind(AssertUnwindSafe(|| build(&mut orch, &args))) {
        Ok(Ok(())) => 0,
        Ok(Err(err)) if err.status == OrchStatus::Ok => OK_STATUS_ERROR_EXIT_CODE,
        Ok(Err(err)) => err.status.code(),
        Err(_) => PANIC_EXIT_CODE,
    }
}

/// Exports the ABI-version symbol `hostgraph_orch_abi_version` (a `u32`
/// holding [`ABI_VERSION`](crate::ABI_VERSION)) from the crate it is used
/// in.
///
/// [`export_orchestration!`](crate::export_orchestration) already does this;
/// use this macro directly only in a plugin whose entries are all exported
/// with [`export_orchestration_entry!`](crate::export_orchestration_entry).
/// Use it at most once per shared object.
#[macro_export]
macro_rules! export_abi_version {
    () => {
        /// The orchestration ABI version this plugin was built against; the
        /// runtime refuses to call a plugin whose version differs.
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static hostgraph_orch_abi_version: u32 = $crate::ABI_VERSION;
    };
}

/// Exports a build function as a plugin entry point, WITHOUT the ABI-version
/// symbol.
///
/// `export_orchestration_entry!(path::to::build)` exports it as `entry`,
/// `export_orchestration_entry!(path::to::build as name)` as `name`. `build`
/// must be a [`BuildFn`](crate::BuildFn): `fn(&mut Orchestrator<'_>,
/// &ArgsView<'_>) -> Result<(), OrchError>`. The generated function is
/// `pub unsafe extern "C" fn name(rt: *mut OrchestrationRuntime, args:
/// *const OrchArgs) -> c_int` and behaves like [`run_entry`](crate::run_entry).
///
/// A shared object with several entries uses
/// [`export_orchestration!`](crate::export_orchestration) for one of them
/// (which also exports the version symbol) and this macro for the others.
#[macro_export]
macro_rules! export_orchestration_entry {
    ($build:path) => {
        $crate::export_orchestration_entry!($build as entry);
    };
    ($build:path as $name:ident) => {
        /// Orchestration entry point (`OrchestrationEntryFn`): returns 0 on
        /// success, a negative `OrchStatus` code on failure and
        /// `PANIC_EXIT_CODE` if the build function panicked.
        ///
        /// # Safety
        ///
        /// `rt` must be a live runtime handle with a valid function table
        /// and `args` null or valid arguments, both for the duration of the
        /// call (the runtime guarantees this when it calls the entry).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            rt: *mut $crate::OrchestrationRuntime,
            args: *const $crate::OrchArgs,
        ) -> ::core::ffi::c_int {
            // SAFETY: this function's contract is `run_entry`'s.
            unsafe { $crate::run_entry(rt, args, $build) }
        }
    };
}

/// Exports a build function as a plugin entry point AND the ABI-version
/// symbol `hostgraph_orch_abi_version`.
///
/// `export_orchestration!(path::to::build)` exports the entry as `entry`
/// (the runtime's default, [`DEFAULT_ENTRY_SYMBOL`](crate::DEFAULT_ENTRY_SYMBOL)),
/// `export_orchestration!(path::to::build as name)` as `name`; see
/// [`export_orchestration_entry!`](crate::export_orchestration_entry) for the
/// generated function. Use this macro ONCE per shared object (the version
/// symbol may only be defined once) and
/// [`export_orchestration_entry!`](crate::export_orchestration_entry) for any
/// further entries.
///
/// ```
/// use hostgraph_orch_abi::{ArgsView, CoreType, OrchError, Orchestrator};
///
/// fn build(orch: &mut Orchestrator<'_>, args: &ArgsView<'_>) -> Result<(), OrchError> {
///     let n = args.scalar(0)?;
///     let a = orch.add_task(&[n], 0, CoreType::Aiv)?;
///     let b = orch.add_task(&[n], 1, CoreType::Aic)?;
///     orch.add_successor(a, b)
/// }
///
/// fn build_nothing(_: &mut Orchestrator<'_>, _: &ArgsView<'_>) -> Result<(), OrchError> {
///     Ok(())
/// }
///
/// hostgraph_orch_abi::export_orchestration!(build);
/// hostgraph_orch_abi::export_orchestration_entry!(build_nothing as entry_nothing);
///
/// assert_eq!(hostgraph_orch_abi_version, hostgraph_orch_abi::ABI_VERSION);
/// let _: hostgraph_orch_abi::OrchestrationEntryFn = entry;
/// let _: hostgraph_orch_abi::OrchestrationEntryFn = entry_nothing;
/// ```
#[macro_export]
macro_rules! export_orchestration {
    ($build:path) => {
        $crate::export_orchestration!($build as entry);
    };
    ($build:path as $name:ident) => {
        $crate::export_abi_version!();
        $crate::export_orchestration_entry!($build as $name);
    };
}
