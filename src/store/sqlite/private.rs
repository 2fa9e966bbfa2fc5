//! The embedded database's files are readable by their owner only
//! (SPEC revision 3 §5): they hold the private signing keys, the password
//! hashes and the refresh HMAC secret, wherever `database_url` puts them.
//!
//! SQLite creates its `-wal` and `-shm` files with the mode of the
//! database file, so creating the database `0600` before SQLite opens it
//! covers all three whatever the umask. A store made by an older release,
//! or copied in with looser modes, is tightened at start with a warning.

use std::io;
use std::path::{Path, PathBuf};

/// What SQLite keeps beside the database file.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Mode bits other than the owner's.
#[cfg(unix)]
const NOT_OWNER: u32 = 0o077;

/// Creates `db` `0600` if it does not exist, and tightens it and its side
/// files to `0600` if they are readable by anyone else. Returns the files
/// it tightened.
pub fn prepare(db: &Path) -> io::Result<Vec<PathBuf>> {
    let mut tightened = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // `create_new` applied the umask on top of 0600: fine, it can only
        // take bits away. Existing files are checked one by one.
        let files = std::iter::once(db.to_path_buf()).chain(SIDE_FILES.iter().map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        }));
        for f in files {
            let mode = match std::fs::metadata(&f) {
                Ok(m) => m.permissions().mode(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if mode & NOT_OWNER != 0 {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))?;
                tightened.push(f);
            }
        }
    }
    Ok(tightened)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn new_databases_are_private_and_loose_ones_tightened() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let db = dir.path().join("j.db");
        assert!(prepare(&db).expect("prepared").is_empty());
        assert_eq!(mode(&db), 0o600);
        let wal = dir.path().join("j.db-wal");
        std::fs::write(&wal, b"").expect("written");
        for f in [&db, &wal] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let tightened = prepare(&db).expect("prepared");
        assert_eq!(tightened, vec![db.clone(), wal.clone()]);
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
    }
}
