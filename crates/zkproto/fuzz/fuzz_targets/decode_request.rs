//! Feeds arbitrary bytes to everything a server decodes from a client:
//! the frame decoder (pushed in two pieces at an input-chosen split), the
//! request decoder, the handshake decoder and the four-letter-word check.
//! Any panic is a bug; errors are the expected outcome for most inputs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use synod_zkproto::{
    decode_connect_request, decode_request, four_letter_word, FrameDecoder, DEFAULT_MAX_BUFFER,
};

fuzz_target!(|data: &[u8]| {
    let _ = decode_request(data);
    let _ = decode_connect_request(data);
    if let Some(first4) = data.first_chunk::<4>() {
        let _ = four_letter_word(*first4);
    }

    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut frames = FrameDecoder::new(DEFAULT_MAX_BUFFER);
    let mut first_frame = true;
    for piece in [&data[..split], &data[split..]] {
        frames.push(piece);
        while let Ok(Some(body)) = frames.pop() {
            if first_frame {
                let _ = decode_connect_request(&body);
                first_frame = false;
            } else {
                let _ = decode_request(&body);
            }
        }
    }
});
