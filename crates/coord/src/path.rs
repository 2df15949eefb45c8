//! Path rules, as ZooKeeper's PathUtils and PrepRequestProcessor apply them.

use crate::types::ErrorCode;

/// The paths ZooKeeper refuses to delete (ZKDatabase.isSpecialPath).
const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// PathUtils.validatePath: absolute, no empty or relative segments, no
/// trailing '/', no control or unassigned characters. The character rules
/// are stated on UTF-16 code units, so anything outside the BMP (a
/// surrogate pair in Java) is refused too.
pub fn validate_path(path: &str) -> Result<(), ErrorCode> {
    let chars: Vec<char> = path.chars().collect();
    if chars.first() != Some(&'/') {
        return Err(ErrorCode::BadArguments);
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars.last() == Some(&'/') {
        return Err(ErrorCode::BadArguments);
    }
    let at_segment_end = |i: usize| i + 1 == chars.len() || chars[i + 1] == '/';
    for i in 1..chars.len() {
        let (last, c) = (chars[i - 1], chars[i]);
        let bad = match c {
            '\0' => true,
            '/' => last == '/',
            '.' if last == '.' => chars[i - 2] == '/' && at_segment_end(i),
            '.' => last == '/' && at_segment_end(i),
            _ => forbidden_char(c),
        };
        if bad {
            return Err(ErrorCode::BadArguments);
        }
    }
    Ok(())
}

fn forbidden_char(c: char) -> bool {
    matches!(u32::from(c), 0x01..=0x1f | 0x7f..=0x9f | 0xd800..=0xf8ff | 0xfff0..)
}

/// The parent of a create's path, before the full validation that waits for
/// the sequential suffix (PrepRequestProcessor.validatePathForCreate).
pub fn parent_for_create(path: &str) -> Result<&str, ErrorCode> {
    match path.rfind('/') {
        Some(slash) if !path.contains('\0') => Ok(&path[..slash]),
        _ => Err(ErrorCode::BadArguments),
    }
}

/// The parent of a delete's path (getParentPathAndValidate): the path is not
/// otherwise validated, and ZooKeeper's own nodes cannot be deleted.
pub fn parent_for_delete(path: &str) -> Result<&str, ErrorCode> {
    if SPECIAL_PATHS.contains(&path) {
        return Err(ErrorCode::BadArguments);
    }
    parent_for_create(path)
}

/// The parent of a stored node's path and the child's name. The root's
/// parent is the empty string, which names the root again, as in
/// ZooKeeper's node table.
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(slash) => (&path[..slash], &path[slash + 1..]),
        None => ("", path),
    }
}

/// The key of a path in the node table: "" is an alias of "/".
pub fn key(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}
