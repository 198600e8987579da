//! The guest plugins as WebAssembly components, compiled by this crate's build script.
//!
//! Default plugins are embedded in the host binary; fixtures are for tests. A guest added to the
//! build script without a test using it is still compiled, and one a test names but the build
//! script lacks is a compile error.

/// One compiled guest component.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    /// Its cargo package name.
    pub package: &'static str,
    /// The file name cargo gave the component.
    pub file: &'static str,
    /// The component's bytes.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
