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
    let resolved;
    let path = match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return write_in_place(path, bytes, on_progress),
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
    let written = File::create(&tmp).and_then(|mut f| {
        write_pieces(&mut f, bytes, on_progress)?;
        f.sync_all()
    });
    written.map_err(|e| (tmp.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| (path.to_path_buf(), e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| (dir.to_path_buf(), e))
}

fn write_in_place(
    path: &Path,
    bytes: &[u8],
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<(), (PathBuf, std::io::Error)> {
    let written = std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| {
        write_pieces(&mut f, bytes, on_progress)?;
        f.flush()
    });
    written.map_err(|e| (path.to_path_buf(), e))
}

/// Writes `bytes` in pieces of [`PIECE`], reporting after each.
fn write_pieces(f: &mut File, bytes: &[u8], on_progress: &mut dyn FnMut(u64, u64)) -> std::io::Result<()> {
    let total = bytes.len() as u64;
    let mut done = 0u64;
    for piece in bytes.chunks(PIECE) {
        f.write_all(piece)?;
        done += piece.len() as u64;
        on_progress(done, total);
    }
    Ok(())
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
