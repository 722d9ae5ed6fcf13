//! Atomic output: files are written into a hidden staging directory beside the target
//! and renamed into place only when all of them are complete, so a failed or killed run
//! never leaves a half-written output directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::atomic::sibling;

/// A staging directory that becomes `target` on [`Staging::commit`], and is removed if
/// dropped uncommitted.
pub struct Staging {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates the staging directory for `target` (parents are created as needed).
    pub fn new(target: &Path) -> io::Result<Self> {
        if let Some(parent) = target.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)?;
            }
        }
        if target.exists() && !target.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a directory: give a directory path for the outputs",
            ));
        }
        let staging = sibling(target, "partial");
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir(&staging)?;
        Ok(Staging {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Path of a file inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Writes a whole file into the staging directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut f = fs::File::create(self.path(name))?;
        f.write_all(bytes)?;
        f.sync_all()
    }

    /// Replaces `target` with the staging directory. An existing target is moved aside
    /// first and removed only after the new one is in place.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let old = sibling(&self.target, "old");
        let had_old = self.target.exists();
        if had_old {
            if old.exists() {
                fs::remove_dir_all(&old)?;
            }
            fs::rename(&self.target, &old)?;
        }
        if let Err(e) = fs::rename(&self.staging, &self.target) {
            if had_old {
                let _ = fs::rename(&old, &self.target);
            }
            return Err(e);
        }
        self.committed = true;
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// The process id in a staging directory's name (`.NAME.partial-PID`, as
/// [`Staging::new`] names it), or `None` for any other name.
fn staging_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (target, pid) = rest.rsplit_once(".partial-")?;
    if target.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is alive on this machine: `/proc/PID` exists (Linux). `None`
/// where there is no `/proc` to tell.
fn alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// Removes the staging directories in `dir` that a killed process left behind: those
/// named `.NAME.partial-PID` whose PID is not alive, or is this process (which has none
/// in flight when it calls this, so one with its PID is a dead process's whose PID was
/// reused). A staging directory of another live process is left alone, and so is
/// everything without `/proc` to tell. Returns how many were removed.
pub fn remove_orphaned_staging(dir: &Path) -> Result<usize, String> {
    let ctx = |p: &Path, e: io::Error| format!("{}: {e}", p.display());
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ctx(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| ctx(dir, e))?;
        let name = entry.file_name();
        let Some(pid) = staging_pid(&name.to_string_lossy()) else {
            continue;
        };
        let ours = pid == std::process::id();
        if !entry
            .file_type()
            .map_err(|e| ctx(&entry.path(), e))?
            .is_dir()
            || (alive(pid) != Some(false) && !ours)
        {
            continue;
        }
        fs::remove_dir_all(entry.path()).map_err(|e| ctx(&entry.path(), e))?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_cleans_up() {
        let base = std::env::temp_dir().join(format!("capsim-dir-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let target = base.join("out");
        let s = Staging::new(&target).unwrap();
        s.write("a.txt", b"one").unwrap();
        assert!(!target.exists(), "nothing visible before commit");
        s.commit().unwrap();
        assert_eq!(fs::read(target.join("a.txt")).unwrap(), b"one");
        // An abandoned second run leaves the first intact and no staging behind.
        {
            let s = Staging::new(&target).unwrap();
            s.write("a.txt", b"two").unwrap();
        }
        assert_eq!(fs::read(target.join("a.txt")).unwrap(), b"one");
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn staging_names_carry_their_pid() {
        assert_eq!(staging_pid(".0a1b.partial-123"), Some(123));
        assert_eq!(staging_pid(".a.partial-b.partial-7"), Some(7));
        for other in [
            "0a1b",
            ".0a1b.partial-",
            ".partial-1",
            ".x.old-12",
            ".x.partial-1a",
        ] {
            assert_eq!(staging_pid(other), None, "{other}");
        }
        assert_ne!(alive(std::process::id()), Some(false));
    }
}
