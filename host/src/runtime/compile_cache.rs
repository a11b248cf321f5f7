//! Compiled plugins cached on disk by content hash, so a restart loads a
//! plugin in milliseconds instead of recompiling it (seconds for Python or JS
//! components).
//!
//! The key is the sha256 of the component bytes plus the engine's
//! compatibility hash (wasmtime version and settings), so a changed plugin or
//! a host upgrade simply misses. A `[reuse]` plugin is compiled from its
//! rewrite, and kept under its original file's hash plus the rewrite's
//! fingerprint (`reuse::cache_key`), so a hit skips the rewrite too.
//! Entries are written to a temporary file and renamed, so a crash never
//! leaves a half-written entry behind.
//!
//! Trust: loading a cached entry runs native code from it. The directory must
//! be writable only by the Hangar process (the default is the user's cache
//! directory).

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the compiled code came from, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    Disabled,
}

/// The default cache directory: `$XDG_CACHE_HOME/hangar` or `~/.cache/hangar`.
pub fn default_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("hangar").join("compiled"))
}

/// sha256 of the component bytes, hex-encoded.
pub fn content_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compiles `bytes`, or loads the compiled artifact from `dir` when present.
pub fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    sha256: &str,
    dir: Option<&Path>,
) -> anyhow::Result<(Component, CacheOutcome)> {
    load_or_compile_from(engine, sha256, dir, || Ok(Cow::Borrowed(bytes))).map_err(|e| match e {
        CompileError::Source(e) | CompileError::Compile(e) => e,
    })
}

/// Why [`load_or_compile_from`] has no component.
#[derive(Debug)]
pub enum CompileError {
    /// The source closure failed; its error, unchanged.
    Source(anyhow::Error),
    /// The bytes it gave do not compile.
    Compile(anyhow::Error),
}

/// Loads the compiled artifact stored under `key` in `dir`, or compiles the
/// bytes `source` gives and stores them under `key`. `source` runs only on
/// a miss, so the work of deriving the bytes to compile (the `[reuse]`
/// rewrite) is skipped on a hit; `key` must therefore identify exactly the
/// bytes `source` would give.
pub fn load_or_compile_from<'a>(
    engine: &Engine,
    key: &str,
    dir: Option<&Path>,
    source: impl FnOnce() -> anyhow::Result<Cow<'a, [u8]>>,
) -> Result<(Component, CacheOutcome), CompileError> {
    let compile = |bytes: &[u8]| {
        Component::new(engine, bytes)
            .map_err(super::to_anyhow)
            .map_err(CompileError::Compile)
    };
    let Some(dir) = dir else {
        let bytes = source().map_err(CompileError::Source)?;
        return Ok((compile(&bytes)?, CacheOutcome::Disabled));
    };
    let path = dir.join(format!("{key}-{}.cwasm", engine_fingerprint(engine)));
    if path.is_file() {
        // SAFETY: the entry was written by `Component::serialize` of this
        // same engine configuration (the file name carries its fingerprint),
        // in a directory only this process is meant to write.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok((component, CacheOutcome::Hit)),
            Err(e) => {
                tracing::warn!(cache = %path.display(), error = %e, "discarding unreadable compile-cache entry");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let bytes = source().map_err(CompileError::Source)?;
    let component = compile(&bytes)?;
    if let Err(e) = store(&component, dir, &path) {
        tracing::warn!(cache = %dir.display(), error = %e, "cannot write the compile cache; continuing without it");
    }
    Ok((component, CacheOutcome::Miss))
}

fn store(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(super::to_anyhow)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
