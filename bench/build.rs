//! Build script: generates the flyteidl 1 agent stubs (clients for the load
//! generator, servers for the floor) from `../proto/flyteidl` with `protox`,
//! the same pure-Rust way the host does (no system `protoc`).

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../proto");
    println!("cargo:rerun-if-changed=../proto/flyteidl");
    let fds = protox::compile(["flyteidl/service/agent.proto"], [&proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
