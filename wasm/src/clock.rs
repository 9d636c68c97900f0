//! The page's wall clock for OTLP timestamps: `Date.now()` through one small import in the
//! browser, the system clock when the crate's unit tests run natively. Both halves export
//! `now_ms`.
//!
//! Not the sdk's `SystemClock`: a `dyn Clock` carries its type's `Debug` in its vtable, and
//! `SystemClock`'s (a struct with an `Instant` field) would bring the float and struct
//! formatting machinery into the module, about 10 KB.

use heartbeat_core::Clock;
use std::time::Duration;

/// `Date.now()` as a [`Clock`]. The delta collector reads only its wall time; `monotonic`
/// returns the same value and nothing here schedules with it (the JavaScript half owns timers).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageClock;

impl Clock for PageClock {
    fn now_unix(&self) -> Duration {
        // `as` saturates: a clock before 1970 (or NaN) reads as the epoch.
        Duration::from_millis(now::now_ms() as u64)
    }

    fn monotonic(&self) -> Duration {
        self.now_unix()
    }
}

#[cfg(target_arch = "wasm32")]
mod now {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = Date, js_name = now)]
        fn date_now() -> f64;
    }

    pub(super) fn now_ms() -> f64 {
        date_now()
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod now {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub(super) fn now_ms() -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64)
    }
}
