//! Build script, two jobs:
//!
//! - `hangar new` writes a complete agent project from files embedded in the
//!   binary (the language's template, its SDK and the WIT), so it works
//!   wherever the binary is copied. `$OUT_DIR/scaffold_files.rs` lists them,
//!   each with `include_bytes!` (see `src/scaffold.rs`).
//! - The compile cache keeps a `[reuse]` plugin under its original file's
//!   hash, so that a hit skips the rewrite; the key must then change whenever
//!   the rewrite could. `HANGAR_REWRITE_FINGERPRINT` is a hash of the
//!   rewrite's sources and of `Cargo.lock` (the encoder and parser versions),
//!   see `src/runtime/reuse/mod.rs`.
//!
//! (The flyteidl types are the `hangar-proto` crate's job: `proto/build.rs`.)

use std::error::Error;
use std::fs;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// Languages `hangar new` knows; each has `templates/<lang>` and `../sdk/<lang>`.
const SCAFFOLD_LANGUAGES: [&str; 4] = ["rust", "python", "js", "go"];

/// Directory and file names never embedded: build outputs, caches and
/// installed dependencies (an SDK is copied as its sources).
fn skipped_in_scaffold(name: &str) -> bool {
    matches!(
        name,
        "node_modules" | "__pycache__" | "target" | ".venv" | "templates" | ".pytest_cache"
    ) || name.ends_with(".wasm")
        || name.ends_with(".pyc")
}

/// Every file under `dir`, sorted, as (path relative to `dir`, absolute path).
fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, Box<dyn Error>> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut Vec<(String, PathBuf)>,
    ) -> Result<(), Box<dyn Error>> {
        if !dir.is_dir() {
            return Ok(());
        }
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if skipped_in_scaffold(name) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let relative = path
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, fs::canonicalize(&path)?));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Writes `$OUT_DIR/scaffold_files.rs`: one `EmbeddedFile` per template, SDK
/// and WIT file.
fn embed_scaffold_files(manifest_dir: &Path, out_dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut code = String::from("pub static FILES: &[EmbeddedFile] = &[\n");
    let mut push = |lang: &str, origin: &str, dir: &Path| -> Result<(), Box<dyn Error>> {
        println!("cargo:rerun-if-changed={}", dir.display());
        for (relative, absolute) in files_under(dir)? {
            code.push_str(&format!(
                "    EmbeddedFile {{ lang: {lang:?}, origin: Origin::{origin}, path: {relative:?}, \
                 bytes: include_bytes!({:?}) }},\n",
                absolute.display().to_string()
            ));
        }
        Ok(())
    };
    push("", "Wit", &manifest_dir.join("../wit"))?;
    for lang in SCAFFOLD_LANGUAGES {
        push(lang, "Template", &manifest_dir.join("templates").join(lang))?;
        push(lang, "Sdk", &manifest_dir.join("../sdk").join(lang))?;
    }
    code.push_str("];\n");
    fs::write(out_dir.join("scaffold_files.rs"), code)?;
    Ok(())
}

/// Sets `HANGAR_REWRITE_FINGERPRINT`: 16 hex digits over every file of the
/// rewrite (`src/runtime/reuse`, names and contents, sorted) and the
/// workspace's `Cargo.lock` when there is one. Any edit there gives a new
/// fingerprint, so cached rewrites of an older host are never used.
fn rewrite_fingerprint(manifest_dir: &Path) -> Result<(), Box<dyn Error>> {
    let reuse_dir = manifest_dir.join("src/runtime/reuse");
    let lock = manifest_dir.join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", reuse_dir.display());
    println!("cargo:rerun-if-changed={}", lock.display());
    // The std hasher with its fixed keys: stable for one toolchain, which is
    // all a cache key needs (another toolchain only misses once).
    let mut hasher = std::hash::DefaultHasher::new();
    let mut files = files_under(&reuse_dir)?;
    if lock.is_file() {
        files.push(("Cargo.lock".into(), lock));
    }
    for (name, path) in files {
        hasher.write(name.as_bytes());
        hasher.write(&fs::read(&path)?);
    }
    println!(
        "cargo:rustc-env=HANGAR_REWRITE_FINGERPRINT={:016x}",
        hasher.finish()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    embed_scaffold_files(&manifest_dir, &out_dir)?;
    rewrite_fingerprint(&manifest_dir)
}
