//! The failure reason of an error, for `#[heartbeat::outcome]`.

/// An error type that names its failure reason: `#[heartbeat::outcome]` counts an `Err` of
/// this type as a failure with [`OutcomeReason::reason`], and declares [`OutcomeReason::REASONS`]
/// with the outcome. Errors of other types count with reason `error`.
///
/// `#[derive(OutcomeReason)]` on an enum uses each variant's name in snake case
/// (`TimedOut` is `timed_out`); on a struct, the struct's name.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// #[derive(Debug, heartbeat::OutcomeReason)]
/// enum SendError {
///     TimedOut,
///     Rejected { code: u16 },
/// }
/// use heartbeat::OutcomeReason as _;
/// assert_eq!(SendError::Rejected { code: 403 }.reason(), "rejected");
/// assert_eq!(SendError::REASONS, ["timed_out", "rejected"]);
/// # }
/// ```
pub trait OutcomeReason {
    /// Every reason [`OutcomeReason::reason`] can return (at most 32, each 1 to 63 bytes of
    /// lowercase letters, digits and `_`, starting with a letter). A reason outside this set
    /// is counted as `other`.
    const REASONS: &'static [&'static str];

    /// The reason of this error.
    fn reason(&self) -> &'static str;
}
