//! Bringing your own orchestration, as the examples' `--plugin PATH --entry
//! SYMBOL [--abi native|reference]` does: a reference-runtime source built
//! the way a user would (the C++ compiler `cc` finds, `-I
//! orch_abi/include/reference`) runs against the example's kernels, inputs
//! and reference; a native plugin loads the default way; the wrong `--abi`
//! is refused with a hint; and the options check each other.

use std::path::{Path, PathBuf};

use clap::Parser;
use hostgraph::{Error, Runtime, RuntimeConfig};
use hostgraph_examples::cli::OwnPlugin;
use hostgraph_examples::plugins::{Abi, Orchestration, c_plugin};
use hostgraph_examples::{matmul, vector};

/// The options as an example declares them (`--orch` conflicts with
/// `--plugin`).
#[derive(Parser, Debug)]
struct Cli {
    #[arg(long, default_value = "c")]
    orch: String,
    #[command(flatten)]
    own: OwnPlugin,
}

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("example").chain(args.iter().copied()))
}

/// Compiles `examples/orch_ref/<name>.cpp` into a shared object in `dir`,
/// as a user would build an orchestration written for the reference
/// runtime.
fn build_user_plugin(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../orch_ref/{name}.cpp"));
    let so = dir.join(format!("libmy_{name}.so"));
    let compiler = cc::Build::new()
        .cpp(true)
        .opt_level(0)
        .target(&host_triple())
        .host(&host_triple())
        .cargo_metadata(false)
        .cargo_warnings(false)
        .out_dir(dir)
        .get_compiler();
    let status = compiler
        .to_command()
        .args(["-std=c++17", "-fPIC", "-shared"])
        .arg("-I")
        .arg(hostgraph_orch_abi::reference::include_dir())
        .arg("-o")
        .arg(&so)
        .arg(&src)
        .status()
        .expect("run the C++ compiler");
    assert!(status.success(), "compiling {}", src.display());
    so
}

/// The triple of the machine the tests run on, from `rustc -vV`.
fn host_triple() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("a host: line")
        .trim()
        .to_owned()
}

#[test]
fn user_built_reference_orchestration_runs_against_the_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    let so = build_user_plugin("matmul", dir.path());
    let so_arg = so.to_str().expect("utf-8 path");
    let cli = parse(&[
        "--plugin",
        so_arg,
        "--entry",
        "build_matmul_graph",
        "--abi",
        "reference",
    ])
    .expect("parse");
    let plugin = cli
        .own
        .or_own(|| panic!("--plugin was given"))
        .expect("load");
    assert_eq!(
        (plugin.abi(), plugin.path()),
        (Abi::Reference, so.as_path())
    );
    let mut rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let inputs = matmul::Inputs::new();
    let (f, report) = matmul::run_round(&mut rt, &plugin, &inputs).expect("round");
    assert_eq!((report.tasks, report.aic_tasks), (4, 2));
    let err = matmul::max_error(&f, &matmul::reference(&inputs));
    assert!(err <= matmul::TOLERANCE, "max error {err}");
}

#[test]
fn native_plugin_is_the_default_abi() {
    let path = c_plugin("vector_example");
    let cli = parse(&["--plugin", path.to_str().unwrap(), "--entry", "entry"]).expect("parse");
    let plugin = cli
        .own
        .or_own(|| panic!("--plugin was given"))
        .expect("load");
    assert_eq!(plugin.abi(), Abi::Native);
    let mut rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let (a, b) = (vec![2.0f32; 100], vec![3.0f32; 100]);
    let (f, _) = vector::run_round(&mut rt, &plugin, &a, &b).expect("round");
    assert_eq!(f, vector::reference(&a, &b));
}

#[test]
fn wrong_abi_is_refused_with_the_option_to_use() {
    let path = c_plugin("vector_example");
    let cli = parse(&[
        "--plugin",
        path.to_str().unwrap(),
        "--entry",
        "entry",
        "--abi",
        "reference",
    ])
    .expect("parse");
    let e = cli.own.or_own(|| panic!("--plugin was given")).unwrap_err();
    assert!(
        matches!(&e, Error::WrongAbi { message, .. } if message.ends_with("(on the command line: --abi native)")),
        "{e}"
    );
}

#[test]
fn options_check_each_other() {
    use clap::error::ErrorKind;
    let kind = |args: &[&str]| parse(args).map(|_| ()).unwrap_err().kind();
    assert_eq!(
        kind(&["--plugin", "x.so"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(kind(&["--entry", "e"]), ErrorKind::MissingRequiredArgument);
    assert_eq!(
        kind(&["--abi", "reference"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        kind(&["--orch", "c", "--plugin", "x.so", "--entry", "e"]),
        ErrorKind::ArgumentConflict
    );
    // Without --plugin the example's own orchestration is used.
    let cli = parse(&[]).expect("parse");
    let own = cli.own.or_own(|| Err(Error::NoGraph)).unwrap_err();
    assert!(matches!(own, Error::NoGraph), "the closure ran: {own}");
}
