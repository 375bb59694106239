//! The `attn.v1` gRPC contract, generated from `proto/` at build time.
//!
//! Every service and test uses these types; nobody writes message code by hand.

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("attn.v1");
}

/// The encoded `FileDescriptorSet` of `attn.v1` and the well-known types it
/// imports, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/attn_descriptor.bin"));
