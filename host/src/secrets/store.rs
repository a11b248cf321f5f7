//! Reading secret values from the sources the operator configured: the
//! environment (`PREFIX` + NAME) and a directory of files (DIR/NAME, the way
//! Kubernetes mounts a Secret). Whether a plugin may have a value is decided
//! elsewhere; this only knows where values live.

use std::fmt;
use std::path::PathBuf;

use crate::config::SecretSources;

/// A secret's value. Its `Debug` never shows the value, so it cannot leak
/// into logs or errors by accident; the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> Self {
        SecretValue(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8, so the String stays valid.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

/// The operator's secret sources.
#[derive(Debug, Clone, Default)]
pub struct SecretStore {
    env_prefix: String,
    dir: Option<PathBuf>,
}

/// A secret name that could be used to escape the sources (path separators,
/// `..`, empty) is never looked up.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl SecretStore {
    pub fn new(sources: &SecretSources) -> Self {
        SecretStore {
            env_prefix: sources.env_prefix.clone(),
            dir: sources.dir.clone(),
        }
    }

    /// The value of `name`: the environment first, then the directory. A
    /// file's trailing newline is dropped (`kubectl create secret` files
    /// often have one).
    pub fn read(&self, name: &str) -> Option<SecretValue> {
        if !is_valid_name(name) {
            return None;
        }
        if !self.env_prefix.is_empty()
            && let Ok(value) = std::env::var(format!("{}{name}", self.env_prefix))
        {
            return Some(SecretValue::new(value));
        }
        let dir = self.dir.as_ref()?;
        let mut value = std::fs::read_to_string(dir.join(name)).ok()?;
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
        Some(SecretValue::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_are_invalid() {
        for (name, valid) in [
            ("openai_api_key", true),
            ("db-token.v2", true),
            ("", false),
            ("..", false),
            ("../etc/passwd", false),
            ("a/b", false),
            ("a b", false),
            ("/abs", false),
        ] {
            assert_eq!(is_valid_name(name), valid, "{name:?}");
        }
    }

    #[test]
    fn reads_files_then_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cr3t\n").unwrap();
        let store = SecretStore::new(&SecretSources {
            env_prefix: "_HANGAR_TEST_NO_SUCH_PREFIX_".into(),
            dir: Some(dir.path().to_path_buf()),
        });
        assert_eq!(store.read("token").unwrap().expose(), "s3cr3t");
        assert!(store.read("missing").is_none());
        assert!(store.read("../token").is_none());
        assert_eq!(
            format!("{:?}", store.read("token").unwrap()),
            "SecretValue(<redacted>)"
        );
    }

    /// Kubernetes mounts a Secret as DIR/NAME -> ..data/NAME, with
    /// ..data -> ..TIMESTAMP/ swapped atomically on update.
    #[cfg(unix)]
    #[test]
    fn reads_kubernetes_style_symlinked_mounts() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let version = dir.path().join("..2024_01_01_00_00_00.000000001");
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("token"), "v1").unwrap();
        symlink("..2024_01_01_00_00_00.000000001", dir.path().join("..data")).unwrap();
        symlink("..data/token", dir.path().join("token")).unwrap();
        let store = SecretStore::new(&SecretSources {
            env_prefix: String::new(),
            dir: Some(dir.path().to_path_buf()),
        });
        assert_eq!(store.read("token").unwrap().expose(), "v1");
        // An update: a new version directory, then ..data is swapped.
        let next = dir.path().join("..2024_01_02_00_00_00.000000002");
        std::fs::create_dir(&next).unwrap();
        std::fs::write(next.join("token"), "v2\n").unwrap();
        symlink(
            "..2024_01_02_00_00_00.000000002",
            dir.path().join("..data_tmp"),
        )
        .unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
        assert_eq!(store.read("token").unwrap().expose(), "v2");
        // The bookkeeping entries are directories, never values.
        assert!(store.read("..data").is_none());
    }

    #[test]
    fn the_environment_wins_over_files() {
        // Prefix "PA" + name "TH" reads $PATH: no need to change the
        // environment of a multi-threaded test process.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("TH"), "from-file").unwrap();
        let store = SecretStore::new(&SecretSources {
            env_prefix: "PA".into(),
            dir: Some(dir.path().to_path_buf()),
        });
        let expected = std::env::var("PATH").unwrap_or_else(|_| "from-file".into());
        assert_eq!(store.read("TH").unwrap().expose(), expected);
        let no_env = SecretStore::new(&SecretSources {
            env_prefix: String::new(),
            dir: Some(dir.path().to_path_buf()),
        });
        assert_eq!(no_env.read("TH").unwrap().expose(), "from-file");
    }
}
