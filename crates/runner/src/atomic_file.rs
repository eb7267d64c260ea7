//! Writing a file so that a crash leaves either the old file or the whole
//! new one under its name, never a part.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes written between two calls of the progress callback.
const PIECE: usize = 64 * 1024;

/// Writes `bytes` to `path` atomically and durably: into a temporary file
/// beside it (`.<name>.tmp`), flushed to disk, renamed into place, and the
/// folder synced so the rename itself survives a power cut.
/// `on_progress(written, total)` is called after each piece reaches the
/// temporary file (before the sync and the rename).
///
/// A symbolic link is followed: the file it points to is replaced and the
/// link kept. A target that exists but is not a regular file (a device such
/// as `/dev/null`, a pipe) cannot be replaced by a rename without
/// destroying it, so it is written in place.
///
/// # Errors
/// The I/O error with the path it concerns (the temporary file, the target
/// or the folder). The temporary file may remain after an error; it never
/// has the target's name.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<(), (PathBuf, std::io::Error)> {
    write_atomic_with(path, bytes.len() as u64, &mut |w| w.write_all(bytes), on_progress)
}

/// [`write_atomic`] of a file that `fill` writes, `total` bytes in all,
/// through a buffer of a fixed size: a file of any size is streamed, never
/// held in memory whole.
///
/// # Errors
/// As [`write_atomic`], and `fill`'s error with the temporary file's path.
pub fn write_atomic_with(
    path: &Path,
    total: u64,
    fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<(), (PathBuf, std::io::Error)> {
    let resolved;
    let path = match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let written = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| write_through(f, total, fill, on_progress).map(drop));
            return written.map_err(|e| (path.to_path_buf(), e));
        }
        Ok(_) if path.is_symlink() => {
            resolved = std::fs::canonicalize(path).map_err(|e| (path.to_path_buf(), e))?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp"));
    let written =
        File::create(&tmp).and_then(|f| write_through(f, total, fill, on_progress)).and_then(|f| f.sync_all());
    written.map_err(|e| (tmp.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| (path.to_path_buf(), e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| (dir.to_path_buf(), e))
}

/// Runs `fill` on `file` through a [`Pieces`] writer; returns the file,
/// flushed.
fn write_through(
    file: File,
    total: u64,
    fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    on_progress: &mut dyn FnMut(u64, u64),
) -> std::io::Result<File> {
    let mut out = Pieces { file, piece: Vec::with_capacity(PIECE), done: 0, total, on_progress };
    fill(&mut out)?;
    out.flush()?;
    Ok(out.file)
}

/// A writer that gathers bytes into pieces of [`PIECE`], writes each whole
/// and reports it: the one buffer of a streamed write.
struct Pieces<'a> {
    file: File,
    piece: Vec<u8>,
    done: u64,
    total: u64,
    on_progress: &'a mut dyn FnMut(u64, u64),
}

impl Pieces<'_> {
    fn write_piece(&mut self) -> std::io::Result<()> {
        if !self.piece.is_empty() {
            self.file.write_all(&self.piece)?;
            self.done += self.piece.len() as u64;
            self.piece.clear();
            (self.on_progress)(self.done, self.total);
        }
        Ok(())
    }
}

impl Write for Pieces<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(PIECE - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == PIECE {
            self.write_piece()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_piece()?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("dqn-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.json");
        std::fs::write(&path, b"old").unwrap();
        let big = vec![7u8; 3 * PIECE + 5];
        let mut calls = Vec::new();
        write_atomic(&path, &big, &mut |done, total| calls.push((done, total))).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), big);
        let total = big.len() as u64;
        assert_eq!(
            calls,
            vec![(PIECE as u64, total), (2 * PIECE as u64, total), (3 * PIECE as u64, total), (total, total)]
        );
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["data.json".to_string()]);
        // A folder that does not exist: the error names the temporary file.
        let (where_, _) = write_atomic(&dir.join("missing/x.json"), b"x", &mut |_, _| {}).unwrap_err();
        assert!(where_.ends_with("missing/.x.json.tmp"), "{}", where_.display());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_and_devices_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir = std::env::temp_dir().join(format!("dqn-atomic-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (target, link) = (dir.join("target.json"), dir.join("link.json"));
        std::fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new", &mut |_, _| {}).unwrap();
        assert!(link.is_symlink(), "the link stays a link");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
        // A device is never renamed over (as root that would replace it).
        let null = Path::new("/dev/null");
        if null.exists() {
            write_atomic(null, b"discarded", &mut |_, _| {}).unwrap();
            assert!(std::fs::metadata(null).unwrap().file_type().is_char_device());
        }
        let full = Path::new("/dev/full");
        if full.exists() {
            let (at, e) = write_atomic(full, b"x", &mut |_, _| {}).unwrap_err();
            assert_eq!((at.as_path(), e.kind()), (full, std::io::ErrorKind::StorageFull));
            assert!(std::fs::metadata(full).unwrap().file_type().is_char_device());
        }
    }
}
