//! The data directory and the SQLite files hold the signing key, sessions and every tenant's data:
//! readable by the service's own user only, whatever the umask.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Creates the data directory if needed and makes it 0700.
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    restrict(dir, 0o700).with_context(|| format!("cannot make data dir {} private", dir.display()))
}

/// Makes a SQLite database file and its journal files 0600, for a `sqlite:` URL.
pub fn private_database(url: &str) -> Result<()> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let file = PathBuf::from(file);
        if file.exists() {
            restrict(&file, 0o600).with_context(|| format!("cannot make {} private", file.display()))?;
        }
    }
    Ok(())
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://data/pb.db?mode=rwc"), Some(PathBuf::from("data/pb.db")));
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some(PathBuf::from("/tmp/x.db")));
        assert_eq!(sqlite_path("postgres://h/db"), None);
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
