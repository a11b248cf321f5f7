//! The live plugin directory: `hangar serve` notices new, changed and
//! removed plugins and swaps them in without a restart.
//!
//! The directory is polled (a `read_dir` and a `stat` per file every
//! `debounce / 3`, between 50 ms and 1 s) rather than watched with inotify:
//! polling sees the same thing on every filesystem, including Kubernetes
//! ConfigMap/volume mounts (symlink swaps) and network filesystems where
//! inotify events are missing, and costs next to nothing for a directory of
//! plugins.
//!
//! A plugin is its `NAME.wasm` plus its optional `NAME.toml`; a change to
//! either (size, mtime or inode) reloads it, once both have stayed
//! unchanged for the debounce time, so a file still being written is not
//! read. The new version must then compile, link and describe itself, and
//! its task categories must not collide with another plugin's; only then is
//! a new registry swapped in. Calls already running finish on the version
//! they started with. A refused version is logged once (until the files
//! change again) and the previous version keeps serving. Operators should
//! still copy a new file next to the directory and `mv` it in (an atomic
//! rename), so that no half-written file is ever seen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::audit::AuditEvent;
use crate::manifest::ManifestFile;
use crate::registry::{LiveRegistry, Loader, plugin_id};

/// Default time a plugin's files must stay unchanged before a reload.
pub const DEFAULT_DEBOUNCE_MS: u64 = 300;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// The component's and the manifest's stamps (None: no such file).
type Fingerprint = (Option<Stamp>, Option<Stamp>);

const ABSENT: Fingerprint = (None, None);

/// The plugin directory as seen at one poll, by component path.
pub struct Snapshot(BTreeMap<PathBuf, Fingerprint>);

fn stamp(metadata: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode,
    }
}

/// Stamps every `NAME.wasm` and `NAME.toml` in `dir`.
pub fn scan(dir: &Path) -> std::io::Result<Snapshot> {
    let mut plugins: BTreeMap<PathBuf, Fingerprint> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let is_wasm = path.extension().is_some_and(|e| e == "wasm");
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        if !is_wasm && !is_toml {
            continue;
        }
        // Follows symlinks, as loading does.
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        let slot = plugins.entry(path.with_extension("wasm")).or_default();
        if is_wasm {
            slot.0 = Some(stamp(&metadata));
        } else {
            slot.1 = Some(stamp(&metadata));
        }
    }
    Ok(Snapshot(plugins))
}

/// What the watcher knows about one plugin.
struct Entry {
    /// Last fingerprint seen, and since when it has not changed.
    seen: Fingerprint,
    since: Instant,
    /// The fingerprint last acted on (loaded, refused or removed).
    applied: Fingerprint,
}

/// Watches `dir` until the task is aborted. `initial` is the directory as it
/// was just before start-up loaded it.
pub async fn run(
    dir: PathBuf,
    debounce: Duration,
    initial: Snapshot,
    loader: Arc<Loader>,
    live: Arc<LiveRegistry>,
) {
    let now = Instant::now();
    let mut entries: BTreeMap<PathBuf, Entry> = initial
        .0
        .into_iter()
        .map(|(path, fp)| {
            (
                path,
                Entry {
                    seen: fp,
                    since: now,
                    applied: fp,
                },
            )
        })
        .collect();
    let poll = (debounce / 3).clamp(Duration::from_millis(50), Duration::from_secs(1));
    tracing::info!(
        dir = %dir.display(),
        debounce_ms = debounce.as_millis() as u64,
        poll_ms = poll.as_millis() as u64,
        "watching the plugin directory for changes"
    );
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unreadable = false;
    loop {
        ticker.tick().await;
        let scanned = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || scan(&dir)).await
        };
        let snapshot = match scanned {
            Ok(Ok(snapshot)) => {
                unreadable = false;
                snapshot
            }
            Ok(Err(e)) => {
                if !unreadable {
                    tracing::warn!(dir = %dir.display(), "cannot read the plugin directory ({e}); the loaded plugins keep serving");
                    unreadable = true;
                }
                continue;
            }
            Err(_) => continue,
        };
        let now = Instant::now();
        for path in snapshot.0.keys() {
            entries.entry(path.clone()).or_insert(Entry {
                seen: ABSENT,
                since: now,
                applied: ABSENT,
            });
        }
        for (path, entry) in entries.iter_mut() {
            let fp = snapshot.0.get(path).copied().unwrap_or(ABSENT);
            if fp != entry.seen {
                entry.seen = fp;
                entry.since = now;
                continue;
            }
            if fp == entry.applied || now.duration_since(entry.since) < debounce {
                continue;
            }
            entry.applied = fp;
            apply(path, fp.0.is_some(), &loader, &live).await;
        }
        entries.retain(|_, e| e.seen != ABSENT || e.applied != ABSENT);
    }
}

/// Brings the registry in line with `file` (present or not). Only this
/// task writes the live registry, so read-modify-write is safe.
async fn apply(file: &Path, present: bool, loader: &Loader, live: &LiveRegistry) {
    let current = live.current();
    let old = current.by_file(file);
    if !present {
        if let Some(old) = old {
            live.replace(current.without_file(file));
            tracing::info!(file = %file.display(), agent = %old.name(), "plugin removed; its task types are no longer served");
            loader.services.audit.record(AuditEvent::PluginUnloaded {
                plugin: plugin_id(file),
                file: file.display().to_string(),
            });
        }
        return;
    }
    let refusing = if old.is_some() {
        "refusing the new version of this plugin (the previous version keeps serving)"
    } else {
        "refusing this new plugin (it is not served)"
    };
    let loaded = match ManifestFile::load_for(file) {
        Ok(manifest) => loader.load_unannounced(file, &manifest).await,
        Err(e) => Err(e.into()),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::error!(file = %file.display(), "{refusing}: {e:#}");
            crate::metrics::global().load_failed(1);
            return;
        }
    };
    let stats = loaded.stats;
    let plugin = Arc::new(loaded.plugin);
    let registry = match current.with_plugin(plugin.clone()) {
        Ok(registry) => registry,
        Err(e) => {
            tracing::error!(file = %file.display(), "{refusing}: {e:#}");
            crate::metrics::global().load_failed(1);
            return;
        }
    };
    live.replace(registry);
    if let Some(old) = &old {
        tracing::info!(file = %file.display(), agent = %plugin.name(), old_sha256 = %&old.sha256[..12], new_sha256 = %&plugin.sha256[..12], "plugin reloaded; calls already running finish on the previous version");
        loader.services.audit.record(AuditEvent::PluginUnloaded {
            plugin: plugin_id(file),
            file: file.display().to_string(),
        });
    }
    loader.announce(&plugin, &stats);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_pairs_components_with_manifests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wasm"), b"1").unwrap();
        std::fs::write(dir.path().join("a.toml"), b"22").unwrap();
        std::fs::write(dir.path().join("b.toml"), b"333").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("c.wasm.partial"), b"x").unwrap();
        let snapshot = scan(dir.path()).unwrap();
        let keys: Vec<_> = snapshot.0.keys().cloned().collect();
        assert_eq!(
            keys,
            vec![dir.path().join("a.wasm"), dir.path().join("b.wasm")]
        );
        let a = snapshot.0[&dir.path().join("a.wasm")];
        assert_eq!(a.0.map(|s| s.len), Some(1));
        assert_eq!(a.1.map(|s| s.len), Some(2));
        let b = snapshot.0[&dir.path().join("b.wasm")];
        assert!(b.0.is_none());
        assert_eq!(b.1.map(|s| s.len), Some(3));
    }
}
