//! ATTN's gRPC contract, generated from `proto/` at build time.
//!
//! - [`v1`] is the public package `attn.v1`: what a client may call.
//! - [`internal::v1`] is `attn.internal.v1`: RPCs only ATTN's own services
//!   call (VerificationService); never served at the front door.
//!
//! Every service and test uses these types; nobody writes message code by hand.

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("attn.v1");
}

pub mod internal {
    //! Packages under `attn.internal`, called only by ATTN's own services.

    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("attn.internal.v1");
    }
}

/// The encoded `FileDescriptorSet` of `attn.v1` and the well-known types it
/// imports, for gRPC server reflection.
pub const PUBLIC_FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/attn_public_descriptor.bin"));

/// The same for `attn.internal.v1`: reflected only by the service that serves
/// it, so that a client's reflection never even names an internal type.
pub const INTERNAL_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/attn_internal_descriptor.bin"));
