//! Atomic file writes, the one way every command writes a file: a temporary sibling in the
//! same directory (so the rename cannot cross file systems), synced, then renamed over the
//! target. A reader sees the old file or the whole new one, never a half-written one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A hidden sibling of `target` tagged with `tag` and this process's id, so two processes
/// writing the same target never share a temporary.
pub fn sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    target.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// A temporary sibling of `target` ending in `.ext`, for writers (such as the PNG backend)
/// that choose the format by extension; rename it over `target` with [`commit`].
pub fn temp_with_extension(target: &Path, ext: &str) -> PathBuf {
    let mut os = sibling(target, "tmp").into_os_string();
    os.push(".");
    os.push(ext);
    PathBuf::from(os)
}

/// Renames a finished temporary over `target`; the temporary is removed if that fails.
pub fn commit(tmp: &Path, target: &Path) -> io::Result<()> {
    let res = fs::rename(tmp, target);
    if res.is_err() {
        let _ = fs::remove_file(tmp);
    }
    res
}

/// Writes one whole file atomically (parent directories are created as needed).
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent)?;
        }
    }
    let tmp = sibling(path, "tmp");
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match res {
        Ok(()) => commit(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Copies `from` to `to` atomically, as [`write_file`] writes: into a temporary sibling
/// of `to` (streamed, not read whole into memory), synced, then renamed over `to`.
pub fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent)?;
        }
    }
    let tmp = sibling(to, "tmp");
    let res = (|| {
        fs::copy(from, &tmp)?;
        fs::File::open(&tmp)?.sync_all()
    })();
    match res {
        Ok(()) => commit(&tmp, to),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// [`write_file`] with the error as text naming the path, as commands report it.
pub fn write_text(path: &Path, text: &str) -> Result<(), String> {
    write_file(path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("capsim-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let p = dir.join("sub").join("a.txt");
        write_file(&p, b"a longer first text").unwrap();
        write_text(&p, "two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "only a.txt: the temporary was renamed");
        assert!(temp_with_extension(&p, "png").to_string_lossy().ends_with(
            ".txt.tmp-{}.png"
                .replace("{}", &std::process::id().to_string())
                .as_str()
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
