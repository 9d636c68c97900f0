//! Sets `cfg(in_workspace)` when the crate is built inside its repository, where the
//! workspace's README (compiled as doctests by `ReadmeDoctests`) sits beside it; a build from the
//! published package has no such file and leaves those doctests out.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(in_workspace)");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let readme = Path::new(&dir).join("../README.md");
    println!("cargo::rerun-if-changed={}", readme.display());
    if readme.is_file() && Path::new(&dir).join("../sdk/Cargo.toml").is_file() {
        println!("cargo::rustc-cfg=in_workspace");
    }
}
