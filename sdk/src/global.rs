//! The global handle that `#[heartbeat::outcome]` functions record on, set once at start-up.
//!
//! Setting it declares every outcome of every `#[outcome]` function linked into the program
//! (they register themselves before `main` with `inventory`), so each is exported at zero
//! from the first export on. Before it is set, those functions run normally and count nothing,
//! as a `metrics` macro does before a recorder is installed.

use crate::macro_support::{GLOBAL, Handle, Registration};
use heartbeat_core::{OutcomeError, Registry};
use std::fmt;

/// Why the global handle was not set, or what setting it could not declare.
#[non_exhaustive]
pub enum SetGlobalError<T> {
    /// A global handle was set before; it stays. The one given is handed back.
    AlreadySet(T),
    /// The handle is set, but these outcomes of `#[outcome]` functions could not be declared
    /// (an outcome of the same name declared elsewhere with other failure reasons): they
    /// count nothing.
    Declarations(Vec<OutcomeError>),
}

impl<T> SetGlobalError<T> {
    /// The handle given, when it was not set.
    pub fn into_inner(self) -> Option<T> {
        match self {
            Self::AlreadySet(t) => Some(t),
            Self::Declarations(_) => None,
        }
    }
}

impl<T> fmt::Display for SetGlobalError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadySet(_) => f.write_str(
                "a global Heartbeat handle is already set; the first one stays (set it once, in main)",
            ),
            Self::Declarations(errors) => {
                f.write_str("the global handle is set, but #[outcome] functions count nothing: ")?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    fmt::Display::fmt(e, f)?;
                }
                Ok(())
            }
        }
    }
}

// `Debug` reads like `Display` (what `main` returning an error prints).
impl<T> fmt::Debug for SetGlobalError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T> std::error::Error for SetGlobalError<T> {}

/// Sets the global handle of `#[heartbeat::outcome]` functions and declares all their
/// outcomes on it. Call it once, in `main`, after building the pipeline; libraries never call it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let hb = heartbeat::Heartbeat::builder().with_service_name("api").install()?;
/// heartbeat::set_global(hb.clone())?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`SetGlobalError::AlreadySet`] with `hb` when a handle was set before;
/// [`SetGlobalError::Declarations`] when some outcomes could not be declared.
#[cfg(feature = "export")]
pub fn set_global(hb: crate::Heartbeat) -> Result<(), SetGlobalError<crate::Heartbeat>> {
    set(Handle::Heartbeat(hb), |h| match h {
        Handle::Heartbeat(hb) => hb,
        Handle::Registry(_) => unreachable_handle(),
    })
}

/// [`set_global`] for a bare [`Registry`] (the runtime-free core, on any target).
///
/// # Errors
/// As for [`set_global`].
pub fn set_global_registry(registry: Registry) -> Result<(), SetGlobalError<Registry>> {
    set(Handle::Registry(registry), |h| match h {
        Handle::Registry(r) => r,
        #[cfg(feature = "export")]
        Handle::Heartbeat(hb) => hb.registry().clone(),
    })
}

#[cfg(feature = "export")]
fn unreachable_handle() -> crate::Heartbeat {
    // `set` hands back the handle it was given, which is the same variant.
    crate::Heartbeat::disabled()
}

fn set<T>(handle: Handle, back: fn(Handle) -> T) -> Result<(), SetGlobalError<T>> {
    let mut given = Some(handle);
    GLOBAL.get_or_init(|| given.take().unwrap_or(Handle::Registry(Registry::new())));
    if let Some(handle) = given {
        return Err(SetGlobalError::AlreadySet(back(handle)));
    }
    let errors = declare_all();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SetGlobalError::Declarations(errors))
    }
}

fn declare_all() -> Vec<OutcomeError> {
    inventory::iter::<Registration>
        .into_iter()
        .filter_map(|r| r.0.declare().err())
        .collect()
}
