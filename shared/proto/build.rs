//! Compiles `proto/attn/v1/*.proto` with protox (pure Rust, no system
//! `protoc`), generates prost messages and tonic clients and servers, and
//! writes the encoded descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut files: Vec<PathBuf> =
        fs::read_dir(proto_root.join("attn/v1"))?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    files.sort();

    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("attn_descriptor.bin"), descriptors.encode_to_vec())?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}
