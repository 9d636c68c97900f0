//! The one-command demo.
