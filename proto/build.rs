//! Build script: turns the `.proto` files beside it into Rust.
//!
//! Hangar speaks Flyte's agent gRPC API, so it needs flyteidl's messages and
//! services; the load generator and the floor server in `bench/` need the very
//! same ones. The files are compiled by `protox` (pure Rust, so no system
//! `protoc` is needed on developer machines or in CI) into a
//! `FileDescriptorSet`, from which `tonic-prost-build` generates the prost
//! messages plus tonic servers and clients. Well-known types
//! (`google.protobuf.*`) map to `::prost_types` (prost-build's default).
//!
//! The descriptor set is also written to `$OUT_DIR/flyteidl_descriptor.bin`
//! (without source info, to keep the binary small) for gRPC server reflection
//! and for reading literals as JSON.

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

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=flyteidl");
    println!("cargo:rerun-if-changed=flyteidl2");

    let mut files = Vec::new();
    for package in ["flyteidl", "flyteidl2"] {
        proto_files(&proto_root, &proto_root.join(package), &mut files)?;
    }
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

    // Protobuf maps (a LiteralMap's literals, a template's config, labels...)
    // as `BTreeMap`: encoding one then writes its entries in key order, so
    // the same message always re-encodes to the same bytes. With `HashMap`
    // each decode iterated in its own random order, and the raw template and
    // inputs an agent receives (and the local idempotency key hashed from
    // them) changed from one decode of a request to the next. Small maps
    // are also cheaper to build this way (no SipHash per key).
    tonic_prost_build::configure()
        .btree_map(".")
        // Written by hand (`src/create_task_request.rs`): decoding it keeps
        // the bytes of the template and the inputs, which the host passes
        // to agents as they are instead of encoding them again.
        .extern_path(
            ".flyteidl.admin.CreateTaskRequest",
            "crate::flyteidl::admin::CreateTaskRequest",
        )
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;

    Ok(())
}
