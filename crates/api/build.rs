//! Generates the gRPC code for `proto/synod.proto`.
//!
//! `protoc` comes from the `protoc-bin-vendored` crate so that building needs
//! no system-wide protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // The code generator reads PROTOC from this process's environment; the
    // build script is single-threaded here, so setting it cannot race.
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/synod.proto");
    tonic_prost_build::configure().compile_protos(&["proto/synod.proto"], &["proto"])?;
    Ok(())
}
