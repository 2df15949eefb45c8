//! Generates the etcd v3 KV client from `proto/etcd_kv.proto`, a subset of
//! etcd's own `rpc.proto` (same package, service and field numbers).
//!
//! `protoc` comes from the `protoc-bin-vendored` crate so that building needs
//! no system-wide protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // The code generator reads PROTOC from this process's environment; the
    // build script is single-threaded here, so setting it cannot race.
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/etcd_kv.proto");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&["proto/etcd_kv.proto"], &["proto"])?;
    Ok(())
}
