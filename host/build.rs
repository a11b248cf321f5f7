//! Build script: turns the flyteidl subset in `../proto` into Rust.
//!
//! Hangar speaks Flyte's agent gRPC API, so it needs flyteidl's messages and
//! services. The `.proto` files are compiled by `protox` (pure Rust, so no
//! system `protoc` is needed on developer machines or in CI) into a
//! `FileDescriptorSet`, from which `tonic-prost-build` generates the prost
//! messages plus tonic servers and clients. Well-known types
//! (`google.protobuf.*`) map to `::prost_types` (prost-build's default).
//!
//! The descriptor set is also written to `$OUT_DIR/flyteidl_descriptor.bin`
//! (without source info, to keep the binary small) for gRPC server reflection.
//!
//! Second job: `hangar new` writes a complete agent project from files
//! embedded in the binary (the language's template, its SDK and the WIT), so
//! it works wherever the binary is copied. `$OUT_DIR/scaffold_files.rs` lists
//! them, each with `include_bytes!` (see `src/scaffold.rs`).

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message as _;

/// Collects every `.proto` file under `dir`, as paths relative to `root`.
fn proto_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(root, &path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

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
fn scaffold_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Box<dyn Error>> {
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
        for (relative, absolute) in scaffold_files(dir)? {
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

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=../proto");

    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("../proto");
    embed_scaffold_files(&manifest_dir, &out_dir)?;

    let mut files = Vec::new();
    proto_files(&proto_root, &proto_root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files under {}", proto_root.display()).into());
    }

    // Source info is kept for code generation: it carries the proto comments
    // into rustdoc.
    let fds = protox::compile(&files, [&proto_root])?;

    let mut reflection_fds = fds.clone();
    for file in &mut reflection_fds.file {
        file.source_code_info = None;
    }
    fs::write(
        out_dir.join("flyteidl_descriptor.bin"),
        reflection_fds.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;

    Ok(())
}
