//! Noticing that a file on disk changed, whatever way it was replaced: an
//! in-place write, a rename over it (atomic replace), or a Kubernetes
//! ConfigMap update (a symlink swap of the directory the path goes through).
//!
//! [`FileWatch`] is polled: each check reads the file through its path and
//! compares a SHA-256 of the content with the last one handed out, so no
//! change is missed whatever the file system reports about timestamps or
//! inodes. A change is handed out only once the content is the same on two
//! consecutive checks (the second [`DEBOUNCE`] after the first), so a writer
//! still in the middle of a non-atomic write is not read half-way. Content
//! that was handed out and then rejected by the caller is not handed out
//! again until it changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Wait between seeing new content and confirming it is complete.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Largest file a watch reads (larger files are reported as unreadable).
pub const MAX_WATCHED_BYTES: u64 = 64 * 1024 * 1024;

/// What one check found.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// Same content as last handed out (or a failure already reported).
    Unchanged,
    /// New content seen once: check again after [`DEBOUNCE`].
    Settling,
    /// New content, identical on two consecutive checks: apply it.
    Changed(Vec<u8>),
    /// The file cannot be read now (reported once until it can be again).
    Unreadable(String),
}

/// A polled watch on one file's content.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    current: [u8; 32],
    pending: Option<[u8; 32]>,
    failing: bool,
}

impl FileWatch {
    /// Watches `path`, whose content is `initial` now (already applied).
    pub fn new(path: impl Into<PathBuf>, initial: &[u8]) -> Self {
        Self {
            path: path.into(),
            current: Sha256::digest(initial).into(),
            pending: None,
            failing: false,
        }
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file and reports whether it changed.
    pub async fn check(&mut self) -> WatchEvent {
        let read = read_bounded(&self.path).await;
        self.observe(read)
    }

    /// Decides on one read of the file (the pure half of [`FileWatch::check`]).
    pub fn observe(&mut self, read: Result<Vec<u8>, String>) -> WatchEvent {
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(reason) => {
                self.pending = None;
                if self.failing {
                    return WatchEvent::Unchanged;
                }
                self.failing = true;
                return WatchEvent::Unreadable(reason);
            }
        };
        self.failing = false;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if digest == self.current {
            self.pending = None;
            return WatchEvent::Unchanged;
        }
        if self.pending == Some(digest) {
            self.pending = None;
            self.current = digest;
            return WatchEvent::Changed(bytes);
        }
        self.pending = Some(digest);
        WatchEvent::Settling
    }
}

/// Reads a whole file of at most [`MAX_WATCHED_BYTES`].
async fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let too_large = || format!("it is larger than {MAX_WATCHED_BYTES} bytes");
    let metadata = tokio::fs::metadata(path).await.map_err(|e| e.to_string())?;
    if metadata.len() > MAX_WATCHED_BYTES {
        return Err(too_large());
    }
    let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_WATCHED_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_handed_out_once_it_is_stable() {
        let mut watch = FileWatch::new("f", b"one");
        assert_eq!(watch.observe(Ok(b"one".to_vec())), WatchEvent::Unchanged);
        assert_eq!(watch.observe(Ok(b"tw".to_vec())), WatchEvent::Settling);
        // Still being written: a different content restarts the wait.
        assert_eq!(watch.observe(Ok(b"two".to_vec())), WatchEvent::Settling);
        assert_eq!(
            watch.observe(Ok(b"two".to_vec())),
            WatchEvent::Changed(b"two".to_vec())
        );
        // Handed out (applied or rejected by the caller): not again.
        assert_eq!(watch.observe(Ok(b"two".to_vec())), WatchEvent::Unchanged);
        // Back to the old content is a change too.
        assert_eq!(watch.observe(Ok(b"one".to_vec())), WatchEvent::Settling);
        assert_eq!(
            watch.observe(Ok(b"one".to_vec())),
            WatchEvent::Changed(b"one".to_vec())
        );
    }

    #[test]
    fn unreadable_is_reported_once_until_readable_again() {
        let mut watch = FileWatch::new("f", b"one");
        assert_eq!(
            watch.observe(Err("gone".into())),
            WatchEvent::Unreadable("gone".into())
        );
        assert_eq!(watch.observe(Err("gone".into())), WatchEvent::Unchanged);
        // Reappears with the same content: nothing to do.
        assert_eq!(watch.observe(Ok(b"one".to_vec())), WatchEvent::Unchanged);
        assert_eq!(
            watch.observe(Err("gone".into())),
            WatchEvent::Unreadable("gone".into())
        );
        // A failure between two reads of new content restarts the wait.
        assert_eq!(watch.observe(Ok(b"two".to_vec())), WatchEvent::Settling);
        assert_eq!(
            watch.observe(Err("gone".into())),
            WatchEvent::Unreadable("gone".into())
        );
        assert_eq!(watch.observe(Ok(b"two".to_vec())), WatchEvent::Settling);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tollgate-watch-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    async fn settle(watch: &mut FileWatch) -> WatchEvent {
        match watch.check().await {
            WatchEvent::Settling => watch.check().await,
            other => other,
        }
    }

    #[tokio::test]
    async fn sees_in_place_writes_renames_over_and_symlink_swaps() {
        let dir = temp_dir("kinds");
        let file = dir.join("file");
        std::fs::write(&file, "one").unwrap();
        let mut watch = FileWatch::new(&file, b"one");
        assert_eq!(watch.check().await, WatchEvent::Unchanged);

        // In place, same length (a timestamp check could miss it).
        std::fs::write(&file, "two").unwrap();
        assert_eq!(
            settle(&mut watch).await,
            WatchEvent::Changed(b"two".to_vec())
        );

        // Atomic replace: write a temporary file, rename it over.
        std::fs::write(dir.join("file.tmp"), "three").unwrap();
        std::fs::rename(dir.join("file.tmp"), &file).unwrap();
        assert_eq!(
            settle(&mut watch).await,
            WatchEvent::Changed(b"three".to_vec())
        );

        // Kubernetes ConfigMap layout: path -> ..data/file, ..data -> ..v1,
        // updated by pointing a new ..data at ..v2 (rename over the symlink).
        let mounted = dir.join("mounted");
        std::fs::create_dir_all(dir.join("..v1")).unwrap();
        std::fs::write(dir.join("..v1/mounted"), "v1").unwrap();
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/mounted", &mounted).unwrap();
        let mut watch = FileWatch::new(&mounted, b"v1");
        std::fs::create_dir_all(dir.join("..v2")).unwrap();
        std::fs::write(dir.join("..v2/mounted"), "v2").unwrap();
        std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert_eq!(
            settle(&mut watch).await,
            WatchEvent::Changed(b"v2".to_vec())
        );

        std::fs::remove_file(&mounted).unwrap();
        assert!(matches!(watch.check().await, WatchEvent::Unreadable(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
