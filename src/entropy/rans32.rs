//! Encoding and decoding of 32 interleaved rANS states that share one 16-bit word stream
//! (stream layout v2 of the lossless float codec, [`crate::codec::segmented`]): symbol `i`
//! belongs to state `i % 32`, and at each group of 32 symbols the states that renormalise take
//! the next words in state order. AVX2 when the CPU has it (chosen at run time), otherwise
//! scalar; both give the same symbols (decode), the same words (encode), the same final
//! states, the same word count and the same errors.
//!
//! The AVX2 path follows Giesen's `rans_word_sse41.h` (ryg_rans, public domain): gathered
//! slot lookups, a multiply-add per state, and renormalisation by a movemask, a popcount and a
//! permutation from a 256-entry table that sends the next words to the states that need them;
//! here 4 x 8 states per group of 32 symbols. The AVX2 encoder is the same steps reversed
//! (Giesen's reciprocal-multiply encoder, `RansEncPutSymbol` of ryg_rans): 16-byte encode
//! records loaded per symbol and transposed, an unsigned compare for renormalisation, the emitted words left-packed by a
//! 256-entry `pshufb` table.

use crate::entropy::rans::{DecTable, EncTable, RANS_L};
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

/// Encode `syms` (every symbol with a nonzero frequency in `enc`) into the 32 states `x`
/// (each starting at `RANS_L`), in reverse, writing the words backwards below `*pos` in `buf`:
/// afterwards the words are `buf[*pos..]` in decoding order and `x` holds the states the
/// decoder starts from ([`decode`] reads them back). `buf` needs room: `*pos >= syms.len() +
/// 8` on entry (a symbol emits at most one word, and the AVX2 path stores 8 words at a time
/// below `*pos`); entries below the final `*pos` are scratch. Uses AVX2 when the CPU has it
/// (and `enc` has at most 12 bits of resolution); both paths write the same words and states.
pub fn encode(
    x: &mut [u32; STATES],
    enc: &EncTable,
    syms: &[u8],
    buf: &mut [u16],
    pos: &mut usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if !enc.packed.is_empty() && std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            unsafe { avx2::encode(x, enc, syms, buf, pos) };
            return;
        }
    }
    encode_scalar(x, enc, syms, buf, pos)
}

/// The portable encoder (what [`encode`] uses without AVX2), same contract.
pub fn encode_scalar(
    x: &mut [u32; STATES],
    enc: &EncTable,
    syms: &[u8],
    buf: &mut [u16],
    pos: &mut usize,
) {
    let n = syms.len();
    let groups = n / STATES;
    encode_tail(x, enc, syms, buf, pos);
    for g in (0..groups).rev() {
        let s = &syms[g * STATES..(g + 1) * STATES];
        for l in (0..STATES).rev() {
            enc.put_back(&mut x[l], buf, pos, s[l] as usize);
        }
    }
}

/// The symbols after the last whole group of 32, in reverse (the first step of an encode).
fn encode_tail(
    x: &mut [u32; STATES],
    enc: &EncTable,
    syms: &[u8],
    buf: &mut [u16],
    pos: &mut usize,
) {
    for i in (syms.len() / STATES * STATES..syms.len()).rev() {
        enc.put_back(&mut x[i % STATES], buf, pos, syms[i] as usize);
    }
}

/// The AVX2 encoder if this CPU has AVX2 (and `enc` qualifies), for tests that compare it with
/// [`encode_scalar`]; false (nothing done) otherwise.
pub fn encode_avx2(
    x: &mut [u32; STATES],
    enc: &EncTable,
    syms: &[u8],
    buf: &mut [u16],
    pos: &mut usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !enc.packed.is_empty() && std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            unsafe { avx2::encode(x, enc, syms, buf, pos) };
            return true;
        }
    }
    let _ = (x, enc, syms, buf, pos);
    false
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{decode_from, EncTable, PackedSlots, STATES};
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

    /// `PACK_HIGH[m]`: a `pshufb` control that moves the 16-bit words of the lanes set in `m`
    /// (in lane order) to the top of a 16-byte vector (the rest zeroed).
    static PACK_HIGH: [[u8; 16]; 256] = {
        let mut t = [[0x80u8; 16]; 256];
        let mut m = 0;
        while m < 256 {
            let k = (m as u32).count_ones() as usize;
            let mut out = 8 - k;
            let mut lane = 0;
            while lane < 8 {
                if m & (1 << lane) != 0 {
                    t[m][2 * out] = (2 * lane) as u8;
                    t[m][2 * out + 1] = (2 * lane + 1) as u8;
                    out += 1;
                }
                lane += 1;
            }
            m += 1;
        }
        t
    };

    /// One encode step of 8 states `x` for the 8 symbols at `s`: the renormalisation words of
    /// the lanes that emit are stored in lane order at `buf[*pos - k..*pos]` (the 16-byte store
    /// also writes below that, scratch), `*pos` steps back by `k`; returns the new states. The
    /// 8 symbols' encode records are loaded 16 bytes each and transposed (gathers were two
    /// thirds of the encoder's time on AMD Zen).
    ///
    /// # Safety
    /// AVX2; `*pos >= 8`; `s` points to 8 symbols, each with a nonzero frequency in `enc`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn put8(
        x: __m256i,
        s: *const u8,
        enc: &EncTable,
        buf: &mut [u16],
        pos: &mut usize,
    ) -> __m256i {
        let t = enc.packed.as_ptr();
        let rec = |i: usize| _mm_loadu_si128(t.add(*s.add(i) as usize) as *const __m128i);
        let a0 = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(rec(0)), rec(4));
        let a1 = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(rec(1)), rec(5));
        let a2 = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(rec(2)), rec(6));
        let a3 = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(rec(3)), rec(7));
        let t0 = _mm256_unpacklo_epi32(a0, a1);
        let t1 = _mm256_unpacklo_epi32(a2, a3);
        let t2 = _mm256_unpackhi_epi32(a0, a1);
        let t3 = _mm256_unpackhi_epi32(a2, a3);
        let x_max = _mm256_unpacklo_epi64(t0, t1);
        let rcp = _mm256_unpackhi_epi64(t0, t1);
        let misc = _mm256_unpacklo_epi64(t2, t3);
        let sign = _mm256_set1_epi32(i32::MIN);
        // x < x_max, unsigned: flip the sign bits and compare signed.
        let below = _mm256_cmpgt_epi32(_mm256_xor_si256(x_max, sign), _mm256_xor_si256(x, sign));
        let bits = (!_mm256_movemask_ps(_mm256_castsi256_ps(below)) & 0xff) as usize;
        // Low 16 bits of each state, as 8 words in lane order, packed to the top.
        let lo = _mm256_shuffle_epi8(
            x,
            _mm256_setr_epi8(
                0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9, 12, 13,
                -1, -1, -1, -1, -1, -1, -1, -1,
            ),
        );
        let words = _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b1000>(lo));
        let ctl = _mm_loadu_si128(PACK_HIGH[bits].as_ptr() as *const __m128i);
        let packed = _mm_shuffle_epi8(words, ctl);
        // SAFETY: `*pos >= 8`, so buf[*pos - 8 .. *pos] is in bounds.
        _mm_storeu_si128(buf.as_mut_ptr().add(*pos - 8) as *mut __m128i, packed);
        *pos -= bits.count_ones() as usize;
        // y = emit ? x >> 16 : x
        let y = _mm256_blendv_epi8(_mm256_srli_epi32::<16>(x), x, below);
        // q = mulhi(y, rcp) >> shift
        let even = _mm256_srli_epi64::<32>(_mm256_mul_epu32(y, rcp));
        let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(y), _mm256_srli_epi64::<32>(rcp));
        let hi = _mm256_blend_epi32::<0b1010_1010>(even, odd);
        let shift = _mm256_srli_epi32::<26>(misc);
        let q = _mm256_srlv_epi32(hi, shift);
        let bias = _mm256_and_si256(misc, _mm256_set1_epi32(0x1fff));
        let cmpl = _mm256_and_si256(_mm256_srli_epi32::<13>(misc), _mm256_set1_epi32(0x1fff));
        _mm256_add_epi32(_mm256_add_epi32(y, bias), _mm256_mullo_epi32(q, cmpl))
    }

    /// [`super::encode`] with AVX2: the tail scalar, then the groups of 32 in reverse, 4 x 8
    /// lanes each from the highest.
    ///
    /// # Safety
    /// The CPU must have AVX2; `enc.packed` is filled (resolution at most 12 bits); `*pos >=
    /// syms.len() + 8`; every symbol has a nonzero frequency.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn encode(
        x: &mut [u32; STATES],
        enc: &EncTable,
        syms: &[u8],
        buf: &mut [u16],
        pos: &mut usize,
    ) {
        assert!(
            *pos >= syms.len() + 8 && *pos <= buf.len(),
            "encode: buffer room"
        );
        super::encode_tail(x, enc, syms, buf, pos);
        let mut v = [_mm256_setzero_si256(); 4];
        for (j, vj) in v.iter_mut().enumerate() {
            *vj = _mm256_loadu_si256(x.as_ptr().add(8 * j) as *const __m256i);
        }
        for g in (0..syms.len() / STATES).rev() {
            for j in (0..4).rev() {
                // SAFETY: 8 symbols at 32 g + 8 j, inside `syms`.
                v[j] = put8(v[j], syms.as_ptr().add(STATES * g + 8 * j), enc, buf, pos);
            }
        }
        for (j, vj) in v.iter().enumerate() {
            _mm256_storeu_si256(x.as_mut_ptr().add(8 * j) as *mut __m256i, *vj);
        }
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

    /// The AVX2 encoder writes the same words and final states as the scalar one on random
    /// tables (every resolution the codec uses) and symbol counts around the 32-symbol groups,
    /// and the decoder reads the symbols back.
    #[test]
    fn avx2_encoder_equals_scalar_and_round_trips() {
        let mut r = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..200 {
            let mut counts = [0u64; 256];
            let alphabet = 1 + (xorshift(&mut r) % 256) as usize;
            for c in counts.iter_mut().take(alphabet) {
                *c = xorshift(&mut r) % (1 + (xorshift(&mut r) % 100_000));
            }
            counts[0] += 1;
            let sb = [12, 12, 11, 10, 9][round % 5];
            let ft = FreqTable::from_counts(&counts, sb).unwrap();
            let enc = EncTable::new(&ft);
            let present: Vec<u8> = (0..256)
                .filter(|&s| ft.freq(s) > 0)
                .map(|s| s as u8)
                .collect();
            let n = [0, 1, 31, 32, 33, 64, 95, 1000, 4096, 65536][round % 10];
            let syms: Vec<u8> = (0..n)
                .map(|_| present[(xorshift(&mut r) % present.len() as u64) as usize])
                .collect();
            let (mut xa, mut xb) = ([RANS_L; STATES], [RANS_L; STATES]);
            let (mut ba, mut bb) = (vec![0u16; n + 8], vec![0u16; n + 8]);
            let (mut pa, mut pb) = (n + 8, n + 8);
            encode_scalar(&mut xa, &enc, &syms, &mut ba, &mut pa);
            if !encode_avx2(&mut xb, &enc, &syms, &mut bb, &mut pb) {
                eprintln!("no AVX2 on this CPU: only the scalar encoder is tested");
                return;
            }
            assert_eq!(xa, xb, "round {round}: final states");
            assert_eq!(ba[pa..], bb[pb..], "round {round}: words");
            let words: Vec<u8> = bb[pb..].iter().flat_map(|w| w.to_le_bytes()).collect();
            let t = PackedSlots::new(&DecTable::new(&ft)).unwrap();
            let mut back = vec![0u8; n];
            let used = decode(&mut xb, &t, &words, &mut back).unwrap();
            assert_eq!(used, bb.len() - pb, "round {round}: every word read");
            assert_eq!(back, syms, "round {round}: symbols");
            assert!(
                xb.iter().all(|&x| x == RANS_L),
                "round {round}: states back at the start"
            );
        }
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
