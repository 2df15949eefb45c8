//! Small file-system helpers shared by the log and the snapshot store.

use std::io;
use std::path::{Path, PathBuf};

use crate::fs::Fs;

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
pub(crate) fn list_indexed(
    fs: &dyn Fs,
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> io::Result<Listing> {
    let mut found = Vec::new();
    let mut malformed = Vec::new();
    for name in fs.list_dir(dir)? {
        match parse_indexed_name(&name, prefix, suffix) {
            NameMatch::Other => {}
            NameMatch::Indexed(index) => found.push((index, dir.join(&name))),
            NameMatch::Malformed => malformed.push(dir.join(&name)),
        }
    }
    found.sort();
    Ok(Listing { found, malformed })
}
