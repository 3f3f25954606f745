//! Opening files that come from outside (recordings, bundle files, board configurations) so that
//! what they are is known before a byte is read: a FIFO would block forever, `/dev/zero` never
//! ends, a directory is not a file, and a symbolic link inside a bundle could point anywhere.
//!
//! Files are opened non-blocking (a FIFO's open returns at once instead of waiting for a
//! writer) and, where links are refused, with `O_NOFOLLOW`, so the kind checked is the kind of
//! the very file that is then read.

use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What to do when the path itself is a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Open what it points to (a user's recording may well be a link).
    Follow,
    /// Refuse it (files of a bundle, whose hashes vouch for the bundle's own bytes only).
    Refuse,
}

/// Why a file was not opened, worded to follow the file's name ("x.wav: a FIFO …").
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}, not a regular file")]
    Special(&'static str),
    #[error("a symbolic link{}, not a regular file", .0.as_ref().map(|t| format!(" (to {})", t.display())).unwrap_or_default())]
    Symlink(Option<PathBuf>),
    #[error("{size} bytes, more than the {limit} bytes allowed here")]
    TooLarge { size: u64, limit: u64 },
}

impl From<std::io::Error> for OpenError {
    fn from(e: std::io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// "a FIFO (named pipe)", "a character device", …: what a file that is not regular is.
pub fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if it is a regular file; returns it with its length.
pub fn open_regular(path: &Path, links: Links) -> Result<(File, u64), OpenError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if links == Links::Refuse {
            libc::O_NOFOLLOW
        } else {
            0
        };
        options.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    #[cfg(not(unix))]
    if links == Links::Refuse {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_symlink() {
                return Err(OpenError::Symlink(std::fs::read_link(path).ok()));
            }
        }
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) => {
            // O_NOFOLLOW on a link fails with ELOOP, a socket with ENXIO: say what is there.
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                let kind = meta.file_type();
                if kind.is_symlink() && links == Links::Refuse {
                    return Err(OpenError::Symlink(std::fs::read_link(path).ok()));
                }
                if !kind.is_file() && !kind.is_symlink() {
                    return Err(OpenError::Special(describe(kind)));
                }
            }
            return Err(OpenError::Io(e));
        }
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(OpenError::Special(describe(meta.file_type())));
    }
    Ok((file, meta.len()))
}

/// The whole of a regular file of at most `limit` bytes (checked before reading, and again
/// while reading, in case it grows).
pub fn read_bounded(path: &Path, links: Links, limit: u64) -> Result<Vec<u8>, OpenError> {
    let (file, size) = open_regular(path, links)?;
    if size > limit {
        return Err(OpenError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(OpenError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_named_by_kind() {
        let refused = |p: &str| open_regular(Path::new(p), Links::Follow).unwrap_err();
        assert_eq!(
            refused("/dev/zero").to_string(),
            "a character device, not a regular file"
        );
        assert_eq!(refused("/").to_string(), "a directory, not a regular file");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Returns at once (non-blocking open) instead of waiting for a writer.
        assert_eq!(
            open_regular(&fifo, Links::Follow).unwrap_err().to_string(),
            "a FIFO (named pipe), not a regular file"
        );
    }

    #[test]
    fn links_are_followed_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, b"hello").unwrap();
        let link = dir.path().join("b.txt");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(open_regular(&link, Links::Follow).unwrap().1, 5);
        let e = open_regular(&link, Links::Refuse).unwrap_err().to_string();
        assert!(e.starts_with("a symbolic link (to "), "{e}");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(
            open_regular(&zero, Links::Follow).unwrap_err().to_string(),
            "a character device, not a regular file"
        );
        assert_eq!(
            read_bounded(&file, Links::Refuse, 4)
                .unwrap_err()
                .to_string(),
            "5 bytes, more than the 4 bytes allowed here"
        );
        assert_eq!(read_bounded(&file, Links::Refuse, 5).unwrap(), b"hello");
    }
}
