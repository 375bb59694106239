//! Compiles `proto/attn/v1/*.proto` (the public contract) and
//! `proto/attn/internal/v1/*.proto` (RPCs only ATTN's own services call) with
//! protox (pure Rust, no system `protoc`), generates prost messages and tonic
//! clients and servers, and writes the encoded descriptor sets that server
//! reflection serves: one of the public package, and one of the internal
//! package, which only the service serving it shows.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use prost::Message;

/// The packages' directories under `proto/`.
const PACKAGES: [&str; 2] = ["attn/v1", "attn/internal/v1"];

fn proto_files(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    Ok(files)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut files = Vec::new();
    for package in PACKAGES {
        files.extend(proto_files(&proto_root.join(package))?);
    }
    files.sort();

    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // protox includes each file's imports in the set it returns.
    for (package, name) in PACKAGES.iter().zip(["attn_public_descriptor.bin", "attn_internal_descriptor.bin"]) {
        let package_files: Vec<&PathBuf> = files.iter().filter(|f| f.starts_with(proto_root.join(package))).collect();
        fs::write(out_dir.join(name), protox::compile(package_files, [&proto_root])?.encode_to_vec())?;
    }

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    for package in PACKAGES {
        println!("cargo:rerun-if-changed={}", proto_root.join(package).display());
    }
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}
