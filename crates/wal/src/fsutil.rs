//! Small file-system helpers shared by the log and the snapshot store.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Fsyncs a directory so that a file created, renamed or removed in it
/// survives a crash (on Linux a file's own fsync does not cover its name).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` if needed; when it had to be created, fsyncs its parent so
/// the directory itself survives a crash.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// `<prefix><index as 20 digits><suffix>`, so names sort like indices.
pub(crate) fn indexed_name(prefix: &str, index: u64, suffix: &str) -> String {
    format!("{prefix}{index:020}{suffix}")
}

/// What a directory entry is, judged by its name.
pub(crate) enum NameMatch {
    /// Not one of ours.
    Other,
    /// Has our prefix and suffix and a valid 20-digit index.
    Indexed(u64),
    /// Has our prefix and suffix but the middle is not a 20-digit index.
    Malformed,
}

/// Parses names made by [`indexed_name`].
pub(crate) fn parse_indexed_name(name: &str, prefix: &str, suffix: &str) -> NameMatch {
    let Some(middle) = name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
    else {
        return NameMatch::Other;
    };
    if middle.len() != 20 || !middle.bytes().all(|b| b.is_ascii_digit()) {
        return NameMatch::Malformed;
    }
    match middle.parse::<u64>() {
        Ok(index) => NameMatch::Indexed(index),
        Err(_) => NameMatch::Malformed,
    }
}

/// The files of a directory that carry one of our indexed names.
pub(crate) struct Listing {
    /// `(index, path)`, sorted by index.
    pub found: Vec<(u64, PathBuf)>,
    /// Files with our prefix and suffix whose middle does not parse.
    pub malformed: Vec<PathBuf>,
}

/// Lists `(index, path)` of the files in `dir` named `<prefix><20 digits><suffix>`,
/// sorted by index; a file with our prefix and suffix but a malformed middle
/// is returned in the error list.
pub(crate) fn list_indexed(dir: &Path, prefix: &str, suffix: &str) -> io::Result<Listing> {
    let mut found = Vec::new();
    let mut malformed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_indexed_name(name, prefix, suffix) {
            NameMatch::Other => {}
            NameMatch::Indexed(index) => found.push((index, entry.path())),
            NameMatch::Malformed => malformed.push(entry.path()),
        }
    }
    found.sort();
    Ok(Listing { found, malformed })
}
