//! Compiles every `.proto` under `redress/` with protox (pure Rust, no system `protoc`), writes the
//! descriptor set used by gRPC reflection and by `redress events show`, and generates the Rust code.

use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    collect(&root.join("redress"), &mut files)?;
    files.sort();
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptor.bin"), fds.encode_to_vec())?;
    let mut config = prost_build::Config::new();
    // Gives every message `prost::Name`, whose full name is the stored `event_type`.
    config.enable_type_names();
    tonic_prost_build::configure().compile_fds_with_config(fds, config)?;
    println!("cargo:rerun-if-changed=redress");
    Ok(())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
