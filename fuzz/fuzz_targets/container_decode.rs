//! Arbitrary bytes as a single-tensor container, to the CPU decoder of every codec (raw,
//! lossless layout v1, p-adic, byte planes, lossless layout v2 = codec 4): once as given
//! (checksums as they are) and once with the header and chunk checksums rewritten, so that
//! mutated payloads reach the codecs' decoders. Must never panic; see
//! `saraphis_fuzz::decode_every_way` for what must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: saraphis_fuzz::init(), |data: &[u8]| {
    saraphis_fuzz::decode_every_way(data);
    let mut fixed = data.to_vec();
    if saraphis_fuzz::fix_container(&mut fixed) && fixed != data {
        saraphis_fuzz::decode_every_way(&fixed);
    }
});
