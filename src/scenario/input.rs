//! Reading input files (scenarios, traces) and quoting their text in errors.
//!
//! Only regular files are read (`/dev/zero` would be read forever, a FIFO blocks), at most
//! [`MAX_INPUT_BYTES`], and an error quotes at most [`QUOTE_CHARS`] characters of input
//! (a 1 MB line must not land on stderr).

use super::error::ConfigError;
use std::io::Read;
use std::path::Path;

/// The largest input file read: 256 MiB (the largest shipped trace set is a few MB; a
/// file this big would already need several GB once expanded into samples).
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

pub use crate::quote::{clip, QUOTE_CHARS};

/// An error about the file as a whole.
fn whole(path: &Path, message: String) -> ConfigError {
    ConfigError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        field: String::new(),
        message,
    }
}

/// [`read_text`] for readers whose errors are strings (capture runs, sweep directories,
/// model files given on the command line): the same refusals, the message naming the file.
pub fn read_input(path: &Path, what: &str) -> Result<String, String> {
    read_text(path, what).map_err(|e| e.to_string())
}

/// Reads `path` (a `what`, e.g. "trace", for messages) as UTF-8 text. Refuses what is not
/// a regular file (checked on the symlink's target before opening) and files over
/// [`MAX_INPUT_BYTES`]; invalid UTF-8 is an error at its line and column.
pub fn read_text(path: &Path, what: &str) -> Result<String, ConfigError> {
    let cannot = |e: std::io::Error| whole(path, format!("cannot read the {what}: {e}"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(whole(
            path,
            format!("cannot read the {what}: it is {kind}; give a regular {what} file"),
        ));
    }
    let too_big = |n: u64| {
        whole(
            path,
            format!(
                "the {what} is {} MiB or more; files over {} MiB are refused",
                n >> 20,
                MAX_INPUT_BYTES >> 20
            ),
        )
    };
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // At most one byte past the limit, in case the file grew since `metadata`.
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        // The bytes before `at` are valid UTF-8: line and column count from them.
        let before = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        ConfigError {
            file: path.display().to_string(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            field: String::new(),
            message: format!(
                "invalid UTF-8 at byte {at}: the {what} must be UTF-8 text (save it as UTF-8)"
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("capsim-input-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn quotes_are_clipped_to_200_characters() {
        assert_eq!(clip("short"), "short");
        let exact = "é".repeat(QUOTE_CHARS);
        assert_eq!(clip(&exact), exact, "200 characters are kept whole");
        // 201 two-byte characters: the first 200 and an ellipsis.
        let long = "é".repeat(QUOTE_CHARS + 1);
        assert_eq!(clip(&long), format!("{exact}…"));
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_before_opening() {
        // /dev/zero is endless: reading it would never return.
        let e = read_text(Path::new("/dev/zero"), "trace").unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let dir = scratch("kinds");
        // A symlink to /dev/zero: its target is checked.
        let link = dir.join("zero.trace");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_text(&link, "trace").unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        assert!(e.file.ends_with("zero.trace") && e.line == 0, "{e}");
        // A FIFO would block `open` until a writer comes.
        let fifo = dir.join("fifo.trace");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read_text(&fifo, "trace").unwrap_err();
            assert!(e.message.contains("not a regular file"), "{e}");
        }
        let e = read_text(&dir, "trace").unwrap_err();
        assert!(e.message.contains("a directory"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_over_the_limit_are_refused_and_bad_utf8_is_located() {
        let dir = scratch("size");
        // A sparse file one byte over the limit (no disk used).
        let big = dir.join("big.trace");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_INPUT_BYTES + 1).unwrap();
        let e = read_text(&big, "trace").unwrap_err();
        assert!(e.message.contains("over 256 MiB are refused"), "{e}");
        // Byte 0xFF is never UTF-8; it is the 3rd character of line 2 (0-based byte 4).
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, b"a\nbc\xffd\n").unwrap();
        let e = read_text(&bad, "scenario").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3), "{e}");
        assert!(e.message.contains("byte 4"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
