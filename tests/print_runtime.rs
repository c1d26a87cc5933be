//! `print_runtime`, through either ops table, writes nothing to stdout: it
//! hands the graph's one-line summary to the `log` crate, as one record of
//! level info with target `hostgraph::print_runtime`, on the thread that
//! builds.

use std::sync::Mutex;
use std::thread::{self, ThreadId};

use hostgraph::{OwnedArgs, ReferencePlugin, Runtime, RuntimeConfig};
use hostgraph_examples::plugins::c_plugin;
use hostgraph_orch_abi::{CoreType, OrchArgs, OrchestrationRuntime, Orchestrator};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// A record as the logger received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Captured {
    thread: ThreadId,
    level: Level,
    target: String,
    message: String,
}

/// A logger that keeps every record.
struct Capture(Mutex<Vec<Captured>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        if PANIC_HERE.get() {
            panic!("the logger failed on purpose");
        }
        let captured = Captured {
            thread: thread::current().id(),
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        };
        self.0.lock().unwrap().push(captured);
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

thread_local! {
    /// The logger panics on this thread.
    static PANIC_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs the capturing logger (once per process: tests share it and
/// tell their records apart by thread).
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(LevelFilter::Info);
    });
}

/// The `print_runtime` records this thread logged.
fn printed_here() -> Vec<Captured> {
    let here = thread::current().id();
    CAPTURE
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.thread == here && r.target == "hostgraph::print_runtime")
        .cloned()
        .collect()
}

/// Checks the one record of a graph of an AIC task, an AIV task after it
/// and one device allocation.
fn check_printed(what: &str) {
    let printed = printed_here();
    assert_eq!(printed.len(), 1, "{what}: {printed:#?}");
    let record = &printed[0];
    assert_eq!(record.level, Level::Info, "{what}");
    for part in ["2 tasks (1 AIC, 1 AIV)", "1 edges", "1 device allocations"] {
        assert!(
            record.message.contains(part),
            "{what}: {:?} lacks {part:?}",
            record.message
        );
    }
}

/// A native entry: an AIC task, an AIV task after it, one device
/// allocation, then `print_runtime`.
unsafe extern "C" fn entry(rt: *mut OrchestrationRuntime, _: *const OrchArgs) -> i32 {
    // SAFETY: the runtime passes a valid handle for the length of the call.
    let Ok(mut orch) = (unsafe { Orchestrator::from_raw(rt) }) else {
        return 1;
    };
    let (Ok(_), Ok(a), Ok(b)) = (
        orch.device_malloc(64),
        orch.add_task(&[0], 0, CoreType::Aic),
        orch.add_task(&[0], 0, CoreType::Aiv),
    ) else {
        return 1;
    };
    if orch.add_successor(a, b).is_err() {
        return 1;
    }
    orch.print_runtime();
    0
}

#[test]
fn native_table_logs_the_summary() {
    install();
    let mut rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    // SAFETY: `entry` follows orchestration_api.h and records no tensor pair.
    unsafe { rt.build_with_entry(entry, "print", &OwnedArgs::new()) }.expect("build");
    check_printed("native table");
    rt.discard();
}

#[test]
fn reference_table_logs_the_summary() {
    install();
    let mut rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    // SAFETY: this project's own test plugin, built against the reference header.
    let plugin = unsafe { ReferencePlugin::load(c_plugin("ref_print"), "build_print_graph") }
        .expect("load ref_print");
    // SAFETY: no tensor, so no host buffer the plugin could record.
    unsafe { rt.build_with_reference(&plugin, &OwnedArgs::new()) }.expect("build");
    check_printed("reference table");
    rt.discard();
}

/// A panic inside an ops-table call (here the application's logger, called
/// by `print_runtime`, which returns no status) fails the build with
/// `Panicked`, though the plugin goes on and returns 0, and leaves nothing
/// behind. Before, the panic was caught and forgotten: the build said Ok.
/// Found by a hostile review.
#[test]
fn a_panic_inside_an_ops_call_fails_the_build() {
    install();
    let mut rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    PANIC_HERE.set(true);
    // SAFETY: `entry` follows orchestration_api.h and records no tensor pair.
    let built = unsafe { rt.build_with_entry(entry, "print", &OwnedArgs::new()) };
    PANIC_HERE.set(false);
    match built {
        Err(hostgraph::Error::Panicked { message, .. }) => {
            assert!(
                message.contains("the logger failed on purpose"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rt.task_count(), 0);
    assert!(rt.device_memory().live().is_empty());
    // And the next build works.
    // SAFETY: as above.
    unsafe { rt.build_with_entry(entry, "print", &OwnedArgs::new()) }.expect("build");
    rt.discard();
}
