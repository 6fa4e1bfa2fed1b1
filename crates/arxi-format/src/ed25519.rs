//! arxi's one Ed25519 verification rule (`Docs/format.md` §3): cofactored,
//! with a canonical `S`, and `R` refused when not canonically encoded or of
//! small order.
//!
//! A signature `(R, S)` by public key `A` over message `M` is accepted when
//!
//! 1. `S`, read as a little-endian integer, is below the group order `L`;
//! 2. the low 255 bits of `R` (its y coordinate) are below `p = 2^255 - 19`
//!    and are not the y coordinate of a point of small order (0, 1, `p - 1`
//!    and the two y values of the points of order 8, whatever the sign bit);
//! 3. `R` decodes to a curve point;
//! 4. `[8]([S]B - [k]A - R)` is the identity, where
//!    `k = SHA-512(R || A || M) mod L`.
//!
//! `A` itself was checked when the key was loaded ([`crate::PublicKey`]):
//! canonical encoding, on the curve, not of small order.
//!
//! Why cofactored: the same equation holds for one signature and for a
//! random linear combination of many (a batch) in exactly the same cases,
//! so a batched verifier, a one-by-one verifier and one with worker threads
//! reach the same verdict on every input (up to a batch weight collision,
//! probability about 2^-128). The cofactorless equation (`verify_strict`)
//! does not have that property: a signature whose `R` or key carries a
//! small-order component, which only the key holder can make, fails it
//! alone and passes a batch whenever the random weight cancels that
//! component. The rejected alternative was keeping the cofactorless
//! equation and proving every `R` free of small-order components, which
//! costs a scalar multiplication per signature, as much as the check
//! itself.
//!
//! Rule 2 is stated on bytes so that it costs nothing in a batch: for a
//! point with `x != 0`, `y < p` is exactly a canonical encoding, and the
//! points with `x = 0` (`y = 1` and `y = p - 1`) have small order and are
//! refused by the second half of the rule anyway.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest as _, Sha512};

/// The group order `L = 2^252 + 27742317777372353535851937790883648493`,
/// little-endian.
pub const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// The field prime `p = 2^255 - 19`, little-endian.
const FIELD_PRIME: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// The y coordinates (little-endian, sign bit clear) of the eight points
/// of small order: the identity (y = 1), the point of order 2 (y = p - 1),
/// the two of order 4 (y = 0) and the four of order 8 (two y values).
pub const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [0; 32],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// `a < b` for 32-byte little-endian numbers.
fn less_than(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for index in (0..32).rev() {
        if a[index] != b[index] {
            return a[index] < b[index];
        }
    }
    false
}

/// Splits a signature into its `R` and `S` halves.
pub fn halves(signature: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0_u8; 32];
    let mut s = [0_u8; 32];
    r.copy_from_slice(&signature[..32]);
    s.copy_from_slice(&signature[32..]);
    (r, s)
}

/// Rules 1 and 2 of the module documentation, on bytes alone: `S < L`, and
/// `R`'s y coordinate below `p` and not that of a point of small order.
pub fn precheck(signature: &[u8; 64]) -> bool {
    let (r, s) = halves(signature);
    if !less_than(&s, &GROUP_ORDER) {
        return false;
    }
    let mut y = r;
    y[31] &= 0x7f;
    less_than(&y, &FIELD_PRIME) && !SMALL_ORDER_Y.contains(&y)
}

/// The challenge `k = SHA-512(R || A || M) mod L`, with the message given
/// in pieces (arxi's is `context || 0x00 || hash`).
pub fn challenge(r: &[u8; 32], public_key: &[u8; 32], message: &[&[u8]]) -> Scalar {
    let mut hasher = Sha512::new().chain_update(r).chain_update(public_key);
    for part in message {
        hasher.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

/// The whole rule for one signature by the key whose (already checked)
/// point is `key_point` and encoding `key_bytes`.
pub fn verify(
    key_point: &EdwardsPoint,
    key_bytes: &[u8; 32],
    message: &[&[u8]],
    signature: &[u8; 64],
) -> bool {
    if !precheck(signature) {
        return false;
    }
    let (r_bytes, s_bytes) = halves(signature);
    let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
        return false;
    };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let k = challenge(&r_bytes, key_bytes, message);
    let difference = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key_point, &s) - r;
    difference.mul_by_cofactor().is_identity()
}

/// `[8]P` is the identity: `P` has small order.
pub fn has_small_order(point: &EdwardsPoint) -> bool {
    point.mul_by_cofactor().is_identity()
}

/// The base point `B`, for batch equations built on this rule.
pub const BASEPOINT: EdwardsPoint = ED25519_BASEPOINT_POINT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_y_values_are_exactly_the_torsion_points() {
        for y in &SMALL_ORDER_Y {
            for sign in [0_u8, 0x80] {
                let mut encoding = *y;
                encoding[31] |= sign;
                let point = CompressedEdwardsY(encoding)
                    .decompress()
                    .expect("every small-order y decodes with either sign");
                assert!(has_small_order(&point), "{encoding:02x?}");
            }
        }
        // A point of large order is not among them.
        let mut y = ED25519_BASEPOINT_POINT.compress().to_bytes();
        y[31] &= 0x7f;
        assert!(!SMALL_ORDER_Y.contains(&y));
    }

    #[test]
    fn precheck_refuses_large_s_non_canonical_and_small_order_r() {
        let mut signature = [0_u8; 64];
        signature[..32].copy_from_slice(ED25519_BASEPOINT_POINT.compress().as_bytes());
        assert!(precheck(&signature), "R = B, S = 0");
        let mut large_s = signature;
        large_s[32..].copy_from_slice(&GROUP_ORDER);
        assert!(!precheck(&large_s), "S = L");
        let mut non_canonical = signature;
        non_canonical[..32].copy_from_slice(&FIELD_PRIME);
        assert!(!precheck(&non_canonical), "y = p");
        for y in &SMALL_ORDER_Y {
            let mut small = signature;
            small[..32].copy_from_slice(y);
            small[31] |= 0x80;
            assert!(!precheck(&small), "small order with the sign bit");
        }
    }
}
