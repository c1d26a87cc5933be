//! Checks the parsers cannot make on their own, made right after parsing
//! and before any work: ranges that depend on another option (block dim
//! and threads on the chosen platform), relations between options, and
//! output files that must be writable before a run that writes them at its
//! end. A failed check is reported as clap reports a bad value: the flag,
//! the value, why, and the usage ([`parse`]).

use std::fmt;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use clap::Parser;
use clap::error::ErrorKind as ClapErrorKind;
use hostgraph::{Platform, PlatformSpec};

/// A value the parsers accepted but the program cannot use, named by its
/// flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The flag, e.g. `--block-dim`.
    pub flag: &'static str,
    /// The value given.
    pub value: String,
    /// Why it cannot be used.
    pub why: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value '{}' for '{}': {}",
            self.value, self.flag, self.why
        )
    }
}

impl std::error::Error for Invalid {}

/// A command line with checks beyond its parsers.
pub trait Checked: Parser {
    /// The first value that cannot be used, if any.
    fn check(&self) -> Result<(), Invalid>;
}

/// Installs the logger (`RUST_LOG`, as `env_logger` reads it: errors only
/// when unset) and parses the command line; on a bad value (a parser's or
/// [`Checked::check`]'s) prints the error and the usage to stderr and
/// exits with status 2, as clap does.
pub fn parse<C: Checked>() -> C {
    env_logger::init();
    let mut command = C::command();
    let matches = command.get_matches_mut();
    let cli = C::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    if let Err(e) = cli.check() {
        command.error(ClapErrorKind::ValueValidation, e).exit();
    }
    cli
}

/// Every item of a comma-separated list once: a repeat would run (and
/// print, and chart) the same rows twice, so it is refused, named by
/// `name`.
pub fn once_each<T: PartialEq>(
    flag: &'static str,
    items: &[T],
    name: impl Fn(&T) -> String,
) -> Result<(), Invalid> {
    match items
        .iter()
        .enumerate()
        .find(|&(i, item)| items[..i].contains(item))
    {
        Some((_, item)) => Err(Invalid {
            flag,
            value: name(item),
            why: "named twice in the list".into(),
        }),
        None => Ok(()),
    }
}

/// Checks a block dim and a scheduler thread count against `platform`.
pub fn check_config(platform: Platform, block_dim: u32, threads: u32) -> Result<(), Invalid> {
    let spec = platform.spec();
    in_range("--block-dim", block_dim, spec.max_block_dim, platform)?;
    in_range("--threads", threads, spec.max_scheduler_threads, platform)
}

/// `value` is in `1..=max`, the range on `platform`.
fn in_range(flag: &'static str, value: u32, max: u32, platform: Platform) -> Result<(), Invalid> {
    if (1..=max).contains(&value) {
        return Ok(());
    }
    Err(Invalid {
        flag,
        value: value.to_string(),
        why: format!("{platform} takes 1 to {max}"),
    })
}

/// `what`, with its range on every platform (help text of an option
/// [`check_config`] checks), e.g. `Blocks to launch: 1 to 24 on a2a3, 1 to
/// 36 on a5`.
pub fn per_platform(what: &str, max: fn(&PlatformSpec) -> u32) -> String {
    let ranges: Vec<String> = Platform::ALL
        .iter()
        .map(|p| format!("1 to {} on {p}", max(p.spec())))
        .collect();
    format!("{what}: {}", ranges.join(", "))
}

/// Checks the output files given (`(flag, path)`, a path if the flag was
/// given): each must be writable (an existing file is left as it is, a
/// missing one created and removed again, a FIFO nobody reads refused at
/// once), and no two may name the same file (the first one written would
/// be lost: by the same path spelled two ways, or through a link). The
/// error names the later flag.
pub fn check_outputs(outputs: &[(&'static str, Option<&Path>)]) -> Result<(), Invalid> {
    let given: Vec<(&'static str, &Path)> = outputs
        .iter()
        .filter_map(|&(flag, path)| Some((flag, path?)))
        .collect();
    for &(flag, path) in &given {
        check_output(flag, path)?;
    }
    for (i, &(flag, path)) in given.iter().enumerate() {
        let same = given[..i]
            .iter()
            .find(|&&(_, earlier)| same_file(earlier, path));
        if let Some(&(first, _)) = same {
            return Err(Invalid {
                flag,
                value: path.display().to_string(),
                why: format!("names the same file as {first}"),
            });
        }
    }
    Ok(())
}

/// Whether `a` and `b` name one file: the same file, if it exists; else
/// the same name in the same directory, links followed.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
    }
    let place = |p: &Path| -> Option<PathBuf> {
        let p = through_links(p).ok()?;
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
            _ => std::env::current_dir().ok()?,
        };
        Some(dir.join(p.file_name()?))
    };
    matches!((place(a), place(b)), (Some(x), Some(y)) if x == y)
}

/// `path`, or what the chain of symbolic links at `path` points to (a
/// file that may not exist yet).
fn through_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Checks that the file `path` (given with `flag`) can be written: an
/// existing file is opened for writing and left as it is; a missing one
/// (or the missing file a symbolic link points to) is created and removed
/// again. Made before a run whose results go there. A FIFO no process
/// reads yet is refused at once rather than waited on (the open does not
/// block).
fn check_output(flag: &'static str, path: &Path) -> Result<(), Invalid> {
    let mut existing = OpenOptions::new();
    existing.append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        existing.custom_flags(libc::O_NONBLOCK);
    }
    let writable = match existing.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => through_links(path).and_then(|file| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .and_then(|_| std::fs::remove_file(&file))
        }),
        Err(e) => Err(e),
    };
    writable.map_err(|e| Invalid {
        flag,
        value: path.display().to_string(),
        why: match e.raw_os_error() {
            #[cfg(unix)]
            Some(libc::ENXIO) => "cannot be written: a FIFO no process reads".to_string(),
            _ => format!("cannot be written: {e}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO without a reader is refused at once, not waited on (before,
    /// the check blocked until a reader came). Found by a hostile review.
    #[cfg(unix)]
    #[test]
    fn check_output_refuses_a_fifo_nobody_reads_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.svg");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(check_output("--svg", &path)));
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the check returned");
        let e = r.unwrap_err();
        assert_eq!(e.flag, "--svg");
        assert!(e.why.contains("a FIFO no process reads"), "{e}");
    }

    #[test]
    fn check_output_leaves_an_existing_file_as_it_is_and_creates_none() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("kept.json");
        std::fs::write(&existing, "earlier run").unwrap();
        check_output("--trace", &existing).unwrap();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "earlier run");
        let new = dir.path().join("new.svg");
        check_output("--svg", &new).unwrap();
        assert!(!new.exists(), "the check left {} behind", new.display());
    }

    #[test]
    fn check_output_names_the_flag_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing/out.svg");
        let e = check_output("--svg", &missing).unwrap_err();
        assert_eq!(
            (e.flag, e.value.as_str()),
            ("--svg", missing.to_str().unwrap())
        );
        let e = check_output("--trace", dir.path()).unwrap_err();
        assert_eq!(e.flag, "--trace");
        assert!(e.to_string().starts_with(&format!(
            "invalid value '{}' for '--trace': cannot be written",
            dir.path().display()
        )));
    }

    #[test]
    fn check_config_names_the_flag_and_the_platforms_range() {
        assert_eq!(check_config(Platform::A5, 36, 7), Ok(()));
        let e = check_config(Platform::A2A3, 25, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value '25' for '--block-dim': a2a3 takes 1 to 24"
        );
        let e = check_config(Platform::A5, 3, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value '0' for '--threads': a5 takes 1 to 7"
        );
    }
}
