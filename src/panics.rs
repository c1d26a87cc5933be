//! Turning a caught panic into the message an error carries, and dropping
//! its payload without letting a second panic out.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The message of a caught panic's payload, which is dropped here (see
/// [`drop_payload`]).
pub(crate) fn panic_message(p: Box<dyn Any + Send>) -> String {
    let message = if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked (non-string payload)".to_string()
    };
    drop_payload(p);
    message
}

/// Drops a caught panic's payload. A payload whose `Drop` panics in turn
/// (`panic_any` of such a value) would unwind out of the code that caught
/// the first panic — a simulator runner or a scheduler thread, which then
/// dies holding its core: that second panic is caught too, and its own
/// payload leaked rather than dropped.
pub(crate) fn drop_payload(p: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(p))) {
        std::mem::forget(again);
    }
}
