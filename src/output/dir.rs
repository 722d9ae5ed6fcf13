//! Output directories that never lose a user's files. Files are written into a hidden
//! staging directory and put in place only when all of them are complete, so a failed or
//! killed run never leaves a half-written output. Every output directory records what
//! capsim wrote in it ([`MANIFEST`]); a later run replaces exactly those files and never
//! deletes or overwrites anything else:
//! - a new directory, or one holding only capsim's previous outputs, is swapped in whole
//!   (the old outputs are replaced as a set, by one rename);
//! - a directory holding other files is refused before anything runs, naming them, unless
//!   [`Existing::WriteBeside`] (`--force`): then the new files are renamed in one by one
//!   beside the user's files, and only capsim's previous outputs that the new set lacks
//!   are removed. The current directory (`-o .`), which cannot be renamed, is always
//!   written this way.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::atomic::{sibling, write_file};

/// The file in every output directory listing, one relative path per line, the files
/// capsim wrote there: the only ones a later run may replace or remove.
pub const MANIFEST: &str = ".capsim-outputs";

/// Files named in a refusal at most (the count of the rest is given).
const NAMED_AT_MOST: usize = 8;

/// Entries looked at, at most, when checking a directory for files capsim did not write
/// (so `-o ~` is refused quickly rather than after walking the whole tree).
const WALK_AT_MOST: usize = 100_000;

/// What to do with an output directory that holds files capsim did not write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// Refuse, naming them (the default).
    #[default]
    Refuse,
    /// Write beside them (`--force`); they are still never deleted.
    WriteBeside,
}

impl Existing {
    /// `--force` given or not.
    pub fn from_force(force: bool) -> Existing {
        if force {
            Existing::WriteBeside
        } else {
            Existing::Refuse
        }
    }
}

/// How the staged files reach the target.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    /// Rename the staging directory over the target (target absent or only ours).
    Swap,
    /// Rename each file into the existing target.
    InPlace,
}

/// A staging directory whose files become `target`'s on [`Staging::commit`]; it is
/// removed if dropped uncommitted.
pub struct Staging {
    target: PathBuf,
    staging: PathBuf,
    mode: Mode,
    committed: bool,
}

/// The check [`Staging::open`] makes, without creating anything: run it before a long
/// computation so a refusal comes before the work, not after it.
pub fn preflight(target: &Path, existing: Existing) -> io::Result<()> {
    inspect(target, existing).map(|_| ())
}

/// What is at `target`: `None` if nothing, else whether it holds only capsim's outputs.
/// A non-directory, or a directory with files capsim did not write under
/// [`Existing::Refuse`], is an error naming them.
fn inspect(target: &Path, existing: Existing) -> io::Result<Option<bool>> {
    match fs::symlink_metadata(target) {
        Err(_) => Ok(None),
        Ok(m) if !m.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory: give a directory path for the outputs",
        )),
        Ok(_) => {
            let foreign = foreign_files(target)?;
            if !foreign.is_empty() && existing == Existing::Refuse {
                return Err(refusal(&foreign));
            }
            Ok(Some(foreign.is_empty()))
        }
    }
}

impl Staging {
    /// Stages outputs for `target`, refusing a directory that holds files capsim did not
    /// write (see [`Staging::open`]).
    pub fn new(target: &Path) -> io::Result<Self> {
        Staging::open(target, Existing::Refuse)
    }

    /// Stages outputs for `target` (parents are created as needed). The check for files
    /// capsim did not write is made here, before the caller spends time computing. What
    /// a killed run writing `target` left (`.NAME.partial-PID` beside it,
    /// `.capsim-staging-PID` inside it, of dead processes) is removed first.
    pub fn open(target: &Path, existing: Existing) -> io::Result<Self> {
        remove_orphans_beside(target)?;
        Staging::open_among(target, existing)
    }

    /// [`Staging::open`] for one of many siblings whose writer removes their orphans
    /// once itself (a sweep's `runs/`, see [`remove_orphaned_staging`]): listing the
    /// parent for each would cost time quadratic in the number of siblings.
    pub fn open_among(target: &Path, existing: Existing) -> io::Result<Self> {
        remove_orphans_inside(target)?;
        if let Some(parent) = target.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)?;
            }
        }
        let mode = match inspect(target, existing)? {
            Some(only_ours) if !only_ours || holds_cwd(target) => Mode::InPlace,
            _ => Mode::Swap,
        };
        let staging = match mode {
            Mode::Swap => sibling(target, "partial"),
            Mode::InPlace => target.join(format!(".capsim-staging-{}", std::process::id())),
        };
        if staging.exists() {
            // Ours: the name carries this process's id, so it is a leftover of this run.
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir(&staging)?;
        Ok(Staging {
            target: target.to_path_buf(),
            staging,
            mode,
            committed: false,
        })
    }

    /// The directory the outputs are for.
    pub fn target(&self) -> &Path {
        &self.target
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

    /// Puts the staged files in place and records them in [`MANIFEST`]; returns the
    /// target.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let mut names = Vec::new();
        walk(&self.staging, Path::new(""), false, &mut names)?;
        let manifest = manifest_text(&names);
        match self.mode {
            Mode::Swap => self.swap(&manifest)?,
            Mode::InPlace => self.in_place(&names, &manifest)?,
        }
        self.committed = true;
        Ok(self.target.clone())
    }

    fn swap(&self, manifest: &str) -> io::Result<()> {
        self.write(MANIFEST, manifest.as_bytes())?;
        let had_old = fs::symlink_metadata(&self.target).is_ok();
        if !had_old {
            return fs::rename(&self.staging, &self.target);
        }
        // Checked again: files may have appeared since `open`.
        let foreign = foreign_files(&self.target)?;
        if !foreign.is_empty() {
            return Err(refusal(&foreign));
        }
        let old = sibling(&self.target, "old");
        fs::rename(&self.target, &old)?;
        if let Err(e) = fs::rename(&self.staging, &self.target) {
            let _ = fs::rename(&old, &self.target);
            return Err(e);
        }
        remove_ours(&old);
        Ok(())
    }

    fn in_place(&self, names: &[PathBuf], manifest: &str) -> io::Result<()> {
        let previous = recorded(&self.target);
        for n in names {
            let to = self.target.join(n);
            if let Some(p) = to.parent() {
                fs::create_dir_all(p)?;
            }
            fs::rename(self.staging.join(n), &to)?;
        }
        let new: BTreeSet<&PathBuf> = names.iter().collect();
        for old in previous.iter().filter(|p| !new.contains(p)) {
            let _ = fs::remove_file(self.target.join(old));
            remove_empty_parents(&self.target, old);
        }
        write_file(&self.target.join(MANIFEST), manifest.as_bytes())?;
        let _ = fs::remove_dir_all(&self.staging);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// The manifest: a comment, then one relative path per line.
fn manifest_text(names: &[PathBuf]) -> String {
    let mut s =
        String::from("# files capsim wrote here; a later run replaces or removes only these\n");
    for n in names {
        s.push_str(&n.to_string_lossy());
        s.push('\n');
    }
    s
}

/// The files `dir`'s manifest records, ignoring any entry that is not a plain relative
/// path inside it (a hand-edited manifest cannot make capsim delete elsewhere).
fn recorded(dir: &Path) -> BTreeSet<PathBuf> {
    let Ok(text) = fs::read_to_string(dir.join(MANIFEST)) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PathBuf::from)
        .filter(|p| p.components().all(|c| matches!(c, Component::Normal(_))))
        .collect()
}

/// Files under `dir` (relative paths, sorted) that its manifest does not record. Symbolic
/// links count as files (never followed); capsim's own staging directories are skipped.
fn foreign_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let ours = recorded(dir);
    let mut all = Vec::new();
    walk(dir, Path::new(""), true, &mut all)?;
    Ok(all
        .into_iter()
        .filter(|p| p.as_os_str() != MANIFEST && !ours.contains(p))
        .collect())
}

/// Appends every non-directory under `root/rel` to `out` as a path relative to `root`,
/// sorted (and, with `empty_dirs`, every empty directory: a user's too); skips capsim's
/// staging directories; stops after [`WALK_AT_MOST`] entries.
fn walk(root: &Path, rel: &Path, empty_dirs: bool, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    if empty_dirs && entries.is_empty() && !rel.as_os_str().is_empty() {
        out.push(rel.to_path_buf());
    }
    for e in entries {
        if out.len() >= WALK_AT_MOST {
            break;
        }
        let name = e.file_name();
        if name.to_string_lossy().starts_with(".capsim-staging-") {
            continue;
        }
        let path = rel.join(&name);
        if e.file_type()?.is_dir() {
            walk(root, &path, empty_dirs, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The error naming the files capsim did not write.
fn refusal(foreign: &[PathBuf]) -> io::Error {
    let mut named: Vec<String> = foreign
        .iter()
        .take(NAMED_AT_MOST)
        .map(|p| p.display().to_string())
        .collect();
    if foreign.len() >= WALK_AT_MOST {
        named.push("and more".into());
    } else if foreign.len() > NAMED_AT_MOST {
        named.push(format!("and {} more", foreign.len() - NAMED_AT_MOST));
    }
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "holds files capsim did not write ({}); capsim never deletes or overwrites them: \
             choose another output directory, or pass --force to write beside them",
            named.join(", ")
        ),
    )
}

/// True when `dir` is the current directory or one of its ancestors (renaming it would
/// move the user's shell out from under them).
fn holds_cwd(dir: &Path) -> bool {
    match (fs::canonicalize(dir), std::env::current_dir()) {
        (Ok(d), Ok(cwd)) => cwd.starts_with(d),
        _ => true,
    }
}

/// Removes a replaced output directory: only the files its manifest records, then the
/// directories they leave empty. Anything else found there is left in place (and said).
fn remove_ours(old: &Path) {
    for p in recorded(old) {
        let _ = fs::remove_file(old.join(&p));
        remove_empty_parents(old, &p);
    }
    let _ = fs::remove_file(old.join(MANIFEST));
    if fs::remove_dir(old).is_err() {
        eprintln!(
            "warning: {} kept: it holds files capsim did not write",
            old.display()
        );
    }
}

/// Removes the directories between `root` and `rel`'s file that are now empty.
fn remove_empty_parents(root: &Path, rel: &Path) {
    let mut p = rel.parent();
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
        if fs::remove_dir(root.join(d)).is_err() {
            break;
        }
        p = d.parent();
    }
}

/// The process id in a staging directory's name (`.NAME.partial-PID`, as
/// [`Staging::open`] names it), or `None` for any other name.
fn staging_pid(name: &str) -> Option<u32> {
    staging_of(name).map(|(_, pid)| pid)
}

/// `(NAME, PID)` of a staging directory named `.NAME.partial-PID`.
fn staging_of(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix('.')?;
    let (target, pid) = rest.rsplit_once(".partial-")?;
    if target.is_empty() {
        return None;
    }
    Some((target, digits(pid)?))
}

/// The process id of an in-place staging directory (`.capsim-staging-PID`).
fn in_place_pid(name: &str) -> Option<u32> {
    digits(name.strip_prefix(".capsim-staging-")?)
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether a staging directory of process `pid` is an orphan: its process is dead, or
/// is this one (which has none in flight for this target yet, so it is a dead process's
/// whose PID was reused). Unknown without `/proc`: kept.
fn orphaned(pid: u32) -> bool {
    pid == std::process::id() || alive(pid) == Some(false)
}

/// Removes the directories in `dir` that `pick` names (giving their PID) and whose
/// process is dead; how many.
fn remove_dead(dir: &Path, pick: &dyn Fn(&str) -> Option<u32>) -> io::Result<usize> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if e.file_type().is_ok_and(|t| t.is_dir()) && pick(&n).is_some_and(orphaned) {
            fs::remove_dir_all(e.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes the `.NAME.partial-PID` siblings of `target` (NAME its name) that dead
/// processes left (names only capsim makes).
fn remove_orphans_beside(target: &Path) -> io::Result<usize> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(0);
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    remove_dead(parent, &|n| {
        staging_of(n).and_then(|(t, pid)| (t == name).then_some(pid))
    })
}

/// Removes the `.capsim-staging-PID` directories inside `target` that dead processes left.
fn remove_orphans_inside(target: &Path) -> io::Result<usize> {
    remove_dead(target, &in_place_pid)
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
        if !entry
            .file_type()
            .map_err(|e| ctx(&entry.path(), e))?
            .is_dir()
            || !orphaned(pid)
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

    fn base(tag: &str) -> PathBuf {
        let b = std::env::temp_dir().join(format!("capsim-dir-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&b);
        fs::create_dir_all(&b).unwrap();
        b
    }

    #[test]
    fn commit_replaces_and_drop_cleans_up() {
        let base = base("replace");
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
        // A second run replaces capsim's own files as a set: b.txt is new, a.txt gone.
        let s = Staging::new(&target).unwrap();
        s.write("b.txt", b"three").unwrap();
        s.commit().unwrap();
        assert!(!target.join("a.txt").exists());
        assert_eq!(fs::read(target.join("b.txt")).unwrap(), b"three");
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1, "no old copy left");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn files_capsim_did_not_write_are_refused_or_kept() {
        let base = base("foreign");
        let target = base.join("d");
        fs::create_dir_all(target.join("sub")).unwrap();
        fs::write(target.join("keep.txt"), b"x").unwrap();
        fs::write(target.join("sub/notes"), b"y").unwrap();
        let e = Staging::new(&target).err().unwrap().to_string();
        assert!(e.contains("keep.txt") && e.contains("sub/notes"), "{e}");
        assert!(e.contains("--force"), "{e}");
        // --force writes beside them; a second forced run replaces only its own files.
        for (name, body) in [("a.txt", "1"), ("b.txt", "2")] {
            let s = Staging::open(&target, Existing::WriteBeside).unwrap();
            s.write(name, body.as_bytes()).unwrap();
            s.commit().unwrap();
        }
        assert_eq!(fs::read(target.join("keep.txt")).unwrap(), b"x");
        assert_eq!(fs::read(target.join("sub/notes")).unwrap(), b"y");
        assert!(
            !target.join("a.txt").exists(),
            "the first run's output, replaced"
        );
        assert_eq!(fs::read(target.join("b.txt")).unwrap(), b"2");
        let leftovers: Vec<_> = fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".capsim-staging"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_manifest_cannot_point_outside_its_directory() {
        let base = base("escape");
        fs::write(base.join("precious"), b"p").unwrap();
        let target = base.join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join(MANIFEST), "../precious\n/etc/passwd\n").unwrap();
        let s = Staging::new(&target).unwrap();
        s.write("a.txt", b"1").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read(base.join("precious")).unwrap(), b"p");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_killed_runs_staging_is_removed_when_its_target_is_written_again() {
        let base = base("orphans");
        let target = base.join("d");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep.txt"), b"x").unwrap();
        // No process has PID 4,000,000,001 (Linux's pid_max is at most 2^22); PID 1 is
        // alive. Beside `d`: a dead run's swap staging, a live one's, another target's.
        let dead = 4_000_000_001u32;
        let beside = [
            format!(".d.partial-{dead}"),
            ".d.partial-1".to_string(),
            format!(".e.partial-{dead}"),
        ];
        let inside = [
            format!(".capsim-staging-{dead}"),
            ".capsim-staging-1".into(),
        ];
        for n in &beside {
            fs::create_dir(base.join(n)).unwrap();
        }
        for n in &inside {
            fs::create_dir(target.join(n)).unwrap();
        }
        let s = Staging::open(&target, Existing::WriteBeside).unwrap();
        s.write("a.txt", b"1").unwrap();
        s.commit().unwrap();
        assert!(!base.join(&beside[0]).exists(), "the dead run's, beside");
        assert!(!target.join(&inside[0]).exists(), "the dead run's, inside");
        assert!(base.join(&beside[1]).exists(), "a live process's");
        assert!(base.join(&beside[2]).exists(), "another target's");
        assert!(target.join(&inside[1]).exists(), "a live process's");
        assert_eq!(fs::read(target.join("keep.txt")).unwrap(), b"x");
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
