//! Hashed tenant ids: a keyed hash (SipHash-2-4) replaces each tenant id before it is exported,
//! the same in every emitter, so customer ids and e-mail addresses do not reach a telemetry
//! backend in clear while an SRE who knows the salt can still find a customer's series.
//!
//! The algorithm (`docs/semantic-conventions.md`, "Hashed tenant ids"), with `H(k, m)` the
//! 8-byte SipHash-2-4 output of message `m` under the 16-byte key `k`:
//!
//! 1. key = `H("heartbeat.tenant", salt)` ‖ `H("tenant.heartbeat", salt)` (each key there is
//!    those 16 ASCII bytes);
//! 2. wire value = `"h-"` ‖ lowercase hex of `H(key, tenant)`.
//!
//! Strings are their UTF-8 bytes; SipHash's output bytes are the little-endian encoding of
//! its 64-bit result, as in the SipHash paper, its reference code and OpenSSL.

use super::semconv::OVERFLOW_TENANT;
use super::validate::value_problem;
use std::fmt;

/// The prefix of a hashed tenant id on the wire (`"h-"` and 16 lowercase hex digits).
pub const TENANT_HASH_PREFIX: &str = "h-";

/// The longest salt accepted, in bytes.
pub const MAX_SALT_LEN: usize = 255;

/// The keys that derive the hashing key from the salt: the 16 ASCII bytes `heartbeat.tenant`
/// and `tenant.heartbeat`, as key words (little-endian).
const DERIVE_K0: (u64, u64) = key(*b"heartbeat.tenant");
const DERIVE_K1: (u64, u64) = key(*b"tenant.heartbeat");

const fn key(k: [u8; 16]) -> (u64, u64) {
    let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = k;
    (
        u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        u64::from_le_bytes([i, j, k, l, m, n, o, p]),
    )
}

/// Why a tenant-hashing salt was refused. The salt is the hashing key, so only an empty one is
/// shown.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantHashError {
    /// The salt is empty or longer than [`MAX_SALT_LEN`] bytes.
    InvalidSalt {
        /// Its length in bytes.
        len: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl TenantHashError {
    /// Appends the message (what `Display` shows), without the `fmt` machinery.
    pub fn write_to(&self, o: &mut String) {
        let Self::InvalidSalt { len, reason } = self;
        o.push_str("invalid tenant hashing salt ");
        o.push_str(if *len == 0 { "\"\"" } else { "(not shown)" });
        o.push_str(": ");
        o.push_str(reason);
        o.push_str("; allowed: 1 to 255 bytes of UTF-8");
    }
}

impl fmt::Display for TenantHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        self.write_to(&mut o);
        f.write_str(&o)
    }
}

impl std::error::Error for TenantHashError {}

/// `Debug` reads like `Display`: it is what `fn main() -> Result<(), E>` and `unwrap()` print, and
/// the sentence names the bad value and what is allowed.
impl fmt::Debug for TenantHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Hashes tenant ids with a salt: what [`RegistryBuilder::with_tenant_hasher`] and
/// `HeartbeatBuilder::with_tenant_hashing` put on the wire instead of the ids, and what the
/// browser package's `hashTenants` option and `heartbeat-watch tenant-hash` compute.
///
/// This is pseudonymisation, not encryption: whoever knows the salt can hash a guessed id and
/// compare. Keep the salt out of logs; in a browser it ships with the page and is public.
///
/// ```
/// let hasher = heartbeat_core::TenantHasher::new("s3cret-salt")?;
/// assert_eq!(hasher.hash("acme"), "h-6614d812eeab4e05");
/// assert_eq!(hasher.wire_value("bad\nid"), "_overflow"); // invalid ids are never hashed
/// # Ok::<(), heartbeat_core::TenantHashError>(())
/// ```
///
/// [`RegistryBuilder::with_tenant_hasher`]: crate::RegistryBuilder::with_tenant_hasher
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TenantHasher {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for TenantHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys reveal as much as the salt: never shown.
        f.write_str("TenantHasher { .. }")
    }
}

impl TenantHasher {
    /// A hasher keyed from `salt` (1 to 255 bytes).
    ///
    /// # Errors
    /// [`TenantHashError::InvalidSalt`] for an empty salt or one over [`MAX_SALT_LEN`] bytes.
    pub fn new(salt: &str) -> Result<Self, TenantHashError> {
        let reason = if salt.is_empty() {
            "it is empty"
        } else if salt.len() > MAX_SALT_LEN {
            "it is longer than 255 bytes"
        } else {
            let salt = salt.as_bytes();
            return Ok(Self {
                k0: siphash24(DERIVE_K0.0, DERIVE_K0.1, salt),
                k1: siphash24(DERIVE_K1.0, DERIVE_K1.1, salt),
            });
        };
        Err(TenantHashError::InvalidSalt {
            len: salt.len(),
            reason,
        })
    }

    /// The hashed id: `"h-"` and 16 lowercase hex digits. Any string is hashed; the SDK hashes
    /// only valid ids (see [`TenantHasher::wire_value`]).
    pub fn hash(&self, tenant: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let h = siphash24(self.k0, self.k1, tenant.as_bytes());
        let mut out = String::from(TENANT_HASH_PREFIX);
        for b in h.to_le_bytes() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// The `heartbeat.tenant` value the SDK exports for `tenant` with this hasher: its hash,
    /// or `"_overflow"` for an invalid id (empty, over 255 bytes, control characters, or
    /// `"_overflow"` itself), which is never hashed. A valid tenant past the cardinality limit
    /// is counted in `"_overflow"` too; that depends on the running process, not on the id.
    pub fn wire_value(&self, tenant: &str) -> String {
        if value_problem(tenant).is_some() || tenant == OVERFLOW_TENANT {
            OVERFLOW_TENANT.to_owned()
        } else {
            self.hash(tenant)
        }
    }
}

/// SipHash-2-4 of `data` with the key words `k0`, `k1` (the key's first and last 8 bytes,
/// little-endian). Written for size rather than speed (the browser build carries it): a byte at
/// a time, one place that compresses a block, the state in locals; it hashes short inputs (a
/// salt, a tenant id) once per admitted tenant.
pub(crate) fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v0 = k0 ^ 0x736f_6d65_7073_6575;
    let mut v1 = k1 ^ 0x646f_7261_6e64_6f6d;
    let mut v2 = k0 ^ 0x6c79_6765_6e65_7261;
    let mut v3 = k1 ^ 0x7465_6462_7974_6573;
    macro_rules! rounds {
        ($n:expr) => {
            for _ in 0..$n {
                v0 = v0.wrapping_add(v1);
                v1 = v1.rotate_left(13) ^ v0;
                v0 = v0.rotate_left(32);
                v2 = v2.wrapping_add(v3);
                v3 = v3.rotate_left(16) ^ v2;
                v0 = v0.wrapping_add(v3);
                v3 = v3.rotate_left(21) ^ v0;
                v2 = v2.wrapping_add(v1);
                v1 = v1.rotate_left(17) ^ v2;
                v2 = v2.rotate_left(32);
            }
        };
    }
    let mut m = 0u64;
    for i in 0..=data.len() {
        // The last block ends with the length (mod 256) in its top byte.
        let (byte, at) = match data.get(i) {
            Some(&b) => (b, i % 8),
            None => (data.len() as u8, 7),
        };
        m |= u64::from(byte) << (8 * at);
        if at == 7 {
            v3 ^= m;
            rounds!(2);
            v0 ^= m;
            m = 0;
        }
    }
    v2 ^= 0xff;
    rounds!(4);
    v0 ^ v1 ^ v2 ^ v3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 64 SipHash-2-4 vectors of the reference implementation (`vectors.h`, `vectors_sip64`):
    /// key 00 01 .. 0f, message 00 01 .. (n-1) for n = 0..63, output bytes in hex. Number 15 is
    /// the paper's Appendix A example (a129ca6149be45e5 as a 64-bit integer). Checked against
    /// OpenSSL: `head -c n <bytes> | openssl mac -macopt hexkey:000102..0f -macopt size:8 SIPHASH`.
    const PAPER: [&str; 64] = [
        "310e0edd47db6f72",
        "fd67dc93c539f874",
        "5a4fa9d909806c0d",
        "2d7efbd796666785",
        "b7877127e09427cf",
        "8da699cd64557618",
        "cee3fe586e46c9cb",
        "37d1018bf50002ab",
        "6224939a79f5f593",
        "b0e4a90bdf82009e",
        "f3b9dd94c5bb5d7a",
        "a7ad6b22462fb3f4",
        "fbe50e86bc8f1e75",
        "903d84c02756ea14",
        "eef27a8e90ca23f7",
        "e545be4961ca29a1",
        "db9bc2577fcc2a3f",
        "9447be2cf5e99a69",
        "9cd38d96f0b3c14b",
        "bd6179a71dc96dbb",
        "98eea21af25cd6be",
        "c7673b2eb0cbf2d0",
        "883ea3e395675393",
        "c8ce5ccd8c030ca8",
        "94af49f6c650adb8",
        "eab8858ade92e1bc",
        "f315bb5bb835d817",
        "adcf6b0763612e2f",
        "a5c91da7acaa4dde",
        "716595876650a2a6",
        "28ef495c53a387ad",
        "42c341d8fa92d832",
        "ce7cf2722f512771",
        "e37859f94623f3a7",
        "381205bb1ab0e012",
        "ae97a10fd434e015",
        "b4a31508beff4d31",
        "81396229f0907902",
        "4d0cf49ee5d4dcca",
        "5c73336a76d8bf9a",
        "d0a704536ba93e0e",
        "925958fcd6420cad",
        "a915c29bc8067318",
        "952b79f3bc0aa6d4",
        "f21df2e41d4535f9",
        "87577519048f53a9",
        "10a56cf5dfcd9adb",
        "eb75095ccd986cd0",
        "51a9cb9ecba312e6",
        "96afadfc2ce666c7",
        "72fe52975a4364ee",
        "5a1645b276d592a1",
        "b274cb8ebf87870a",
        "6f9bb4203de7b381",
        "eaecb2a30b22a87f",
        "9924a43cc1315724",
        "bd838d3aafbf8db7",
        "0b1a2a3265d51aea",
        "135079a3231ce660",
        "932b2846e4d70666",
        "e1915f5cb1eca46c",
        "f325965ca16d629f",
        "575ff28e60381be5",
        "724506eb4c328a95",
    ];

    fn hex(h: u64) -> String {
        h.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    const KEY: (u64, u64) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);

    #[test]
    fn siphash24_matches_the_reference_vectors() {
        let message: Vec<u8> = (0..64).collect();
        for (n, want) in PAPER.iter().enumerate() {
            assert_eq!(
                hex(siphash24(KEY.0, KEY.1, &message[..n])),
                *want,
                "n = {n}"
            );
        }
        assert_eq!(
            siphash24(KEY.0, KEY.1, &message[..15]),
            0xa129_ca61_49be_45e5
        );
    }

    #[test]
    #[allow(deprecated)] // std's SipHasher is SipHash-2-4: an independent implementation
    fn siphash24_agrees_with_std_sip_hasher_for_other_keys_and_lengths() {
        use std::hash::Hasher as _;
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..300 {
            let (k0, k1) = (next(), next());
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut std = std::hash::SipHasher::new_with_keys(k0, k1);
            std.write(&data);
            assert_eq!(siphash24(k0, k1, &data), std.finish(), "len = {len}");
        }
    }

    /// `core/tests/data/tenant_hash_vectors.json`: computed with OpenSSL, not with this code.
    fn vectors() -> Vec<(String, String, String)> {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/tenant_hash_vectors.json")).unwrap();
        file["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap().to_owned();
                (s("salt"), s("tenant"), s("wire"))
            })
            .collect()
    }

    #[test]
    fn tenant_hashes_match_the_vectors_computed_with_openssl() {
        let vectors = vectors();
        assert!(vectors.len() >= 10);
        for (salt, tenant, wire) in vectors {
            let hasher = TenantHasher::new(&salt).unwrap();
            assert_eq!(
                hasher.hash(&tenant),
                wire,
                "salt {salt:?}, tenant {tenant:?}"
            );
            assert_eq!(hasher.wire_value(&tenant), wire);
        }
    }

    #[test]
    fn hashed_ids_are_valid_tenant_values_and_never_the_overflow_value() {
        let hasher = TenantHasher::new("s3cret-salt").unwrap();
        for tenant in ["acme", "_overflow-ish", &"x".repeat(255)] {
            let wire = hasher.hash(tenant);
            assert_eq!(value_problem(&wire), None);
            assert_ne!(wire, OVERFLOW_TENANT);
            assert_eq!(wire.len(), 18);
            assert!(wire.starts_with(TENANT_HASH_PREFIX));
            assert!(
                wire[2..]
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
        }
    }

    #[test]
    fn invalid_ids_and_the_overflow_value_are_not_hashed() {
        let hasher = TenantHasher::new("s3cret-salt").unwrap();
        for tenant in ["", "a\nb", "\u{7f}", &"x".repeat(256), OVERFLOW_TENANT] {
            assert_eq!(hasher.wire_value(tenant), OVERFLOW_TENANT, "{tenant:?}");
        }
    }

    #[test]
    fn the_salt_and_the_id_both_change_the_value() {
        let a = TenantHasher::new("salt-a").unwrap();
        let b = TenantHasher::new("salt-b").unwrap();
        assert_ne!(a.hash("acme"), b.hash("acme"));
        assert_ne!(a.hash("acme"), a.hash("acme "));
        assert_eq!(
            a.hash("acme"),
            TenantHasher::new("salt-a").unwrap().hash("acme")
        );
    }

    #[test]
    fn an_empty_or_too_long_salt_is_refused_without_showing_a_long_one() {
        let err = TenantHasher::new("").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tenant hashing salt \"\": it is empty; allowed: 1 to 255 bytes of UTF-8"
        );
        let long = "k".repeat(256);
        let err = TenantHasher::new(&long).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tenant hashing salt (not shown): it is longer than 255 bytes; allowed: 1 to 255 bytes of UTF-8"
        );
        assert!(TenantHasher::new(&"k".repeat(255)).is_ok());
        assert!(TenantHasher::new("k").is_ok());
    }

    #[test]
    fn debug_output_does_not_show_the_keys() {
        let hasher = TenantHasher::new("s3cret-salt").unwrap();
        let shown = format!("{hasher:?}");
        assert_eq!(shown, "TenantHasher { .. }");
    }
}
