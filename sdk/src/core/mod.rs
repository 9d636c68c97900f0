//! The runtime-free core: compiles for `wasm32-unknown-unknown` with default features off.

pub(crate) mod beat;
pub(crate) mod clock;
pub(crate) mod counter;
pub(crate) mod otlp;
pub(crate) mod outcome;
pub(crate) mod registry;
pub(crate) mod tenant;
pub(crate) mod tenant_hash;
pub(crate) mod tuning;
pub(crate) mod validate;
