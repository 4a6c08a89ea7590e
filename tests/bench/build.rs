//! Compiles `proto/echo.proto`, the bare echo peer's schema, with protox (pure Rust, no system
//! `protoc`, as the `proto` crate does) and generates its tonic client and server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(["proto/echo.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
