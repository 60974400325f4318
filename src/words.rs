//! Eight bytes at a time: what the byte scanners share (the one-line
//! check of messages and codes, byte search, the request id's check, the
//! body-verdict key, the quota scope's user-info test). Each reads a text
//! as little-endian words, the first byte the lowest, and tests all eight
//! bytes with a few arithmetic operations.

/// `0x01` in every byte: `ONES * b` is `b` in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
pub(crate) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes as one little-endian word. `chunk` is eight bytes long,
/// as `chunks_exact(8)` gives them.
#[inline(always)]
pub(crate) fn word(chunk: &[u8]) -> u64 {
    let mut array = [0; 8];
    array.copy_from_slice(chunk);
    u64::from_le_bytes(array)
}

/// 0x80 in each byte of `word` that is zero, and 0 in every other (exact:
/// no borrow runs from one byte into the next).
#[inline(always)]
pub(crate) fn zero_bytes(word: u64) -> u64 {
    let low = (word & !HIGHS).wrapping_add(!HIGHS);
    !(low | word | !HIGHS)
}

/// Whether some byte of `word` is outside `low..=high`, an ASCII range
/// (`1 <= low <= high < 0x7f`); a byte that is not ASCII always is.
#[inline(always)]
pub(crate) fn any_outside(word: u64, low: u8, high: u8) -> bool {
    // Below `low`: subtracting it borrows into a clear high bit (exact
    // as a yes or no for the word). Above `high`: adding what takes
    // `high` to 0x7f carries the low seven bits into the high bit, and
    // no further. A high bit set to begin with: not ASCII.
    let below = word.wrapping_sub(ONES * u64::from(low)) & !word;
    let above = (word & !HIGHS).wrapping_add(ONES * u64::from(0x7f - high)) | word;
    (below | above) & HIGHS != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value, at every position of a word, against a byte at
    /// a time, for the ranges the scanners use.
    #[test]
    fn words_agree_with_bytes() {
        for (low, high) in [(0x20, 0x7e), (0x21, 0x7e), (b'a', b'z'), (b'0', b'9')] {
            for at in 0..8 {
                for byte in 0..=255u8 {
                    let mut bytes = [low; 8];
                    bytes[at] = byte;
                    let expected = !(low..=high).contains(&byte);
                    assert_eq!(
                        any_outside(word(&bytes), low, high),
                        expected,
                        "{byte:#x} at {at}"
                    );
                    let zeros = zero_bytes(word(&bytes));
                    let zero_at = |i: usize| bytes[i] == 0;
                    for i in 0..8 {
                        assert_eq!(zeros >> (8 * i + 7) & 1 == 1, zero_at(i));
                    }
                }
            }
        }
    }
}
