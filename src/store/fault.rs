//! Storage faults: SQLite's and the file system's failures named, with the database's path, so
//! that the log, the start-up error and `/_iamlite/health` say what happened and where.

use std::path::Path;

/// A named storage failure. The transient ones (`DiskFull`, `ReadOnly`, `Io`, `Busy`) stop
/// writes until the condition goes away; reads keep being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SQLITE_FULL, or the file system has no space left.
    DiskFull,
    /// SQLITE_READONLY, or the file system is mounted read-only.
    ReadOnly,
    /// SQLITE_NOTADB: the file is something else.
    NotADatabase,
    /// SQLITE_CORRUPT: the file is an SQLite database whose pages do not hold together.
    Damaged,
    /// SQLITE_IOERR: the operating system refused a read or write.
    Io,
    /// SQLITE_BUSY or SQLITE_LOCKED past the busy timeout: another process holds the database.
    Busy,
}

impl Fault {
    /// The fault behind an SQLite error, if it is a storage fault rather than a bug.
    pub fn of(err: &rusqlite::Error) -> Option<Fault> {
        use rusqlite::ffi::ErrorCode as C;
        Some(match err.sqlite_error_code()? {
            C::DiskFull => Fault::DiskFull,
            C::ReadOnly => Fault::ReadOnly,
            C::NotADatabase => Fault::NotADatabase,
            C::DatabaseCorrupt => Fault::Damaged,
            C::SystemIoFailure | C::CannotOpen => Fault::Io,
            C::DatabaseBusy | C::DatabaseLocked => Fault::Busy,
            _ => return None,
        })
    }

    /// The fault as the file system explains it: an I/O error or a refusal to open on a
    /// read-only or full file system is named after that condition.
    pub fn refine(self, path: &str) -> Fault {
        match (self, space(path)) {
            (Fault::Io | Fault::ReadOnly, Some(s)) if s.read_only => Fault::ReadOnly,
            // A file system remounted read-only after an error (ext4's errors=remount-ro) need
            // not say so in statvfs, but refuses to open the file for writing.
            (Fault::Io, _) if refuses_writing(path) => Fault::ReadOnly,
            (Fault::Io, Some(s)) if s.free_bytes == 0 => Fault::DiskFull,
            (fault, _) => fault,
        }
    }

    /// Whether writes may work again without anyone touching the file (space freed, the file
    /// system remounted, the other process gone).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Fault::DiskFull | Fault::ReadOnly | Fault::Io | Fault::Busy
        )
    }

    /// Short name, as `/_iamlite/health` shows it after `read-only: `.
    pub fn label(self) -> &'static str {
        match self {
            Fault::DiskFull => "disk full",
            Fault::ReadOnly => "read-only file system",
            Fault::NotADatabase => "not a database",
            Fault::Damaged => "damaged database",
            Fault::Io => "I/O error",
            Fault::Busy => "locked by another process",
        }
    }

    /// One sentence for a person: what happened, where, and what SQLite said (`detail`).
    pub fn describe(self, path: &str, detail: &str) -> String {
        match self {
            Fault::DiskFull => {
                let free = space(path).map_or_else(
                    || "free space unknown".to_string(),
                    |s| format!("{} bytes free", s.free_bytes),
                );
                format!("disk full at {path} ({free})")
            }
            Fault::ReadOnly => format!("{path} is on a read-only file system ({detail})"),
            Fault::NotADatabase => format!("{path} is not an iamlite database ({detail})"),
            Fault::Damaged => format!(
                "{path} is damaged (integrity check: {detail}); restore it or start with --db \
                 elsewhere; nothing was changed"
            ),
            Fault::Io => format!("I/O error on {path} ({detail})"),
            Fault::Busy => format!("{path} is locked by another process ({detail})"),
        }
    }
}

/// Whether creating a file beside the database fails with EROFS. Never the database itself:
/// closing any descriptor of it would drop the POSIX locks SQLite holds on it.
pub(super) fn refuses_writing(path: &str) -> bool {
    let path = Path::new(path);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let probe = dir.join(format!(
        ".{}.write-probe-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(e) => e.kind() == std::io::ErrorKind::ReadOnlyFilesystem,
    }
}

/// What the file system holding a path says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged process may still allocate.
    pub free_bytes: u64,
    pub read_only: bool,
}

/// The file system of `path` (or of its directory when the file does not exist yet).
#[cfg(unix)]
pub fn space(path: &str) -> Option<Space> {
    let path = Path::new(path);
    let probe = if path.exists() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    let s = rustix::fs::statvfs(probe).ok()?;
    Some(Space {
        free_bytes: s.f_bavail.saturating_mul(s.f_frsize),
        read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
    })
}

#[cfg(not(unix))]
pub fn space(_path: &str) -> Option<Space> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_are_named() {
        let err = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        assert_eq!(
            Fault::of(&err(rusqlite::ffi::SQLITE_FULL)),
            Some(Fault::DiskFull)
        );
        assert_eq!(
            Fault::of(&err(rusqlite::ffi::SQLITE_NOTADB)),
            Some(Fault::NotADatabase)
        );
        assert_eq!(
            Fault::of(&err(rusqlite::ffi::SQLITE_CORRUPT)),
            Some(Fault::Damaged)
        );
        assert_eq!(
            Fault::of(&err(rusqlite::ffi::SQLITE_IOERR_WRITE)),
            Some(Fault::Io)
        );
        assert_eq!(
            Fault::of(&err(rusqlite::ffi::SQLITE_BUSY)),
            Some(Fault::Busy)
        );
        assert_eq!(Fault::of(&err(rusqlite::ffi::SQLITE_CONSTRAINT)), None);
        assert_eq!(Fault::of(&rusqlite::Error::InvalidQuery), None);
    }

    #[test]
    fn descriptions_name_the_path() {
        assert_eq!(
            Fault::NotADatabase.describe("./iamlite.db", "file is not a database"),
            "./iamlite.db is not an iamlite database (file is not a database)"
        );
        assert!(
            Fault::DiskFull
                .describe("./x.db", "")
                .starts_with("disk full at ./x.db (")
        );
        let here = space(".").unwrap();
        assert!(here.free_bytes > 0);
    }
}
