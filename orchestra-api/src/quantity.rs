//! Kubernetes quantities (`250m`, `1.5Gi`, `1e3`) parsed exactly into integers.
//!
//! A *quantity* is how Kubernetes writes an amount of a resource: a decimal number with an
//! optional suffix. The suffix is one of three kinds, and the kind is remembered so that the
//! value is written back the way its author wrote it:
//!
//! | kind | suffixes | example |
//! |---|---|---|
//! | [`Format::DecimalSI`] | `n` `u` `m` (none) `k` `M` `G` `T` `P` `E` | `250m` = 0.25, `2G` = 2·10⁹ |
//! | [`Format::BinarySI`] | `Ki` `Mi` `Gi` `Ti` `Pi` `Ei` | `1.5Gi` = 1.5·2³⁰ |
//! | [`Format::DecimalExponent`] | `e<n>` or `E<n>` | `12e6` = 12·10⁶ |
//!
//! Parsing follows `k8s.io/apimachinery/pkg/api/resource.ParseQuantity` of Kubernetes v1.33
//! character for character: the same grammar (signs, `.5`, `1.`, leading zeros), the same error
//! messages, values finer than a nano-unit rounded up (away from zero) to the next nano-unit,
//! and binary quantities capped at 2⁶³−1. Writing ([`Display`](fmt::Display)) produces
//! Kubernetes' canonical form: no fractional digits, the largest suffix that loses no precision,
//! and the format of the input (`1000m` → `1`, `1.5Gi` → `1536Mi`, `0.5` → `500m`,
//! `12e6` → `12e6`).
//!
//! Quantities never go through floating point. A [`Quantity`] holds its value as an `i128`
//! count of nano-units (10⁻⁹), which is exact for everything `ParseQuantity` keeps (it rounds
//! to nano-units itself) and leaves room for magnitudes up to 10²⁹, far beyond the 2⁶³−1 the
//! Kubernetes documentation promises. Larger magnitudes are rejected with
//! [`QuantityError::TooLarge`] rather than wrapped or saturated. Nano-units rather than
//! milli-units keep `1n` and `100u` distinct, as Kubernetes does: the rounding of resource
//! amounts to whole milli-units is a separate step (Kubernetes does it when defaulting a
//! `ResourceList`), available here as [`Quantity::round_up_to_milli`] and applied by
//! [`ResourceList`](crate::ResourceList).
//!
//! ```
//! use orchestra_api::Quantity;
//!
//! let cpu: Quantity = "0.5".parse()?;
//! assert_eq!(cpu.milli_value(), 500);
//! assert_eq!(cpu.to_string(), "500m");
//!
//! let memory: Quantity = "1.5Gi".parse()?;
//! assert_eq!(memory.value(), 1_610_612_736);
//! assert_eq!(memory.to_string(), "1536Mi");
//!
//! // Equality and ordering are by value, whatever the suffix.
//! assert_eq!("1Gi".parse::<Quantity>()?, "1073741824".parse::<Quantity>()?);
//! assert!("100m".parse::<Quantity>()? < "1".parse::<Quantity>()?);
//!
//! // Below a milli-unit: kept exactly, or rounded up to 1m as resource lists do.
//! let tiny: Quantity = "0.1m".parse()?;
//! assert_eq!(tiny.to_string(), "100u");
//! assert_eq!(tiny.round_up_to_milli().to_string(), "1m");
//! # Ok::<(), orchestra_api::quantity::QuantityError>(())
//! ```
//!
//! Where this module knowingly differs from Kubernetes v1.33, it is in cases where Kubernetes
//! answers something surprising:
//!
//! - Kubernetes' `String()` echoes the input verbatim when it was parsed from a form it deems
//!   already canonical, so `+1`, `1E3` and `0100Mi` come back unchanged from Kubernetes; here
//!   they are written `1`, `1e3` and `100Mi`, the canonical form Kubernetes computes for the
//!   same value in every other case.
//! - Every written form reads back as the same value. So a decimal value above the `E` suffix
//!   (10¹⁸), which has no SI suffix, is written in exponent form (`1000E` → `1e21`), and a
//!   binary value beyond the 2⁶³−1 cap that parsing applies is written in decimal (2⁶³ is
//!   `9223372036854775808`, where Kubernetes writes `8Ei` and reads that back as 2⁶³−1).
//! - [`Quantity::value`] and [`Quantity::milli_value`] always round away from zero and
//!   saturate at the `i64` bounds; Kubernetes' result depends on its internal representation
//!   for negative values and wraps on overflow. [`Quantity::checked_value`] and
//!   [`Quantity::checked_milli_value`] report overflow instead.
//! - Magnitudes above 10²⁹, which Kubernetes keeps in arbitrary precision, are rejected.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

/// Nano-units in one unit.
const NANO_PER_UNIT: i128 = 1_000_000_000;
/// Nano-units in one milli-unit.
const NANO_PER_MILLI: i128 = 1_000_000;
/// `10^i` for every `i` whose power fits in a `u128` (up to 10³⁸).
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};
/// The largest magnitude a [`Quantity`] holds, in nano-units: 10³⁸ nano-units = 10²⁹.
const MAX_NANO_MAGNITUDE: u128 = POW10[38];
/// Kubernetes caps parsed binary-SI quantities at 2⁶³−1 (its `maxAllowed`), in nano-units.
const BINARY_SI_CAP_NANO: u128 = (i64::MAX as u128) * (NANO_PER_UNIT as u128);
/// The suffix grammar Kubernetes quotes in its format error.
const SPLIT_REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Why a string is not a quantity.
///
/// The first three variants carry Kubernetes' own messages (`ErrFormatWrong`, `ErrNumeric`,
/// `ErrSuffix` of `k8s.io/apimachinery/pkg/api/resource`), so an error reads the same as it
/// would from a Kubernetes API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The string is not shaped like a quantity at all (empty, stray characters, spaces).
    #[error("quantities must match the regular expression '{SPLIT_REGEX}'")]
    FormatWrong,
    /// The numeric part has no digits where Kubernetes needs some (`+.e-10`).
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is none of the SI, binary or exponent suffixes (`1i`, `0.1mi`, `1e`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The value is larger in magnitude than the 10²⁹ a [`Quantity`] holds.
    #[error("quantity is too large: magnitudes above 1e29 are not supported")]
    TooLarge,
    /// The value does not fit the 64-bit integer a resource amount is kept in (millicores for
    /// cpu, bytes or whole units for everything else).
    #[error("quantity does not fit in a 64-bit resource amount")]
    ExceedsInt64,
}

/// How a quantity is written: which family of suffixes it uses.
///
/// Parsing remembers the format of the input and writing uses it again. The names are
/// Kubernetes' (`resource.Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Powers of ten written as an exponent: `12e6`, `5e-3`.
    DecimalExponent,
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`. Values that are not whole numbers,
    /// or are smaller than 1024 in magnitude, are written as [`Format::DecimalSI`].
    BinarySI,
    /// Powers of 1000: `n`, `u`, `m`, (none), `k`, `M`, `G`, `T`, `P`, `E`.
    #[default]
    DecimalSI,
}

impl Format {
    /// The format's name as Kubernetes spells it (`"DecimalSI"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exact amount, as Kubernetes' `resource.Quantity`: a value plus the [`Format`] to write it
/// in.
///
/// Equality, ordering and hashing consider the value only, so `1Gi == 1073741824` and
/// `1000m == 1`. The value is an exact count of nano-units (see the [module docs](self)).
#[derive(Clone, Copy, Default)]
pub struct Quantity {
    /// The value in nano-units (10⁻⁹); `|nano| <= 10^38`.
    nano: i128,
    /// How to write the value.
    format: Format,
}

impl Quantity {
    /// Zero, written `0`.
    pub const ZERO: Quantity = Quantity {
        nano: 0,
        format: Format::DecimalSI,
    };

    /// The largest magnitude a quantity holds, in nano-units (10³⁸, that is a value of 10²⁹).
    pub const MAX_NANO: i128 = MAX_NANO_MAGNITUDE as i128;

    /// `milli` thousandths, in [`Format::DecimalSI`] (Kubernetes' `NewMilliQuantity`):
    /// `from_milli(250)` is `250m`, `from_milli(2000)` is `2`.
    pub const fn from_milli(milli: i64) -> Quantity {
        Quantity {
            nano: milli as i128 * NANO_PER_MILLI,
            format: Format::DecimalSI,
        }
    }

    /// The whole number `value`, in [`Format::DecimalSI`] (Kubernetes' `NewQuantity(v,
    /// DecimalSI)`): `from_value(3000)` is `3k`.
    pub const fn from_value(value: i64) -> Quantity {
        Quantity {
            nano: value as i128 * NANO_PER_UNIT,
            format: Format::DecimalSI,
        }
    }

    /// `bytes`, in [`Format::BinarySI`] (Kubernetes' `NewQuantity(v, BinarySI)`), as memory
    /// and storage are written: `from_bytes_binary(64 << 20)` is `64Mi`.
    pub const fn from_bytes_binary(bytes: i64) -> Quantity {
        Quantity {
            nano: bytes as i128 * NANO_PER_UNIT,
            format: Format::BinarySI,
        }
    }

    /// `nano` nano-units (10⁻⁹) in `format`, or [`QuantityError::TooLarge`] beyond
    /// ±[`Quantity::MAX_NANO`].
    pub const fn from_nano(nano: i128, format: Format) -> Result<Quantity, QuantityError> {
        if nano.unsigned_abs() > MAX_NANO_MAGNITUDE {
            return Err(QuantityError::TooLarge);
        }
        Ok(Quantity { nano, format })
    }

    /// The format the quantity is written in.
    pub const fn format(&self) -> Format {
        self.format
    }

    /// The same value, to be written in `format`.
    pub const fn with_format(self, format: Format) -> Quantity {
        Quantity {
            nano: self.nano,
            format,
        }
    }

    /// The exact value in nano-units (10⁻⁹).
    pub const fn nano_value(&self) -> i128 {
        self.nano
    }

    /// The value rounded away from zero to a whole number, as Kubernetes' `Value()`
    /// (`1.5` → 2, `-1.5` → -2, `1n` → 1), saturating at the `i64` bounds.
    pub const fn value(&self) -> i64 {
        saturate(div_away_from_zero(self.nano, NANO_PER_UNIT))
    }

    /// The value in thousandths, rounded away from zero, as Kubernetes' `MilliValue()`
    /// (`0.5` → 500, `1u` → 1), saturating at the `i64` bounds.
    pub const fn milli_value(&self) -> i64 {
        saturate(div_away_from_zero(self.nano, NANO_PER_MILLI))
    }

    /// [`Quantity::value`], or `None` when it does not fit in an `i64`.
    pub const fn checked_value(&self) -> Option<i64> {
        checked_i64(div_away_from_zero(self.nano, NANO_PER_UNIT))
    }

    /// [`Quantity::milli_value`], or `None` when it does not fit in an `i64`.
    pub const fn checked_milli_value(&self) -> Option<i64> {
        checked_i64(div_away_from_zero(self.nano, NANO_PER_MILLI))
    }

    /// Whether the value is zero.
    pub const fn is_zero(&self) -> bool {
        self.nano == 0
    }

    /// -1, 0 or 1 as the value is negative, zero or positive (Kubernetes' `Sign()`).
    pub const fn signum(&self) -> i32 {
        self.nano.signum() as i32
    }

    /// The value rounded away from zero to a whole number of milli-units, keeping the format
    /// (Kubernetes' `RoundUp(Milli)`). This is the rounding Kubernetes applies to every amount
    /// of a `ResourceList` when defaulting, so `100u` of cpu becomes `1m`.
    pub const fn round_up_to_milli(self) -> Quantity {
        // Cannot leave the range: 10^38 is itself a multiple of a milli-unit.
        Quantity {
            nano: div_away_from_zero(self.nano, NANO_PER_MILLI) * NANO_PER_MILLI,
            format: self.format,
        }
    }

    /// `self + other`, or `None` beyond ±10²⁹. The result keeps `self`'s format, or takes
    /// `other`'s when `self` is zero (Kubernetes' `Add`).
    pub const fn checked_add(self, other: Quantity) -> Option<Quantity> {
        let Some(nano) = self.nano.checked_add(other.nano) else {
            return None;
        };
        let format = if self.nano == 0 {
            other.format
        } else {
            self.format
        };
        match Quantity::from_nano(nano, format) {
            Ok(q) => Some(q),
            Err(_) => None,
        }
    }

    /// `self - other`, or `None` beyond ±10²⁹. The result keeps `self`'s format, or takes
    /// `other`'s when `self` is zero (Kubernetes' `Sub`).
    pub const fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        // Negation cannot overflow: magnitudes are at most 10^38.
        self.checked_add(Quantity {
            nano: -other.nano,
            format: other.format,
        })
    }

    /// The canonical sign, mantissa and suffix Kubernetes writes for this value.
    ///
    /// Works on the magnitude, in `u64` whenever it fits (nearly always): `u128` division is
    /// a library call, `u64` division by a constant is a multiplication.
    fn canonical(&self) -> (bool, u128, Suffix) {
        let negative = self.nano < 0;
        let magnitude = self.nano.unsigned_abs();
        if magnitude == 0 {
            return (false, 0, Suffix::Text(""));
        }
        const UNIT: u128 = NANO_PER_UNIT as u128;
        let format = match self.format {
            Format::BinarySI
                if !(1024 * UNIT..=BINARY_SI_CAP_NANO).contains(&magnitude)
                    || magnitude % UNIT != 0 =>
            {
                // Between -1024 and 1024, or not a whole number: binary suffixes would have
                // to round, so Kubernetes writes these in decimal. Beyond the cap, a binary
                // suffix would read back capped, so these are written in decimal too.
                Format::DecimalSI
            }
            format => format,
        };
        if format == Format::BinarySI {
            // At most the cap, 2^63-1 units: fits in a u64.
            let mut mantissa = (magnitude / UNIT) as u64;
            let mut power = 0;
            while power < BINARY_SUFFIXES.len() - 1 && mantissa % 1024 == 0 {
                mantissa /= 1024;
                power += 1;
            }
            return (
                negative,
                u128::from(mantissa),
                Suffix::Text(BINARY_SUFFIXES[power]),
            );
        }
        // Move every factor of ten into the exponent, then back out until the exponent is a
        // multiple of three. The mantissa never exceeds the magnitude, so this cannot overflow.
        let (mantissa, tens) = strip_tens(magnitude);
        let mut exponent = tens - 9;
        let excess = exponent.rem_euclid(3);
        let mantissa = mantissa * POW10[excess as usize];
        exponent -= excess;
        let suffix = match format {
            Format::DecimalExponent if exponent == 0 => Suffix::Text(""),
            Format::DecimalExponent => Suffix::Exponent(exponent),
            _ => match decimal_si_suffix(exponent) {
                Some(text) => Suffix::Text(text),
                None => Suffix::Exponent(exponent),
            },
        };
        (negative, mantissa, suffix)
    }
}

/// `(m, k)` with `n = m * 10^k` and `m` not a multiple of ten (`n > 0`).
fn strip_tens(n: u128) -> (u128, i32) {
    let mut n = n;
    let mut k = 0;
    loop {
        if let Ok(small) = u64::try_from(n) {
            let (m, more) = strip_tens_u64(small);
            return (u128::from(m), k + more);
        }
        if n % 10 != 0 {
            return (n, k);
        }
        n /= 10;
        k += 1;
    }
}

/// [`strip_tens`] for a `u64`, three zeros at a time first (`n > 0`).
fn strip_tens_u64(mut n: u64) -> (u64, i32) {
    let mut k = 0;
    while n % 1000 == 0 {
        n /= 1000;
        k += 3;
    }
    while n % 10 == 0 {
        n /= 10;
        k += 1;
    }
    (n, k)
}

/// Binary suffixes by power of 1024.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The decimal SI suffix for a power of ten that is a multiple of three, if it has one.
const fn decimal_si_suffix(exponent: i32) -> Option<&'static str> {
    Some(match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

/// The suffix part of a canonical quantity.
enum Suffix {
    /// A fixed suffix (possibly empty).
    Text(&'static str),
    /// `e<exponent>`.
    Exponent(i32),
}

/// `n / d` rounded away from zero (`d > 0`).
const fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let quotient = n / d;
    if n % d == 0 {
        quotient
    } else {
        quotient + n.signum()
    }
}

/// `v` clamped into `i64`.
const fn saturate(v: i128) -> i64 {
    if v > i64::MAX as i128 {
        i64::MAX
    } else if v < i64::MIN as i128 {
        i64::MIN
    } else {
        v as i64
    }
}

/// `v` as an `i64`, if it fits.
const fn checked_i64(v: i128) -> Option<i64> {
    if v > i64::MAX as i128 || v < i64::MIN as i128 {
        None
    } else {
        Some(v as i64)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nano == other.nano
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nano.cmp(&other.nano)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // By value only, as equality is.
        self.nano.hash(state);
    }
}

impl std::ops::Neg for Quantity {
    type Output = Quantity;

    /// The opposite value, in the same format. Cannot overflow: the range is symmetric.
    fn neg(self) -> Quantity {
        Quantity {
            nano: -self.nano,
            format: self.format,
        }
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self}, {})", self.format)
    }
}

/// A canonical quantity written right to left into a fixed buffer, so that writing one never
/// allocates. At most a sign, 39 digits and a 4-byte suffix (`e-27`): 48 bytes is enough.
struct CanonicalText {
    bytes: [u8; 48],
    start: usize,
}

impl CanonicalText {
    fn new(quantity: &Quantity) -> CanonicalText {
        let (negative, mantissa, suffix) = quantity.canonical();
        let mut text = CanonicalText {
            bytes: [0; 48],
            start: 48,
        };
        match suffix {
            Suffix::Text(suffix) => text.prepend(suffix.as_bytes()),
            Suffix::Exponent(exponent) => {
                text.prepend_digits(u128::from(exponent.unsigned_abs()));
                if exponent < 0 {
                    text.prepend(b"-");
                }
                text.prepend(b"e");
            }
        }
        text.prepend_digits(mantissa);
        if negative {
            text.prepend(b"-");
        }
        text
    }

    fn prepend(&mut self, s: &[u8]) {
        let start = self.start - s.len();
        self.bytes[start..self.start].copy_from_slice(s);
        self.start = start;
    }

    /// The decimal digits of `n`, in `u64` arithmetic while it fits.
    fn prepend_digits(&mut self, mut n: u128) {
        while n > u128::from(u64::MAX) {
            self.prepend(&[b'0' + (n % 10) as u8]);
            n /= 10;
        }
        let mut n = n as u64;
        loop {
            self.prepend(&[b'0' + (n % 10) as u8]);
            n /= 10;
            if n == 0 {
                break;
            }
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, signs and suffix letters were written.
        std::str::from_utf8(&self.bytes[self.start..]).unwrap_or_default()
    }
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form. Honors width and alignment (`{:>8}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(CanonicalText::new(self).as_str())
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    /// Parses exactly as Kubernetes' `ParseQuantity`: no surrounding whitespace allowed.
    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        parse(s.as_bytes())
    }
}

impl TryFrom<&K8sQuantity> for Quantity {
    type Error = QuantityError;

    /// Parses the wire form. Surrounding whitespace is ignored, as Kubernetes' JSON decoding
    /// of a quantity ignores it.
    fn try_from(q: &K8sQuantity) -> Result<Quantity, QuantityError> {
        q.0.trim().parse()
    }
}

impl TryFrom<K8sQuantity> for Quantity {
    type Error = QuantityError;

    /// Parses the wire form, as `TryFrom<&K8sQuantity>`.
    fn try_from(q: K8sQuantity) -> Result<Quantity, QuantityError> {
        Quantity::try_from(&q)
    }
}

impl From<Quantity> for K8sQuantity {
    /// The canonical form.
    fn from(q: Quantity) -> K8sQuantity {
        K8sQuantity(q.to_string())
    }
}

impl From<&Quantity> for K8sQuantity {
    /// The canonical form.
    fn from(q: &Quantity) -> K8sQuantity {
        K8sQuantity(q.to_string())
    }
}

impl serde::Serialize for Quantity {
    /// As its canonical string, as Kubernetes serializes quantities.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    /// From a string or a number, as Kubernetes accepts either for a quantity.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        let wire = K8sQuantity::deserialize(deserializer)?;
        Quantity::try_from(&wire).map_err(serde::de::Error::custom)
    }
}

/// Whether the number part scales by powers of ten or of two.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    Ten,
    Two,
}

/// The pieces of a quantity string, as Kubernetes' `parseQuantityString` splits it.
struct Scanned<'a> {
    positive: bool,
    /// Whether the number part (sign, digits and point) contains at least one digit.
    has_digit: bool,
    /// Digits before the point (leading zeros may remain; they are skipped later).
    num: &'a [u8],
    /// Digits after the point.
    denom: &'a [u8],
    suffix: &'a [u8],
}

/// Splits `s` into sign, integer digits, fraction digits and suffix, or
/// [`QuantityError::FormatWrong`] when it does not have that shape.
fn scan(s: &[u8]) -> Result<Scanned<'_>, QuantityError> {
    let end = s.len();
    let mut scanned = Scanned {
        positive: true,
        has_digit: true,
        num: b"",
        denom: b"",
        suffix: b"",
    };
    let mut pos = 0;
    match s.first() {
        Some(b'-') => {
            scanned.positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    let zeros_start = pos;
    while pos < end && s[pos] == b'0' {
        pos += 1;
    }
    if pos == end {
        // Only a sign and zeros (or nothing after the sign): zero.
        return Ok(scanned);
    }
    let num_start = pos;
    pos = skip_digits(s, pos);
    scanned.num = &s[num_start..pos];
    if pos < end && s[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        pos = skip_digits(s, pos);
        scanned.denom = &s[denom_start..pos];
    }
    scanned.has_digit = pos > zeros_start && s[zeros_start..pos].iter().any(u8::is_ascii_digit);
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&s[pos]) {
        pos += 1;
    }
    if pos < end && (s[pos] == b'-' || s[pos] == b'+') {
        pos += 1;
    }
    pos = skip_digits(s, pos);
    if pos != end {
        return Err(QuantityError::FormatWrong);
    }
    scanned.suffix = &s[suffix_start..];
    Ok(scanned)
}

/// The position of the first non-digit at or after `pos`.
fn skip_digits(s: &[u8], mut pos: usize) -> usize {
    while pos < s.len() && s[pos].is_ascii_digit() {
        pos += 1;
    }
    pos
}

/// What a suffix means: its base, its exponent in that base, and the format it implies
/// (Kubernetes' `quantitySuffixer.interpret`).
fn interpret_suffix(suffix: &[u8]) -> Option<(Base, i32, Format)> {
    use Format::{BinarySI, DecimalExponent, DecimalSI};
    Some(match suffix {
        b"" => (Base::Ten, 0, DecimalSI),
        b"n" => (Base::Ten, -9, DecimalSI),
        b"u" => (Base::Ten, -6, DecimalSI),
        b"m" => (Base::Ten, -3, DecimalSI),
        b"k" => (Base::Ten, 3, DecimalSI),
        b"M" => (Base::Ten, 6, DecimalSI),
        b"G" => (Base::Ten, 9, DecimalSI),
        b"T" => (Base::Ten, 12, DecimalSI),
        b"P" => (Base::Ten, 15, DecimalSI),
        b"E" => (Base::Ten, 18, DecimalSI),
        b"Ki" => (Base::Two, 10, BinarySI),
        b"Mi" => (Base::Two, 20, BinarySI),
        b"Gi" => (Base::Two, 30, BinarySI),
        b"Ti" => (Base::Two, 40, BinarySI),
        b"Pi" => (Base::Two, 50, BinarySI),
        b"Ei" => (Base::Two, 60, BinarySI),
        [b'e' | b'E', exponent @ ..] if !exponent.is_empty() => {
            // Kubernetes parses the exponent as an int64 and then converts it to int32,
            // which keeps the low 32 bits; `as` does the same.
            (Base::Ten, parse_i64(exponent)? as i32, DecimalExponent)
        }
        _ => return None,
    })
}

/// A base-10 `i64` with an optional sign, as Go's `strconv.ParseInt(s, 10, 64)`.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude * 10 + i128::from(c - b'0');
        if magnitude > 1 << 63 {
            return None;
        }
    }
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// The significant digits of a number written `head.tail`, leading zeros removed.
struct Digits<'a> {
    head: &'a [u8],
    tail: &'a [u8],
}

impl<'a> Digits<'a> {
    fn new(num: &'a [u8], denom: &'a [u8]) -> Digits<'a> {
        let num = trim_leading_zeros(num);
        if num.is_empty() {
            Digits {
                head: b"",
                tail: trim_leading_zeros(denom),
            }
        } else {
            Digits {
                head: num,
                tail: denom,
            }
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = u8> + '_ {
        self.head.iter().chain(self.tail).map(|c| c - b'0')
    }

    /// The number formed by the first `n` digits, if it fits in a `u128`.
    fn prefix_value(&self, n: usize) -> Option<u128> {
        let mut digits = self.iter().take(n);
        // Up to 19 digits always fit in a u64, which is cheaper to multiply.
        let mut small: u64 = 0;
        for d in digits.by_ref().take(19) {
            small = small * 10 + u64::from(d);
        }
        let mut value = u128::from(small);
        for d in digits {
            value = value.checked_mul(10)?.checked_add(u128::from(d))?;
        }
        Some(value)
    }

    /// Whether any digit from position `n` on is not zero.
    fn any_nonzero_from(&self, n: usize) -> bool {
        self.iter().skip(n).any(|d| d != 0)
    }
}

fn trim_leading_zeros(s: &[u8]) -> &[u8] {
    let zeros = s.iter().take_while(|&&c| c == b'0').count();
    &s[zeros..]
}

/// `10^k` as a `u128`, if it fits.
fn pow10(k: u64) -> Option<u128> {
    POW10.get(usize::try_from(k).ok()?).copied()
}

/// The magnitude in nano-units of `digits × 10^scale`, rounded up to a whole nano-unit.
/// `scale` counts from units: the value of the digits read as an integer is
/// `digits × 10^scale` units, that is `digits × 10^(scale + 9)` nano-units.
fn decimal_nano(digits: &Digits<'_>, scale: i64) -> Result<u128, QuantityError> {
    if digits.is_empty() {
        return Ok(0);
    }
    let len = digits.len() as i64;
    let shift = scale + 9;
    if shift >= 0 {
        // At least 10^(len - 1 + shift): more than 39 digits is beyond 10^38.
        if len + shift > 39 {
            return Err(QuantityError::TooLarge);
        }
        let value = digits
            .prefix_value(len as usize)
            .ok_or(QuantityError::TooLarge)?;
        return value
            .checked_mul(POW10[shift as usize])
            .ok_or(QuantityError::TooLarge);
    }
    // Drop the digits finer than a nano-unit, rounding up if any of them is not zero.
    let keep = len + shift;
    if keep <= 0 {
        return Ok(1);
    }
    if keep > 39 {
        return Err(QuantityError::TooLarge);
    }
    let kept = digits
        .prefix_value(keep as usize)
        .ok_or(QuantityError::TooLarge)?;
    let round_up = u128::from(digits.any_nonzero_from(keep as usize));
    kept.checked_add(round_up).ok_or(QuantityError::TooLarge)
}

/// The magnitude in nano-units of `digits × 2^power / 10^fraction_len`, rounded up to a whole
/// nano-unit and capped at Kubernetes' binary maximum 2⁶³−1.
fn binary_nano(digits: &Digits<'_>, power: u32, fraction_len: usize) -> u128 {
    if digits.is_empty() {
        return 0;
    }
    // Exactly representable while the digits are few and the fraction is at most 9 digits;
    // anything that overflows a u128 on the way is far above the cap.
    let multiplier = 1u128 << power;
    if fraction_len <= 9 {
        let nano = digits
            .prefix_value(digits.len())
            .and_then(|d| d.checked_mul(multiplier))
            .and_then(|d| d.checked_mul(POW10[9 - fraction_len]));
        return nano.map_or(BINARY_SI_CAP_NANO, |n| n.min(BINARY_SI_CAP_NANO));
    }
    let drop = fraction_len - 9;
    if digits.len() <= 19 {
        // digits < 10^19 < 2^64, times at most 2^60: fits in a u128.
        let Some(value) = digits.prefix_value(digits.len()) else {
            return BINARY_SI_CAP_NANO;
        };
        let scaled = value * multiplier;
        let Some(divisor) = pow10(drop as u64) else {
            // The divisor exceeds 10^38 > 2^124 > scaled > 0.
            return 1;
        };
        let nano = scaled.div_ceil(divisor);
        return nano.min(BINARY_SI_CAP_NANO);
    }
    // Many digits: a whole part of 20 or more digits is at least 10^19 > 2^63.
    if digits.head.len() >= 20 {
        return BINARY_SI_CAP_NANO;
    }
    binary_nano_long(digits, power, drop)
}

/// [`binary_nano`] for numbers with more digits than a `u128` holds: multiplies the decimal
/// digits by `2^power` one digit at a time, then drops the last `drop` digits, rounding up.
fn binary_nano_long(digits: &Digits<'_>, power: u32, drop: usize) -> u128 {
    // Least significant digit first, with room for the up to 19 digits 2^60 adds.
    let mut product: Vec<u8> = Vec::with_capacity(digits.len() + 19);
    product.extend(digits.iter().rev());
    for _ in 0..power / 10 {
        let mut carry: u32 = 0;
        for d in product.iter_mut() {
            let v = u32::from(*d) * 1024 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            product.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    if product.len() <= drop {
        return 1; // non-zero, and smaller than a nano-unit
    }
    let round_up = product[..drop].iter().any(|&d| d != 0);
    let mut nano: u128 = 0;
    for &d in product[drop..].iter().rev() {
        match nano
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(d)))
        {
            Some(n) => nano = n,
            None => return BINARY_SI_CAP_NANO,
        }
    }
    (nano + u128::from(round_up)).min(BINARY_SI_CAP_NANO)
}

/// Whether Kubernetes' `ParseQuantity` takes its int64 fast path for a number part without
/// digits (which it reads as one digit, `0`, with no fraction) and this suffix. Only then does
/// such a string parse, as zero; the slow path rejects it.
fn kubernetes_fast_path_for_zero(base: Base, exponent: i32) -> bool {
    match base {
        // Fast unless the scale is below nano.
        Base::Ten => exponent >= -9,
        // Fast while its precision estimate, 15 - len(num) - exponent*3/10 - 1 with
        // len(num) = 1, is not negative: true for Ki to Ti, false for Pi and Ei.
        Base::Two => exponent * 3 / 10 <= 13,
    }
}

/// Kubernetes' `ParseQuantity`.
fn parse(s: &[u8]) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::FormatWrong);
    }
    let scanned = scan(s)?;
    let (base, exponent, mut format) =
        interpret_suffix(scanned.suffix).ok_or(QuantityError::Suffix)?;
    if !scanned.has_digit && !kubernetes_fast_path_for_zero(base, exponent) {
        // Kubernetes' slow path parses the number part again, and fails without a digit.
        return Err(QuantityError::Numeric);
    }
    let digits = Digits::new(scanned.num, scanned.denom);
    let magnitude = match base {
        Base::Ten => {
            let scale = i64::from(exponent) - scanned.denom.len() as i64;
            decimal_nano(&digits, scale)?
        }
        Base::Two => {
            // `exponent` is one of 10, 20, …, 60 for binary suffixes.
            let magnitude = binary_nano(&digits, exponent.unsigned_abs(), scanned.denom.len());
            if magnitude > 0 && magnitude < NANO_PER_UNIT as u128 {
                // Between 0 and 1: Kubernetes switches to decimal to avoid confusion.
                format = Format::DecimalSI;
            }
            magnitude
        }
    };
    if magnitude > MAX_NANO_MAGNITUDE {
        return Err(QuantityError::TooLarge);
    }
    // In range, so the conversion is exact.
    let nano = magnitude as i128;
    Ok(Quantity {
        nano: if scanned.positive { nano } else { -nano },
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        match s.parse() {
            Ok(q) => q,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    /// Parses each input and checks its nano-value, format and canonical form.
    fn check_table(table: &[(&str, i128, Format, &str)]) {
        for &(input, nano, format, canonical) in table {
            let parsed = q(input);
            assert_eq!(parsed.nano_value(), nano, "value of {input:?}");
            assert_eq!(parsed.format(), format, "format of {input:?}");
            assert_eq!(parsed.to_string(), canonical, "canonical form of {input:?}");
            // And the negative of every case, as Kubernetes' test does.
            let negative = q(&format!("-{input}"));
            assert_eq!(negative.nano_value(), -nano, "value of -{input:?}");
            assert_eq!(negative.format(), format, "format of -{input:?}");
            let expected = if nano == 0 {
                "0".to_string()
            } else {
                format!("-{canonical}")
            };
            assert_eq!(
                negative.to_string(),
                expected,
                "canonical form of -{input:?}"
            );
            // And with an explicit plus sign.
            assert_eq!(q(&format!("+{input}")).nano_value(), nano, "+{input:?}");
        }
    }

    const N: i128 = 1;
    const U: i128 = 1_000_000_000;
    const KI: i128 = 1024 * U;
    const MI: i128 = 1024 * KI;
    const GI: i128 = 1024 * MI;
    const TI: i128 = 1024 * GI;
    const PI: i128 = 1024 * TI;
    const EI: i128 = 1024 * PI;
    use Format::{BinarySI as Bin, DecimalExponent as Exp, DecimalSI as Dec};

    #[test]
    fn zero_in_every_suffix_parses_to_zero_and_keeps_the_suffix_kind() {
        check_table(&[
            ("0", 0, Dec, "0"),
            ("0n", 0, Dec, "0"),
            ("0u", 0, Dec, "0"),
            ("0m", 0, Dec, "0"),
            ("0Ki", 0, Bin, "0"),
            ("0k", 0, Dec, "0"),
            ("0Mi", 0, Bin, "0"),
            ("0M", 0, Dec, "0"),
            ("0Gi", 0, Bin, "0"),
            ("0G", 0, Dec, "0"),
            ("0Ti", 0, Bin, "0"),
            ("0T", 0, Dec, "0"),
            ("0e3", 0, Exp, "0"),
            ("000.000", 0, Dec, "0"),
        ]);
    }

    #[test]
    fn binary_suffixes_are_powers_of_1024() {
        check_table(&[
            ("1Ki", KI, Bin, "1Ki"),
            ("8Ki", 8 * KI, Bin, "8Ki"),
            ("7Mi", 7 * MI, Bin, "7Mi"),
            ("6Gi", 6 * GI, Bin, "6Gi"),
            ("5Ti", 5 * TI, Bin, "5Ti"),
            ("4Pi", 4 * PI, Bin, "4Pi"),
            ("3Ei", 3 * EI, Bin, "3Ei"),
            ("10Ti", 10 * TI, Bin, "10Ti"),
            ("100Ti", 100 * TI, Bin, "100Ti"),
            ("100Mi", 100 * MI, Bin, "100Mi"),
        ]);
    }

    #[test]
    fn decimal_si_suffixes_are_powers_of_1000() {
        check_table(&[
            ("1", U, Dec, "1"),
            ("5n", 5 * N, Dec, "5n"),
            ("4u", 4_000 * N, Dec, "4u"),
            ("3m", 3 * 1_000_000, Dec, "3m"),
            ("9", 9 * U, Dec, "9"),
            ("8k", 8_000 * U, Dec, "8k"),
            ("50k", 50_000 * U, Dec, "50k"),
            ("7M", 7_000_000 * U, Dec, "7M"),
            ("6G", 6 * 10i128.pow(18), Dec, "6G"),
            ("5T", 5 * 10i128.pow(21), Dec, "5T"),
            ("40T", 4 * 10i128.pow(22), Dec, "40T"),
            ("300T", 3 * 10i128.pow(23), Dec, "300T"),
            ("2P", 2 * 10i128.pow(24), Dec, "2P"),
            ("1E", 10i128.pow(27), Dec, "1E"),
            ("12E", 12 * 10i128.pow(27), Dec, "12E"),
        ]);
    }

    #[test]
    fn decimal_exponents_are_written_with_an_exponent_that_is_a_multiple_of_three() {
        check_table(&[
            // Kubernetes echoes "1E-3" verbatim here; its computed canonical form is "1e-3".
            ("1E-3", 1_000_000, Exp, "1e-3"),
            ("1e3", 1_000 * U, Exp, "1e3"),
            ("1E6", 10i128.pow(15), Exp, "1e6"),
            ("1e9", 10i128.pow(18), Exp, "1e9"),
            ("1E12", 10i128.pow(21), Exp, "1e12"),
            ("1e15", 10i128.pow(24), Exp, "1e15"),
            ("1E18", 10i128.pow(27), Exp, "1e18"),
            ("1e14", 10i128.pow(23), Exp, "100e12"),
            ("1e13", 10i128.pow(22), Exp, "10e12"),
            ("12e6", 12 * 10i128.pow(15), Exp, "12e6"),
            ("0.5e0", 500_000_000, Exp, "500e-3"),
            ("0.5e-1", 50_000_000, Exp, "50e-3"),
            ("0.5e-2", 5_000_000, Exp, "5e-3"),
            ("1.2e3", 1_200 * U, Exp, "1200"),
            ("1.3E+6", 1_300_000 * U, Exp, "1300e3"),
            ("1.40e9", 14 * 10i128.pow(17), Exp, "1400e6"),
            ("1.53E12", 153 * 10i128.pow(19), Exp, "1530e9"),
            ("1.6e15", 16 * 10i128.pow(23), Exp, "1600e12"),
            ("1.7E18", 17 * 10i128.pow(26), Exp, "1700e15"),
        ]);
    }

    #[test]
    fn fractions_are_written_without_fractional_digits() {
        check_table(&[
            ("100.035k", 100_035 * U, Dec, "100035"),
            ("0.001", 1_000_000, Dec, "1m"),
            ("0.0005k", 500_000_000, Dec, "500m"),
            ("0.005", 5_000_000, Dec, "5m"),
            ("0.05", 50_000_000, Dec, "50m"),
            ("0.5", 500_000_000, Dec, "500m"),
            ("0.00050k", 500_000_000, Dec, "500m"),
            ("0.00500", 5_000_000, Dec, "5m"),
            ("0.05000", 50_000_000, Dec, "50m"),
            ("0.50000", 500_000_000, Dec, "500m"),
            ("10.035M", 10_035_000 * U, Dec, "10035k"),
            ("9.01", 9_010_000_000, Dec, "9010m"),
            ("8.1k", 8_100 * U, Dec, "8100"),
            ("7.123456M", 7_123_456 * U, Dec, "7123456"),
            ("6.987654321G", 6_987_654_321 * U, Dec, "6987654321"),
            ("5.444T", 5_444 * 10i128.pow(18), Dec, "5444G"),
            ("40.1T", 401 * 10i128.pow(20), Dec, "40100G"),
            ("300.2T", 3002 * 10i128.pow(20), Dec, "300200G"),
            ("2.5P", 25 * 10i128.pow(23), Dec, "2500T"),
            ("1.01E", 101 * 10i128.pow(25), Dec, "1010P"),
            ("1.5", 1_500_000_000, Dec, "1500m"),
            ("1000m", U, Dec, "1"),
            ("1500m", 1_500_000_000, Dec, "1500m"),
            ("1000M", 10i128.pow(18), Dec, "1G"),
        ]);
    }

    #[test]
    fn values_finer_than_a_nano_unit_round_up_away_from_zero() {
        check_table(&[
            ("3.001n", 4, Dec, "4n"),
            ("1.1E-9", 2, Exp, "2e-9"),
            ("0.0000000001", 1, Dec, "1n"),
            ("0.0000000005", 1, Dec, "1n"),
            ("0.00000000050", 1, Dec, "1n"),
            ("0.5e-9", 1, Exp, "1e-9"),
            ("0.9n", 1, Dec, "1n"),
            ("0.00000012345", 124, Dec, "124n"),
            ("0.00000012354", 124, Dec, "124n"),
            ("1e-400", 1, Exp, "1e-9"),
            ("0.1m", 100_000, Dec, "100u"),
        ]);
    }

    #[test]
    fn binary_quantities_are_capped_at_two_to_the_63_minus_one() {
        let cap = i128::from(i64::MAX) * U;
        check_table(&[
            ("9Ei", cap, Bin, "9223372036854775807"),
            ("9223372036854775807Ki", cap, Bin, "9223372036854775807"),
            (
                "100000000000000000000000000000000000000000Ei",
                cap,
                Bin,
                "9223372036854775807",
            ),
        ]);
    }

    #[test]
    fn fractional_binary_quantities_fall_back_to_decimal_when_not_whole() {
        check_table(&[
            ("1.5Gi", 1536 * MI, Bin, "1536Mi"),
            ("100.035Ki", 102_435_840_000_000, Bin, "102435840m"),
            ("0.5Mi", 512 * KI, Bin, "512Ki"),
            ("0.05Gi", 53_687_091_200_000_000, Bin, "53687091200m"),
            (
                "0.025Ti",
                27_487_790_694_400_000_000,
                Bin,
                "27487790694400m",
            ),
            ("1024Mi", GI, Bin, "1Gi"),
            (".001Ki", 1_024_000_000, Bin, "1024m"),
            // Below 1, Kubernetes switches the format to DecimalSI.
            (".000001Ki", 1_024_000, Dec, "1024u"),
            (".000000001Ki", 1_024, Dec, "1024n"),
            // Rounds up to 2n, and is below 1.
            (".000000000001Ki", 2, Dec, "2n"),
            ("0.000000000001Ki", 2, Dec, "2n"),
            // A long fraction is still exact: 1.0000000000000000000001Ki = 1024 + 1.024e-19.
            ("1.0000000000000000000001Ki", KI + 1, Bin, "1024000000001n"),
            ("512", 512 * U, Dec, "512"),
        ]);
        // Below 1024 in magnitude, BinarySI is written as decimal.
        assert_eq!(Quantity::from_bytes_binary(5).to_string(), "5");
        assert_eq!(Quantity::from_bytes_binary(1025).to_string(), "1025");
        assert_eq!(
            Quantity::from_milli(500).with_format(Bin).to_string(),
            "500m"
        );
    }

    #[test]
    fn odd_but_valid_spellings_parse_as_kubernetes_parses_them() {
        check_table(&[
            (".001", 1_000_000, Dec, "1m"),
            (".0001k", 100_000_000, Dec, "100m"),
            ("1.", U, Dec, "1"),
            ("1.G", U * U, Dec, "1G"),
            ("0100Mi", 100 * MI, Bin, "100Mi"),
            ("1e+3", 1_000 * U, Exp, "1e3"),
            ("1e003", 1_000 * U, Exp, "1e3"),
            // A point or a suffix alone is a zero to Kubernetes.
            (".", 0, Dec, "0"),
            ("k", 0, Dec, "0"),
            ("Mi", 0, Bin, "0"),
            ("Ti", 0, Bin, "0"),
            ("e3", 0, Exp, "0"),
            // Kubernetes converts the parsed exponent to int32, keeping the low 32 bits.
            ("1e4294967296", U, Exp, "1"),
        ]);
    }

    #[test]
    fn malformed_quantities_are_rejected_with_kubernetes_messages() {
        let table: &[(&str, QuantityError)] = &[
            ("", QuantityError::FormatWrong),
            ("1.1.M", QuantityError::FormatWrong),
            ("1+1.0M", QuantityError::FormatWrong),
            ("0.1am", QuantityError::FormatWrong),
            ("aoeu", QuantityError::FormatWrong),
            (" 1", QuantityError::FormatWrong),
            ("1 ", QuantityError::FormatWrong),
            ("1e3.5", QuantityError::FormatWrong),
            ("Non-Numeric", QuantityError::FormatWrong),
            ("0.1mi", QuantityError::Suffix),
            (".5i", QuantityError::Suffix),
            ("1i", QuantityError::Suffix),
            ("-3.01i", QuantityError::Suffix),
            ("-3.01e-", QuantityError::Suffix),
            ("1ki", QuantityError::Suffix),
            ("1KI", QuantityError::FormatWrong),
            ("--", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1ee5", QuantityError::Suffix),
            ("1e99999999999999999999", QuantityError::Suffix),
            ("+e-10", QuantityError::Numeric),
            ("-.e-10", QuantityError::Numeric),
            // Kubernetes' binary fast path gives up on Pi and Ei before looking at digits.
            ("Pi", QuantityError::Numeric),
            ("-Ei", QuantityError::Numeric),
        ];
        for &(input, error) in table {
            assert_eq!(input.parse::<Quantity>(), Err(error), "{input:?}");
        }
        assert_eq!(
            QuantityError::FormatWrong.to_string(),
            "quantities must match the regular expression \
             '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            QuantityError::Numeric.to_string(),
            "unable to parse numeric part of quantity"
        );
        assert_eq!(
            QuantityError::Suffix.to_string(),
            "unable to parse quantity's suffix"
        );
    }

    #[test]
    fn huge_values_are_an_error_not_an_overflow() {
        for input in [
            "1e30",
            "100000000000000000000000000001",
            "1000000000000000000000000000000000000000000000000",
            "340282366920938463463374607431768211456E",
            "1e2147483647",
            "9999999999999999999999999999999999999999999999999999999999e-20",
        ] {
            assert_eq!(
                input.parse::<Quantity>(),
                Err(QuantityError::TooLarge),
                "{input}"
            );
        }
        // The largest value there is still parses and round-trips.
        let max = q("1e29");
        assert_eq!(max.nano_value(), Quantity::MAX_NANO);
        assert_eq!(q(&max.to_string()), max);
        assert_eq!(
            max.checked_add(Quantity::from_nano(1, Dec).unwrap_or_default()),
            None
        );
        assert_eq!((-max).checked_sub(Quantity::from_milli(1)), None);
        assert_eq!(max.value(), i64::MAX);
        assert_eq!((-max).milli_value(), i64::MIN);
        assert_eq!(max.checked_value(), None);
        assert_eq!(
            Quantity::from_nano(Quantity::MAX_NANO + 1, Dec),
            Err(QuantityError::TooLarge)
        );
    }

    #[test]
    fn decimal_values_beyond_the_exa_suffix_are_written_as_exponents() {
        assert_eq!(q("1000E").to_string(), "1e21");
        assert_eq!(q("5000E").to_string(), "5e21");
        assert_eq!(q("1000000E").to_string(), "1e24");
        assert_eq!(q("1e21"), q("1000E"));
        // Binary values up to the cap keep binary suffixes; beyond it they are decimal, as a
        // binary suffix would read back capped.
        let at_cap = Quantity::from_bytes_binary(7 << 60);
        assert_eq!(at_cap.to_string(), "7Ei");
        let beyond_cap = Quantity::from_nano(8 * EI, Bin).unwrap_or_default();
        assert_eq!(beyond_cap.to_string(), "9223372036854775808");
        assert_eq!(q("9223372036854775808"), beyond_cap);
        assert_eq!(
            Quantity::from_bytes_binary(i64::MIN).to_string(),
            "-9223372036854775808"
        );
        // A sign alone is zero.
        assert_eq!(q("-"), Quantity::ZERO);
        assert_eq!(q("+"), Quantity::ZERO);
    }

    #[test]
    fn value_and_milli_value_round_away_from_zero() {
        let table: &[(&str, i64, i64)] = &[
            ("1.5", 2, 1500),
            ("-1.5", -2, -1500),
            ("1n", 1, 1),
            ("-1n", -1, -1),
            ("100m", 1, 100),
            ("0.1m", 1, 1),
            ("1Gi", 1 << 30, 1000 << 30),
            ("9.01", 10, 9010),
            ("0", 0, 0),
        ];
        for &(input, value, milli) in table {
            assert_eq!(q(input).value(), value, "value of {input}");
            assert_eq!(q(input).milli_value(), milli, "milli value of {input}");
            assert_eq!(
                q(input).checked_value(),
                Some(value),
                "checked value of {input}"
            );
        }
    }

    #[test]
    fn resource_amounts_below_a_milli_unit_round_up_to_1m() {
        assert_eq!(q("0.1m").round_up_to_milli().to_string(), "1m");
        assert_eq!(q("100u").round_up_to_milli().to_string(), "1m");
        assert_eq!(q("1n").round_up_to_milli().to_string(), "1m");
        assert_eq!(q("-1n").round_up_to_milli().to_string(), "-1m");
        assert_eq!(q("1.0001").round_up_to_milli().to_string(), "1001m");
        assert_eq!(q("250m").round_up_to_milli().to_string(), "250m");
        assert_eq!(q("1Gi").round_up_to_milli().to_string(), "1Gi");
    }

    #[test]
    fn constructors_write_like_kubernetes_new_quantity() {
        assert_eq!(Quantity::from_milli(1).to_string(), "1m");
        assert_eq!(Quantity::from_milli(1000).to_string(), "1");
        assert_eq!(Quantity::from_milli(1_234_000).to_string(), "1234");
        assert_eq!(
            Quantity::from_milli(1024).with_format(Bin).to_string(),
            "1024m"
        );
        assert_eq!(Quantity::from_value(1000).to_string(), "1k");
        assert_eq!(Quantity::from_value(1_234_000).to_string(), "1234k");
        assert_eq!(
            Quantity::from_value(1_000_000).with_format(Exp).to_string(),
            "1e6"
        );
        assert_eq!(Quantity::from_bytes_binary(1024).to_string(), "1Ki");
        assert_eq!(Quantity::from_bytes_binary(1024 * 1024).to_string(), "1Mi");
        assert_eq!(Quantity::from_bytes_binary(300 << 20).to_string(), "300Mi");
        assert_eq!(
            Quantity::from_bytes_binary(1001 << 30).to_string(),
            "1001Gi"
        );
        assert_eq!(Quantity::from_milli(-9010).to_string(), "-9010m");
        assert_eq!(Quantity::from_bytes_binary(i64::MAX).value(), i64::MAX);
        assert_eq!(Quantity::from_milli(i64::MIN).milli_value(), i64::MIN);
    }

    #[test]
    fn equality_and_ordering_are_by_value_whatever_the_format() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1e3"), q("1k"));
        assert!(q("100m") > q("50m"));
        assert!(q("10000T") > q("100Gi"));
        assert!(q("-1") < q("1n"));
        let mut set = std::collections::HashSet::new();
        set.insert(q("1Ki"));
        assert!(set.contains(&q("1024")));
    }

    #[test]
    fn adding_to_zero_takes_the_other_format() {
        for input in ["100m", "1Gi"] {
            let value = q(input);
            assert_eq!(
                value.checked_add(Quantity::ZERO).map(|v| v.to_string()),
                Some(input.into())
            );
            assert_eq!(
                Quantity::ZERO.checked_add(value).map(|v| v.to_string()),
                Some(input.into())
            );
            assert_eq!(
                value.checked_sub(Quantity::ZERO).map(|v| v.to_string()),
                Some(input.into())
            );
            assert_eq!(
                Quantity::ZERO.checked_sub(value).map(|v| v.to_string()),
                Some(format!("-{input}"))
            );
        }
        assert_eq!(
            q("1Gi").checked_add(q("512Mi")).map(|v| v.to_string()),
            Some("1536Mi".into())
        );
        assert_eq!(
            q("1").checked_sub(q("250m")).map(|v| v.to_string()),
            Some("750m".into())
        );
    }

    #[test]
    fn wire_quantities_convert_both_ways() {
        let wire = K8sQuantity("1.5Gi".into());
        let parsed = Quantity::try_from(&wire);
        assert_eq!(parsed, Ok(q("1536Mi")));
        assert_eq!(K8sQuantity::from(q("1.5Gi")), K8sQuantity("1536Mi".into()));
        // Kubernetes' JSON decoding ignores surrounding whitespace.
        assert_eq!(Quantity::try_from(K8sQuantity(" 1 ".into())), Ok(q("1")));
        assert_eq!(
            Quantity::try_from(K8sQuantity("1 1".into())),
            Err(QuantityError::FormatWrong)
        );
    }

    #[test]
    fn serde_accepts_strings_and_numbers_and_writes_canonical_strings() {
        let from_string: Result<Quantity, _> = serde_json::from_str("\"0.5\"");
        assert_eq!(from_string.ok(), Some(q("500m")));
        let from_number: Result<Quantity, _> = serde_json::from_str("2");
        assert_eq!(from_number.ok(), Some(q("2")));
        let written = serde_json::to_string(&q("1.5Gi")).ok();
        assert_eq!(written.as_deref(), Some("\"1536Mi\""));
        assert!(serde_json::from_str::<Quantity>("\"1i\"").is_err());
    }

    #[test]
    fn display_honors_width_and_alignment() {
        assert_eq!(format!("{:>6}|", q("1Ki")), "   1Ki|");
        assert_eq!(format!("{:<6}|", q("-1m")), "-1m   |");
    }

    /// Any quantity the type can hold, in any format.
    fn any_quantity() -> impl Strategy<Value = Quantity> {
        let nano = prop_oneof![
            // Anything in range.
            -Quantity::MAX_NANO..=Quantity::MAX_NANO,
            // Small values with few significant digits, near typical resource amounts.
            (-1_000_000i128..1_000_000, 0u32..30).prop_map(|(m, e)| m * 10i128.pow(e)),
            // Whole multiples of powers of 1024.
            (-100_000i128..100_000, 0u32..7).prop_map(|(m, p)| m * 1024i128.pow(p) * U),
        ];
        let format = prop_oneof![Just(Dec), Just(Bin), Just(Exp)];
        (nano, format).prop_filter_map("in range", |(nano, format)| {
            Quantity::from_nano(nano, format).ok()
        })
    }

    /// A multiplier in nano-units for each suffix that needs no rounding of integer mantissas.
    fn any_suffix() -> impl Strategy<Value = (&'static str, i128)> {
        prop_oneof![
            Just(("n", 1)),
            Just(("u", 1_000)),
            Just(("m", 1_000_000)),
            Just(("", U)),
            Just(("k", 1_000 * U)),
            Just(("M", 1_000_000 * U)),
            Just(("G", 10i128.pow(18))),
            Just(("T", 10i128.pow(21))),
            Just(("P", 10i128.pow(24))),
            Just(("Ki", KI)),
            Just(("Mi", MI)),
            Just(("Gi", GI)),
            Just(("e-9", 1)),
            Just(("e-3", 1_000_000)),
            Just(("e0", U)),
            Just(("e2", 100 * U)),
            Just(("E7", 10_000_000 * U)),
        ]
    }

    proptest! {
        #[test]
        fn parsing_the_canonical_form_gives_back_the_same_value(quantity in any_quantity()) {
            let written = quantity.to_string();
            let reparsed: Quantity = written.parse().map_err(|e| {
                TestCaseError::fail(format!("{written:?} does not parse: {e}"))
            })?;
            prop_assert_eq!(reparsed, quantity, "via {:?}", written);
            // Writing is stable: the same again when the format survived the trip (it does not
            // when, say, a BinarySI value is written without a binary suffix and so reads back
            // as DecimalSI), and from then on in any case.
            let rewritten = reparsed.to_string();
            if reparsed.format() == quantity.format() {
                prop_assert_eq!(&rewritten, &written);
            }
            let again = rewritten.parse::<Quantity>().map(|q| q.to_string());
            prop_assert_eq!(again, Ok(rewritten));
        }

        #[test]
        fn ordering_agrees_with_numeric_value(a in any_quantity(), b in any_quantity()) {
            prop_assert_eq!(a.cmp(&b), a.nano_value().cmp(&b.nano_value()));
            prop_assert_eq!(a == b, a.nano_value() == b.nano_value());
        }

        #[test]
        fn parsed_values_match_mantissa_times_suffix_and_order_by_it(
            a in (-1_000_000_000i64..1_000_000_000, any_suffix()),
            b in (-1_000_000_000i64..1_000_000_000, any_suffix()),
        ) {
            let (ma, (sa, fa)) = a;
            let (mb, (sb, fb)) = b;
            let qa = q(&format!("{ma}{sa}"));
            let qb = q(&format!("{mb}{sb}"));
            prop_assert_eq!(qa.nano_value(), i128::from(ma) * fa);
            prop_assert_eq!(qb.nano_value(), i128::from(mb) * fb);
            prop_assert_eq!(qa.cmp(&qb), (i128::from(ma) * fa).cmp(&(i128::from(mb) * fb)));
        }

        #[test]
        fn decimal_fractions_are_exact_up_to_nano_rounding(
            whole in 0u64..1_000_000_000,
            fraction in "[0-9]{1,12}",
            negative in any::<bool>(),
            suffix in any_suffix(),
        ) {
            let (suffix, multiplier) = suffix;
            let sign = if negative { "-" } else { "" };
            let parsed = q(&format!("{sign}{whole}.{fraction}{suffix}"));
            // Exact: whole·multiplier + fraction·multiplier / 10^f, rounded away from zero.
            let f = fraction.len() as u32;
            let fraction_nano = fraction.parse::<i128>().unwrap_or_default() * multiplier;
            let magnitude = i128::from(whole) * multiplier
                + fraction_nano / 10i128.pow(f)
                + i128::from(fraction_nano % 10i128.pow(f) != 0);
            let expected = if negative { -magnitude } else { magnitude };
            prop_assert_eq!(parsed.nano_value(), expected);
        }

        #[test]
        fn arbitrary_strings_never_panic_the_parser(input in "\\PC*") {
            let _ = input.parse::<Quantity>();
        }

        #[test]
        fn quantity_like_strings_never_panic_and_round_trip_when_valid(
            input in "[+-]?[0-9.]{0,45}[eEinumkKMGTP]{0,3}[-+]?[0-9]{0,12}",
        ) {
            if let Ok(parsed) = input.parse::<Quantity>() {
                let written = parsed.to_string();
                prop_assert_eq!(written.parse::<Quantity>(), Ok(parsed), "{:?} via {:?}", input, written);
                let _ = parsed.value();
                let _ = parsed.milli_value();
            }
        }

        #[test]
        fn arithmetic_is_checked_and_exact(a in any_quantity(), b in any_quantity()) {
            let in_range = |v: &i128| v.unsigned_abs() <= MAX_NANO_MAGNITUDE;
            let sum = a.nano_value().checked_add(b.nano_value()).filter(in_range);
            prop_assert_eq!(a.checked_add(b).map(|s| s.nano_value()), sum);
            let difference = a.nano_value().checked_sub(b.nano_value()).filter(in_range);
            prop_assert_eq!(a.checked_sub(b).map(|d| d.nano_value()), difference);
        }
    }
}
