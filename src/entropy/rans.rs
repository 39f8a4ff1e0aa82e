//! Interleaved-lane rANS with static per-stream frequency tables.
//!
//! Algorithm: range asymmetric numeral systems (J. Duda, "Asymmetric numeral systems",
//! arXiv:1311.2540, 2013), in the 32-bit-state, 16-bit-word form with reciprocal
//! division of F. Giesen's `rans_byte.h` / `rans_word_sse41.h` (public domain, 2014).
//!
//! * rANS state `x` lives in `[L, L * 2^16)` with `L = 2^15`, so `x < 2^31` and the
//!   Alverson reciprocal gives exact quotients; probabilities are quantized to
//!   `2^scale_bits` with `scale_bits <= 15`.
//! * A stream of `n` symbols is dealt round-robin to `lanes` lanes (symbol `i` belongs to
//!   lane `i % lanes`); each lane has its own state and its own word stream. A CPU decodes
//!   the lanes interleaved (instruction-level parallelism, contiguous stores); a GPU gives
//!   each lane to one thread of a warp (coalesced stores).
//!
//! Stream layout (little-endian): `u8 lanes`, then per lane `u32 final_state, u32 n_words`,
//! then the lanes' 16-bit words, lane after lane. Decoding checks that every lane ends in the
//! initial state with all its words consumed, so most corruptions are detected even before the
//! chunk checksum.

use super::varint::{put_varint, Reader};
use crate::error::{corrupt, Error, Result};

/// Lower bound of the normalized rANS state interval.
pub const RANS_L: u32 = 1 << 15;
/// Largest supported probability resolution (bits).
pub const MAX_SCALE_BITS: u32 = 15;

/// A normalized frequency table: `freq[s]` sums to `2^scale_bits` over all symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreqTable {
    scale_bits: u32,
    freq: Vec<u32>,
    cum: Vec<u32>,
}

/// Smallest `b` with `2^b >= v`.
pub fn ceil_log2(v: u64) -> u32 {
    if v <= 1 {
        0
    } else {
        64 - (v - 1).leading_zeros()
    }
}

impl FreqTable {
    /// Normalize symbol `counts` (index = symbol) to a table of resolution `scale_bits`.
    ///
    /// Every symbol with a nonzero count gets a nonzero frequency. Errors with
    /// `InvalidArgument` if no symbol is present, if more symbols are present than
    /// `2^scale_bits`, or if `scale_bits > MAX_SCALE_BITS`.
    pub fn from_counts(counts: &[u64], scale_bits: u32) -> Result<Self> {
        if scale_bits > MAX_SCALE_BITS {
            return crate::error::invalid(format!("scale_bits {scale_bits} > {MAX_SCALE_BITS}"));
        }
        let total: u64 = counts.iter().sum();
        let present: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 0).collect();
        let target = 1u64 << scale_bits;
        if present.is_empty() || present.len() as u64 > target {
            return crate::error::invalid(format!(
                "{} symbols present for {} slots",
                present.len(),
                target
            ));
        }
        let mut freq = vec![0u32; counts.len()];
        let mut sum = 0u64;
        for &s in &present {
            let f = ((counts[s] as u128 * target as u128 + total as u128 / 2) / total as u128)
                .max(1) as u64;
            freq[s] = f as u32;
            sum += f;
        }
        // Fix the sum: take from / give to the most frequent symbols, never below 1.
        let mut order = present.clone();
        order.sort_by(|&a, &b| freq[b].cmp(&freq[a]).then(a.cmp(&b)));
        while sum > target {
            let mut progressed = false;
            for &s in &order {
                if sum == target {
                    break;
                }
                if freq[s] > 1 {
                    // Take proportionally from big symbols, at least 1.
                    let take = ((sum - target) as u32)
                        .min(freq[s] - 1)
                        .min((freq[s] / 16).max(1));
                    freq[s] -= take;
                    sum -= take as u64;
                    progressed = true;
                }
            }
            debug_assert!(progressed);
            if !progressed {
                return crate::error::invalid("cannot normalize frequency table");
            }
        }
        if sum < target {
            freq[order[0]] += (target - sum) as u32;
        }
        Ok(Self::from_freqs(freq, scale_bits))
    }

    fn from_freqs(freq: Vec<u32>, scale_bits: u32) -> Self {
        let mut cum = Vec::with_capacity(freq.len());
        let mut c = 0u32;
        for &f in &freq {
            cum.push(c);
            c += f;
        }
        FreqTable {
            scale_bits,
            freq,
            cum,
        }
    }

    /// Probability resolution in bits.
    pub fn scale_bits(&self) -> u32 {
        self.scale_bits
    }

    /// Alphabet length (largest present symbol + 1 or more).
    pub fn alphabet(&self) -> usize {
        self.freq.len()
    }

    /// Frequency of `sym` (0 if absent or out of range).
    pub fn freq(&self, sym: usize) -> u32 {
        self.freq.get(sym).copied().unwrap_or(0)
    }

    /// Estimated coded size in bits of symbols with these `counts` under this table.
    /// Returns infinity if a counted symbol has zero frequency.
    pub fn cost_bits(&self, counts: &[u64]) -> f64 {
        let mut bits = 0.0;
        for (s, &c) in counts.iter().enumerate() {
            if c > 0 {
                let f = self.freq(s);
                if f == 0 {
                    return f64::INFINITY;
                }
                bits += c as f64 * (self.scale_bits as f64 - (f as f64).log2());
            }
        }
        bits
    }

    /// Serialize: `u8 scale_bits`, varint number of present symbols, then per present symbol
    /// varint (gap from previous present symbol) and varint (freq - 1).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.scale_bits as u8);
        let present: Vec<usize> = (0..self.freq.len()).filter(|&s| self.freq[s] > 0).collect();
        put_varint(out, present.len() as u64);
        let mut prev: i64 = -1;
        for s in present {
            put_varint(out, (s as i64 - prev - 1) as u64);
            put_varint(out, (self.freq[s] - 1) as u64);
            prev = s as i64;
        }
    }

    /// Deserialize a table whose symbols must be `< max_alphabet`. Errors with `Corrupt` when
    /// the frequencies do not sum to `2^scale_bits` or a symbol is out of range.
    pub fn read(r: &mut Reader, max_alphabet: usize) -> Result<Self> {
        let scale_bits = r.u8()? as u32;
        if scale_bits > MAX_SCALE_BITS {
            return corrupt(format!("rANS table scale_bits {scale_bits}"));
        }
        let target = 1u64 << scale_bits;
        let n = r.varint_max(target.min(max_alphabet as u64))?;
        if n == 0 {
            return corrupt("rANS table with no symbols");
        }
        let mut pairs = Vec::with_capacity(n);
        let mut next: u64 = 0;
        let mut sum = 0u64;
        for _ in 0..n {
            let s = next
                .checked_add(r.varint()?)
                .filter(|&s| s < max_alphabet as u64)
                .ok_or_else(|| Error::Corrupt("rANS table symbol out of range".into()))?;
            let f = r.varint_max(target - 1)? as u64 + 1;
            sum += f;
            pairs.push((s as usize, f as u32));
            next = s + 1;
        }
        if sum != target {
            return corrupt(format!("rANS table sums to {sum}, expected {target}"));
        }
        let alphabet = pairs.last().unwrap().0 + 1;
        let mut freq = vec![0u32; alphabet];
        for (s, f) in pairs {
            freq[s] = f;
        }
        Ok(Self::from_freqs(freq, scale_bits))
    }

    /// Bytes that [`FreqTable::write`] produces.
    pub fn serialized_len(&self) -> usize {
        let mut v = Vec::new();
        self.write(&mut v);
        v.len()
    }
}

/// Precomputed encoder entry of one symbol (Giesen's `RansEncSymbol`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EncSym {
    x_max: u32,
    rcp_freq: u32,
    bias: u32,
    cmpl_freq: u32,
    rcp_shift: u32,
}

/// Encoder view of a [`FreqTable`].
#[derive(Debug, Clone)]
pub struct EncTable {
    syms: Vec<EncSym>,
    /// The same entries as 16-byte records for vector loads (the AVX2 encoder of
    /// [`crate::entropy::rans32`]): `[x_max, rcp_freq, bias | cmpl_freq << 13 | rcp_shift <<
    /// 26, 0]`; empty above 12 bits of resolution (where the fields would not fit).
    pub(crate) packed: Vec<[u32; 4]>,
}

impl EncTable {
    /// Build reciprocal-division entries for every symbol of `t`.
    pub fn new(t: &FreqTable) -> Self {
        let m = t.scale_bits;
        let syms = (0..t.freq.len())
            .map(|s| {
                let (start, freq) = (t.cum[s], t.freq[s]);
                if freq == 0 {
                    return EncSym::default();
                }
                let x_max = ((RANS_L >> m) << 16) * freq;
                let cmpl_freq = (1u32 << m) - freq;
                if freq < 2 {
                    EncSym {
                        x_max,
                        rcp_freq: u32::MAX,
                        bias: start + (1 << m) - 1,
                        cmpl_freq,
                        rcp_shift: 0,
                    }
                } else {
                    let mut shift = 0;
                    while freq > (1u32 << shift) {
                        shift += 1;
                    }
                    let rcp_freq = (1u64 << (shift + 31)).div_ceil(freq as u64) as u32;
                    EncSym {
                        x_max,
                        rcp_freq,
                        bias: start,
                        cmpl_freq,
                        rcp_shift: shift - 1,
                    }
                }
            })
            .collect::<Vec<EncSym>>();
        let packed = if m <= 12 {
            syms.iter()
                .map(|e| {
                    [
                        e.x_max,
                        e.rcp_freq,
                        e.bias | e.cmpl_freq << 13 | e.rcp_shift << 26,
                        0,
                    ]
                })
                .collect()
        } else {
            Vec::new()
        };
        EncTable { syms, packed }
    }

    #[inline(always)]
    pub(crate) fn put(&self, x: &mut u32, words: &mut Vec<u16>, sym: usize) {
        let e = &self.syms[sym];
        debug_assert!(e.x_max != 0, "symbol {sym} has zero frequency");
        if *x >= e.x_max {
            words.push(*x as u16);
            *x >>= 16;
        }
        let q = ((*x as u64 * e.rcp_freq as u64) >> 32) as u32 >> e.rcp_shift;
        *x = x
            .wrapping_add(e.bias)
            .wrapping_add(q.wrapping_mul(e.cmpl_freq));
    }
}

impl EncTable {
    /// As `put`, without a branch on the renormalisation and writing the word backwards:
    /// `buf[*pos - 1]` is always written and `*pos` steps back only when a word is emitted, so
    /// after encoding in reverse the emitted words are `buf[*pos..]` in decoding order.
    /// `*pos` must be at least 1 (a symbol emits at most one word).
    #[inline(always)]
    pub(crate) fn put_back(&self, x: &mut u32, buf: &mut [u16], pos: &mut usize, sym: usize) {
        let e = &self.syms[sym];
        debug_assert!(e.x_max != 0, "symbol {sym} has zero frequency");
        let emit = *x >= e.x_max;
        buf[*pos - 1] = *x as u16;
        *pos -= emit as usize;
        let y = if emit { *x >> 16 } else { *x };
        let q = ((y as u64 * e.rcp_freq as u64) >> 32) as u32 >> e.rcp_shift;
        *x = y
            .wrapping_add(e.bias)
            .wrapping_add(q.wrapping_mul(e.cmpl_freq));
    }
}

/// Push `k <= 15` uniformly distributed bits `v` into a lane state (probability
/// `2^-k` each value: a rANS step with frequency 1 at resolution `k`).
#[inline(always)]
fn put_bits(x: &mut u32, words: &mut Vec<u16>, v: u32, k: u32) {
    if k == 0 {
        return;
    }
    if *x >= ((RANS_L >> k) << 16) {
        words.push(*x as u16);
        *x >>= 16;
    }
    *x = (*x << k) | v;
}

/// One decoder slot: symbol, frequency and `slot - start` for the state update.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct DecSlot {
    /// Decoded symbol.
    pub sym: u16,
    /// Frequency of the symbol (1..=2^15).
    pub freq: u16,
    /// `slot - cum[sym]`.
    pub bias: u16,
}

/// Decoder view of a [`FreqTable`]: one slot per `2^scale_bits` state residue.
#[derive(Debug, Clone)]
pub struct DecTable {
    /// `2^scale_bits` slots.
    pub slots: Vec<DecSlot>,
    /// Probability resolution in bits.
    pub scale_bits: u32,
}

impl DecTable {
    /// Expand `t` into its slot table (`2^scale_bits` entries, 6 bytes each).
    pub fn new(t: &FreqTable) -> Self {
        let mut slots = vec![DecSlot::default(); 1 << t.scale_bits];
        for s in 0..t.freq.len() {
            let (c, f) = (t.cum[s], t.freq[s]);
            for k in 0..f {
                slots[(c + k) as usize] = DecSlot {
                    sym: s as u16,
                    freq: f as u16,
                    bias: k as u16,
                };
            }
        }
        DecTable {
            slots,
            scale_bits: t.scale_bits,
        }
    }
}

/// Lane of symbol `i` when symbols are dealt round-robin to `lanes` lanes.
#[inline(always)]
pub fn lane_of(i: usize, lanes: usize) -> usize {
    i % lanes
}

/// Lane count for `n` symbols when streams may use up to `max_lanes` lanes (1..=255): `max_lanes`
/// for long streams, 8 (or fewer) for medium ones, 1 for short ones, so that the 8 bytes of
/// per-lane state stay negligible.
pub fn lanes_for(n: usize, max_lanes: usize) -> usize {
    let max = max_lanes.clamp(1, 255);
    if n >= 1 << 15 {
        max
    } else if n >= 1 << 11 {
        max.min(8)
    } else {
        1
    }
}

/// Default lanes for `n` symbols: [`lanes_for`] with [`DEFAULT_MAX_LANES`].
pub fn default_lanes(n: usize) -> usize {
    lanes_for(n, DEFAULT_MAX_LANES)
}

/// Default largest lane count (one warp per chunk on a GPU).
pub const DEFAULT_MAX_LANES: usize = 32;

/// Encode `n` symbols into a lane stream appended to `out`.
///
/// `sym(i)` gives symbol `i`, `table(i)` the index in `tables` of the table that codes it.
/// Every symbol must have nonzero frequency in its table (the caller builds the tables from
/// the same symbols). `lanes` must be in 1..=255.
pub fn encode_lanes(
    out: &mut Vec<u8>,
    n: usize,
    lanes: usize,
    tables: &[EncTable],
    sym: impl Fn(usize) -> usize,
    table: impl Fn(usize) -> usize,
) {
    encode_lanes_with_bits(out, n, lanes, tables, sym, table, |_| (0, 0))
}

/// As [`encode_lanes`], and after symbol `i` the decoder reads `bits(i) = (value, k)`:
/// `k <= 15` uniform raw bits coded in the same lane (see [`LaneDecoder::get_bits`]).
pub fn encode_lanes_with_bits(
    out: &mut Vec<u8>,
    n: usize,
    lanes: usize,
    tables: &[EncTable],
    sym: impl Fn(usize) -> usize,
    table: impl Fn(usize) -> usize,
    bits: impl Fn(usize) -> (u32, u32),
) {
    assert!((1..=255).contains(&lanes));
    out.push(lanes as u8);
    let mut states = vec![RANS_L; lanes];
    let mut words: Vec<Vec<u16>> = (0..lanes)
        .map(|_| Vec::with_capacity(n / lanes / 2 + 8))
        .collect();
    // Backwards (rANS encodes in reverse); consecutive symbols go to different lanes, so the
    // independent state updates overlap in the CPU pipeline.
    let mut l = if n == 0 { 0 } else { (n - 1) % lanes };
    for i in (0..n).rev() {
        {
            let x = &mut states[l];
            let w = &mut words[l];
            let (v, k) = bits(i);
            put_bits(x, w, v, k);
            tables[table(i)].put(x, w, sym(i));
        }
        l = if l == 0 { lanes - 1 } else { l - 1 };
    }
    for l in 0..lanes {
        out.extend_from_slice(&states[l].to_le_bytes());
        out.extend_from_slice(&(words[l].len() as u32).to_le_bytes());
    }
    for w in &mut words {
        w.reverse();
        out.reserve(w.len() * 2);
        for &v in w.iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Fast path for byte symbols with `scale_bits <= 12`: decode a lane stream into `out`
/// with table `t`. Table entries are packed in 32 bits (symbol, frequency, slot bias) and the
/// lane states live in a fixed array. Errors: `Corrupt` / `Truncated` as [`LaneDecoder`].
pub fn decode_u8(r: &mut Reader, t: &FreqTable, out: &mut [u8]) -> Result<()> {
    let d = LaneDecoder::new(r, out.len())?;
    if t.scale_bits > 12 || t.freq.len() > 256 {
        return decode_u8_generic(d, t, out);
    }
    let m = t.scale_bits;
    let mut tab = vec![0u32; 1 << m];
    for s in 0..t.freq.len() {
        let (c, f) = (t.cum[s], t.freq[s]);
        for k in 0..f {
            tab[(c + k) as usize] = s as u32 | (f << 8) | (k << 20);
        }
    }
    match d.lanes() {
        128 => decode_u8_rounds::<128>(d, &tab, m, out),
        64 => decode_u8_rounds::<64>(d, &tab, m, out),
        32 => decode_u8_rounds::<32>(d, &tab, m, out),
        8 => decode_u8_rounds::<8>(d, &tab, m, out),
        1 => decode_u8_rounds::<1>(d, &tab, m, out),
        _ => decode_u8_generic(d, t, out),
    }
}

/// Byte decoding through [`LaneDecoder::get`], for tables or lane counts the fast path lacks.
fn decode_u8_generic(mut d: LaneDecoder, t: &FreqTable, out: &mut [u8]) -> Result<()> {
    let dt = DecTable::new(t);
    let lanes = d.lanes();
    for (i, o) in out.iter_mut().enumerate() {
        *o = d.get(i % lanes, &dt) as u8;
    }
    d.finish()
}

fn decode_u8_rounds<const K: usize>(
    d: LaneDecoder,
    tab: &[u32],
    m: u32,
    out: &mut [u8],
) -> Result<()> {
    let mask = (1u32 << m) - 1;
    let mut x = [0u32; K];
    let mut pos = [0usize; K];
    let mut words: [&[u8]; K] = [&[]; K];
    x.copy_from_slice(&d.states[..K]);
    words.copy_from_slice(&d.words[..K]);
    let mut overrun = false;
    // Branch-free renormalization: the next word is always loaded and conditionally used
    // (a renorm happens every few symbols at random, which a branch would mispredict).
    let mut step = |l: usize, x: &mut u32, pos: &mut usize| -> u8 {
        let e = tab[(*x & mask) as usize];
        let v = ((e >> 8) & 0xfff) * (*x >> m) + (e >> 20);
        let need = v < RANS_L;
        let p = *pos;
        let word = words[l]
            .get(p..p + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as u32);
        overrun |= need & (p + 2 > words[l].len());
        *pos = p + 2 * need as usize;
        *x = if need { (v << 16) | word } else { v };
        e as u8
    };
    let mut rounds = out.chunks_exact_mut(K);
    for round in &mut rounds {
        for l in 0..K {
            round[l] = step(l, &mut x[l], &mut pos[l]);
        }
    }
    for (l, o) in rounds.into_remainder().iter_mut().enumerate() {
        *o = step(l, &mut x[l], &mut pos[l]);
    }
    let ok = !overrun && x.iter().all(|&v| v == RANS_L) && (0..K).all(|l| pos[l] == words[l].len());
    if ok {
        Ok(())
    } else {
        corrupt("rANS stream does not decode to its initial state")
    }
}

/// Decoder over the lanes of one stream. Reads never panic: running past a lane's words sets
/// an overrun flag that [`LaneDecoder::finish`] reports as `Corrupt`.
pub struct LaneDecoder<'a> {
    /// Current rANS state per lane.
    pub states: Vec<u32>,
    words: Vec<&'a [u8]>,
    pos: Vec<usize>,
    overrun: bool,
}

impl<'a> LaneDecoder<'a> {
    /// Parse the lane header from `r`; `n` is the symbol count (used to sanity-check words).
    pub fn new(r: &mut Reader<'a>, n: usize) -> Result<Self> {
        let lanes = r.u8()? as usize;
        if lanes == 0 {
            return corrupt("rANS stream with 0 lanes");
        }
        let mut states = Vec::with_capacity(lanes);
        let mut counts = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let x = r.u32()?;
            let nw = r.u32()? as usize;
            if !(RANS_L..(RANS_L << 16)).contains(&x) || nw > n + 2 {
                return corrupt("rANS lane header out of range");
            }
            states.push(x);
            counts.push(nw);
        }
        let mut words = Vec::with_capacity(lanes);
        for nw in counts {
            words.push(r.bytes(nw * 2)?);
        }
        Ok(LaneDecoder {
            pos: vec![0; lanes],
            states,
            words,
            overrun: false,
        })
    }

    /// Number of lanes.
    pub fn lanes(&self) -> usize {
        self.states.len()
    }

    /// Decode one symbol from lane `l` with table `t`.
    #[inline(always)]
    pub fn get(&mut self, l: usize, t: &DecTable) -> u16 {
        let x = self.states[l];
        let mask = (1u32 << t.scale_bits) - 1;
        let slot = t.slots[(x & mask) as usize];
        let x = slot.freq as u32 * (x >> t.scale_bits) + slot.bias as u32;
        self.renorm(l, x);
        slot.sym
    }

    /// Read `k <= 15` raw bits written by [`encode_lanes_with_bits`] from lane `l`.
    #[inline(always)]
    pub fn get_bits(&mut self, l: usize, k: u32) -> u32 {
        if k == 0 {
            return 0;
        }
        let x = self.states[l];
        let v = x & ((1 << k) - 1);
        self.renorm(l, x >> k);
        v
    }

    /// Store lane `l`'s state `x`, first reading the lane's next word if `x` fell below `RANS_L`.
    #[inline(always)]
    fn renorm(&mut self, l: usize, mut x: u32) {
        if x < RANS_L {
            let p = self.pos[l];
            let w = self.words[l];
            let word = if p + 2 <= w.len() {
                u16::from_le_bytes([w[p], w[p + 1]])
            } else {
                self.overrun = true;
                0
            };
            self.pos[l] = p + 2;
            x = (x << 16) | word as u32;
        }
        self.states[l] = x;
    }

    /// Check that every lane returned to the initial state and consumed all its words.
    pub fn finish(&self) -> Result<()> {
        let ok = !self.overrun
            && self.states.iter().all(|&x| x == RANS_L)
            && self.pos.iter().zip(&self.words).all(|(&p, w)| p == w.len());
        if ok {
            Ok(())
        } else {
            corrupt("rANS stream does not decode to its initial state")
        }
    }
}

/// Choose a probability resolution for `n` samples over `distinct` symbols: enough slots for
/// every symbol (twice over), at most `cap` bits, and no finer than the sample count warrants.
pub fn choose_scale_bits(n: u64, distinct: usize, cap: u32) -> u32 {
    let need = ceil_log2(distinct as u64) + 1;
    let want = ceil_log2(n).clamp(8, cap);
    want.max(need).min(MAX_SCALE_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(syms: &[u16], lanes: usize) -> usize {
        let mut counts = vec![0u64; 1 + *syms.iter().max().unwrap_or(&0) as usize];
        for &s in syms {
            counts[s as usize] += 1;
        }
        let distinct = counts.iter().filter(|&&c| c > 0).count();
        let t = FreqTable::from_counts(&counts, choose_scale_bits(syms.len() as u64, distinct, 12))
            .unwrap();
        let mut buf = Vec::new();
        t.write(&mut buf);
        encode_lanes(
            &mut buf,
            syms.len(),
            lanes,
            &[EncTable::new(&t)],
            |i| syms[i] as usize,
            |_| 0,
        );
        let mut r = Reader::new(&buf, "t");
        let t2 = FreqTable::read(&mut r, 1 << 16).unwrap();
        assert_eq!(t, t2);
        let dt = DecTable::new(&t2);
        let mut d = LaneDecoder::new(&mut r, syms.len()).unwrap();
        let mut out = vec![0u16; syms.len()];
        let lanes = d.lanes();
        for (i, o) in out.iter_mut().enumerate() {
            *o = d.get(i % lanes, &dt);
        }
        d.finish().unwrap();
        assert_eq!(out, syms);
        buf.len()
    }

    #[test]
    fn skewed_symbols_round_trip_and_compress() {
        // Deterministic LCG, geometric-ish distribution.
        let mut s = 12345u64;
        let syms: Vec<u16> = (0..100_000)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as u32).trailing_zeros().min(20) as u16
            })
            .collect();
        for lanes in [1, 3, 32] {
            let len = round_trip(&syms, lanes);
            // Entropy of a geometric(1/2) source is 2 bits: expect well under 3.
            assert!(len < syms.len() * 3 / 8, "len {len}");
        }
    }

    #[test]
    fn edge_sizes_and_single_symbol() {
        round_trip(&[7], 1);
        round_trip(&[0, 0, 0, 0], 4);
        round_trip(&[1, 2], 32);
        let big: Vec<u16> = (0..40_000).map(|i| (i % 30_000) as u16).collect();
        round_trip(&big, 32);
    }

    #[test]
    fn normalization_keeps_rare_symbols() {
        let mut counts = vec![1u64; 300];
        counts[0] = 1_000_000;
        let t = FreqTable::from_counts(&counts, 12).unwrap();
        assert!((0..300).all(|s| t.freq(s) >= 1));
        assert_eq!((0..300).map(|s| t.freq(s) as u64).sum::<u64>(), 4096);
        assert!(FreqTable::from_counts(&vec![1u64; 5000], 12).is_err());
    }
}
