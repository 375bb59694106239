//! Compiles the benchmark's own echo service (`proto/attn/bench/v1/echo.proto`)
//! with protox (pure Rust, no system `protoc`), like `shared/proto/build.rs`.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let file = proto_root.join("attn/bench/v1/echo.proto");
    let descriptors = protox::compile([&file], [&proto_root])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={}", file.display());
    Ok(())
}
