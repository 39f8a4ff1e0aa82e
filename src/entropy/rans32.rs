//! Decoding of 32 interleaved rANS states that share one 16-bit word stream (stream layout v2
//! of the lossless float codec, [`crate::codec::segmented`]): symbol `i` belongs to state
//! `i % 32`, and at each group of 32 symbols the states that renormalise take the next words
//! in state order. AVX2 when the CPU has it (chosen at run time), otherwise scalar; both give
//! the same symbols, the same final states, the same word count and the same errors.
//!
//! The AVX2 path follows Giesen's `rans_word_sse41.h` (ryg_rans, public domain): gathered
//! slot lookups, a multiply-add per state, and renormalisation by a movemask, a popcount and a
//! permutation from a 256-entry table that sends the next words to the states that need them;
//! here 4 x 8 states per group of 32 symbols.

use crate::entropy::rans::{DecTable, RANS_L};
use crate::error::{Error, Result};

/// States per stream: one GPU warp.
pub const STATES: usize = 32;

const _: () = assert!(RANS_L.is_power_of_two());

/// A decode table packed one `u32` per slot for gathers: `symbol | bias << 8 | (freq - 1) <<
/// 20`. Needs symbols below 256 and at most 12 bits of probability resolution.
#[derive(Debug, Clone)]
pub struct PackedSlots {
    slots: Vec<u32>,
    scale_bits: u32,
}

impl PackedSlots {
    /// Pack `t`. Errors: `Corrupt` if a symbol is 256 or more or the resolution exceeds 12 bits.
    pub fn new(t: &DecTable) -> Result<PackedSlots> {
        if t.scale_bits > 12 {
            return Err(Error::Corrupt("packed rANS table above 12 bits".into()));
        }
        let slots = t
            .slots
            .iter()
            .map(|s| {
                if s.sym > 255 || s.freq == 0 {
                    Err(Error::Corrupt("packed rANS table symbol".into()))
                } else {
                    Ok(s.sym as u32 | (s.bias as u32) << 8 | (s.freq as u32 - 1) << 20)
                }
            })
            .collect::<Result<_>>()?;
        Ok(PackedSlots {
            slots,
            scale_bits: t.scale_bits,
        })
    }
}

/// Decode `syms.len()` symbols from the 32 states `x` and the little-endian 16-bit `words`,
/// writing the symbols and leaving the final states in `x`. Returns the words consumed.
/// Errors: `Corrupt` when a state needs a word past the end of `words` (the caller checks that
/// every word was consumed and the final states). Uses AVX2 when the CPU has it.
pub fn decode(
    x: &mut [u32; STATES],
    t: &PackedSlots,
    words: &[u8],
    syms: &mut [u8],
) -> Result<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            return unsafe { avx2::decode(x, t, words, syms) };
        }
    }
    decode_scalar(x, t, words, syms)
}

/// The scalar decoder from symbol `from` on (a multiple of 32), `k` words already consumed:
/// the whole of [`decode_scalar`], and the AVX2 decoder's last partial group.
fn decode_from(
    x: &mut [u32; STATES],
    t: &PackedSlots,
    words: &[u8],
    syms: &mut [u8],
    from: usize,
    mut k: usize,
) -> Result<usize> {
    let w = words.len() / 2;
    let mask = (1u32 << t.scale_bits) - 1;
    for (i, sym) in syms.iter_mut().enumerate().skip(from) {
        let st = &mut x[i % STATES];
        let slot = t.slots[(*st & mask) as usize];
        let q = *st >> t.scale_bits;
        *sym = slot as u8;
        *st = (slot >> 20) * q + q + ((slot >> 8) & 0xfff);
        if *st < RANS_L {
            if k >= w {
                return Err(Error::Corrupt("lossless-v2 words exhausted".into()));
            }
            *st = (*st << 16) | u16::from_le_bytes([words[2 * k], words[2 * k + 1]]) as u32;
            k += 1;
        }
    }
    Ok(k)
}

/// The portable decoder (what [`decode`] uses without AVX2), same contract; public for tests
/// and benchmarks.
pub fn decode_scalar(
    x: &mut [u32; STATES],
    t: &PackedSlots,
    words: &[u8],
    syms: &mut [u8],
) -> Result<usize> {
    decode_from(x, t, words, syms, 0, 0)
}

/// The AVX2 decoder if this CPU has AVX2, for tests that compare it with [`decode_scalar`];
/// `None` otherwise.
pub fn decode_avx2(
    x: &mut [u32; STATES],
    t: &PackedSlots,
    words: &[u8],
    syms: &mut [u8],
) -> Option<Result<usize>> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            return Some(unsafe { avx2::decode(x, t, words, syms) });
        }
    }
    let _ = (x, t, words, syms);
    None
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{decode_from, PackedSlots, STATES};
    use crate::entropy::rans::RANS_L;
    use crate::error::{Error, Result};
    use std::arch::x86_64::*;

    /// `PERM[m][i]`: for the 8 states of a group whose renormalisation mask is `m`, the index
    /// among the next 8 words of the word state `i` takes (the number of needing states before
    /// it).
    static PERM: [[u32; 8]; 256] = {
        let mut t = [[0u32; 8]; 256];
        let mut m = 0;
        while m < 256 {
            let mut i = 0;
            while i < 8 {
                t[m][i] = (m & ((1 << i) - 1)).count_ones();
                i += 1;
            }
            m += 1;
        }
        t
    };

    /// The constants of one table's decode.
    #[derive(Clone, Copy)]
    struct Consts {
        mask: __m256i,
        sb: __m128i,
        m12: __m256i,
        lbits: __m128i,
        table: *const i32,
    }

    /// One decode step of 8 states `s`: the gathered slots, the updated states before
    /// renormalisation, the lanes that need a word (all ones) and their movemask.
    ///
    /// # Safety
    /// The CPU must have AVX2; `c.table` must have `2^scale_bits` entries (states are masked to
    /// that range before the gather).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn step(s: __m256i, c: &Consts) -> (__m256i, __m256i, __m256i, usize) {
        let slot = _mm256_i32gather_epi32::<4>(c.table, _mm256_and_si256(s, c.mask));
        let q = _mm256_srl_epi32(s, c.sb);
        let fm1 = _mm256_srli_epi32::<20>(slot);
        let bias = _mm256_and_si256(_mm256_srli_epi32::<8>(slot), c.m12);
        let y = _mm256_add_epi32(_mm256_mullo_epi32(fm1, q), _mm256_add_epi32(q, bias));
        let need = _mm256_cmpeq_epi32(_mm256_srl_epi32(y, c.lbits), _mm256_setzero_si256());
        let bits = _mm256_movemask_ps(_mm256_castsi256_ps(need)) as usize;
        (slot, y, need, bits)
    }

    /// `y` with the lanes in `need` (movemask `bits`) renormalised from the 8 words of `raw`,
    /// taken in lane order.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn take_words(y: __m256i, need: __m256i, bits: usize, raw: __m128i) -> __m256i {
        let perm = _mm256_loadu_si256(PERM[bits].as_ptr() as *const __m256i);
        let taken = _mm256_permutevar8x32_epi32(_mm256_cvtepu16_epi32(raw), perm);
        let ny = _mm256_or_si256(_mm256_slli_epi32::<16>(y), taken);
        _mm256_blendv_epi8(y, ny, need)
    }

    /// Low bytes of a group's 32 slots, in symbol order, stored at `out`.
    ///
    /// # Safety
    /// The CPU must have AVX2; `out` must be valid for 32 bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store_symbols(sy: &[__m256i; 4], out: *mut u8) {
        let m8 = _mm256_set1_epi32(0xff);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let a = _mm256_packus_epi32(_mm256_and_si256(sy[0], m8), _mm256_and_si256(sy[1], m8));
        let b = _mm256_packus_epi32(_mm256_and_si256(sy[2], m8), _mm256_and_si256(sy[3], m8));
        let c = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), order);
        _mm256_storeu_si256(out as *mut __m256i, c);
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn decode(
        x: &mut [u32; STATES],
        t: &PackedSlots,
        words: &[u8],
        syms: &mut [u8],
    ) -> Result<usize> {
        let w = words.len() / 2;
        let groups = syms.len() / STATES;
        let c = Consts {
            mask: _mm256_set1_epi32(((1u32 << t.scale_bits) - 1) as i32),
            sb: _mm_cvtsi32_si128(t.scale_bits as i32),
            m12: _mm256_set1_epi32(0xfff),
            // A state renormalises when it falls below RANS_L, a power of two.
            lbits: _mm_cvtsi32_si128(RANS_L.trailing_zeros() as i32),
            table: t.slots.as_ptr() as *const i32,
        };
        let zero = _mm256_setzero_si256();
        // SAFETY (loads/stores below): `x` holds 32 u32 = 4 vectors; symbol stores write
        // syms[32 g .. 32 g + 32) for g < groups; word loads read 16 bytes at 2k only when
        // k + 8 <= w (the branch-free path runs a group only when k + 32 <= w at its start, and
        // each of its 4 vectors takes at most 8 words); gathers index the table with
        // `state & mask`, below its 2^scale_bits entries (PackedSlots has exactly that many).
        let mut v = [zero; 4];
        for (j, vj) in v.iter_mut().enumerate() {
            *vj = _mm256_loadu_si256(x.as_ptr().add(8 * j) as *const __m256i);
        }
        let mut k = 0usize;
        for g in 0..groups {
            let mut sy = [zero; 4];
            // A group takes at most 32 words: while they are all in bounds, every 16-byte word
            // load stays inside `words` and renormalisation needs no branch (a state that needs
            // no word keeps its value through the blend, and an empty mask takes none).
            let in_bounds = k + STATES <= w;
            for j in 0..4 {
                let (slot, mut y, need, bits) = step(v[j], &c);
                sy[j] = slot;
                if in_bounds {
                    let raw = _mm_loadu_si128(words.as_ptr().add(2 * k) as *const __m128i);
                    y = take_words(y, need, bits, raw);
                    k += bits.count_ones() as usize;
                } else if bits != 0 {
                    let cnt = bits.count_ones() as usize;
                    let raw = if k + 8 <= w {
                        _mm_loadu_si128(words.as_ptr().add(2 * k) as *const __m128i)
                    } else {
                        if k + cnt > w {
                            return Err(Error::Corrupt("lossless-v2 words exhausted".into()));
                        }
                        let mut tmp = [0u8; 16];
                        tmp[..2 * (w - k)].copy_from_slice(&words[2 * k..2 * w]);
                        _mm_loadu_si128(tmp.as_ptr() as *const __m128i)
                    };
                    y = take_words(y, need, bits, raw);
                    k += cnt;
                }
                v[j] = y;
            }
            store_symbols(&sy, syms.as_mut_ptr().add(STATES * g));
        }
        for (j, vj) in v.iter().enumerate() {
            _mm256_storeu_si256(x.as_mut_ptr().add(8 * j) as *mut __m256i, *vj);
        }
        decode_from(x, t, words, syms, groups * STATES, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::rans::FreqTable;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// The AVX2 decoder equals the scalar one (symbols, final states, words consumed, errors)
    /// on random tables, states and word streams of every length around the 32-symbol groups,
    /// including streams too short for the symbols asked (the error path). Any word stream is a
    /// valid rANS input, so random words exercise every renormalisation pattern.
    #[test]
    fn avx2_equals_scalar() {
        let mut r = 0x2545_F491_4F6C_DD1Du64;
        let mut compared = 0;
        for round in 0..300 {
            let mut counts = [0u64; 256];
            let alphabet = 1 + (xorshift(&mut r) % 256) as usize;
            for c in counts.iter_mut().take(alphabet) {
                // Skewed counts (like float exponents) and some zeros.
                *c = xorshift(&mut r) % (1 + (xorshift(&mut r) % 100_000));
            }
            counts[0] += 1;
            let sb = [12, 12, 11, 9][round % 4];
            let t = PackedSlots::new(&DecTable::new(
                &FreqTable::from_counts(&counts, sb).unwrap(),
            ))
            .unwrap();
            let n = [0, 1, 31, 32, 33, 64, 95, 1000, 4096, 65536][round % 10];
            let nwords = (xorshift(&mut r) % (1 + n as u64)) as usize;
            let words: Vec<u8> = (0..2 * nwords).map(|_| xorshift(&mut r) as u8).collect();
            let mut x0 = [0u32; STATES];
            for s in x0.iter_mut() {
                *s = RANS_L + (xorshift(&mut r) as u32 % ((RANS_L << 16) - RANS_L));
            }
            let (mut xa, mut xb) = (x0, x0);
            let (mut sa, mut sb_) = (vec![0u8; n], vec![0u8; n]);
            let a = decode_scalar(&mut xa, &t, &words, &mut sa);
            let Some(b) = decode_avx2(&mut xb, &t, &words, &mut sb_) else {
                eprintln!("no AVX2 on this CPU: only the scalar decoder is tested");
                return;
            };
            match (a, b) {
                (Ok(ka), Ok(kb)) => {
                    assert_eq!(ka, kb, "round {round}: words consumed");
                    assert_eq!(xa, xb, "round {round}: final states");
                    assert_eq!(sa, sb_, "round {round}: symbols");
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("round {round}: scalar {a:?}, avx2 {b:?}"),
            }
            compared += 1;
        }
        assert_eq!(compared, 300);
    }
}
