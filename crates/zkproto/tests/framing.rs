//! The frame decoder and four-letter words.

use synod_zkproto::*;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = (body.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn frames_split_across_pushes_come_out_whole_and_in_order() {
    let mut stream = frame(b"first");
    stream.extend(frame(b""));
    stream.extend(frame(b"third one"));
    let mut decoder = FrameDecoder::default();
    let mut bodies = Vec::new();
    for byte in &stream {
        decoder.push(std::slice::from_ref(byte));
        while let Some(body) = decoder.pop().unwrap() {
            bodies.push(body);
        }
    }
    assert_eq!(
        bodies,
        vec![b"first".to_vec(), vec![], b"third one".to_vec()]
    );
    assert!(decoder.buffered().is_empty());
}

#[test]
fn several_frames_in_one_push_all_come_out() {
    let mut stream = frame(b"a");
    stream.extend(frame(b"bb"));
    stream.extend(&frame(b"ccc")[..5]); // a partial third frame
    let mut decoder = FrameDecoder::default();
    decoder.push(&stream);
    assert_eq!(decoder.pop().unwrap(), Some(b"a".to_vec()));
    assert_eq!(decoder.pop().unwrap(), Some(b"bb".to_vec()));
    assert_eq!(decoder.pop().unwrap(), None);
    decoder.push(b"cc");
    assert_eq!(decoder.pop().unwrap(), Some(b"ccc".to_vec()));
}

#[test]
fn oversized_frame_length_is_refused_as_soon_as_the_prefix_arrives() {
    let mut decoder = FrameDecoder::default();
    decoder.push(&((DEFAULT_MAX_BUFFER + 1) as i32).to_be_bytes());
    assert_eq!(
        decoder.pop(),
        Err(DecodeError::FrameTooLarge {
            len: DEFAULT_MAX_BUFFER + 1,
            limit: DEFAULT_MAX_BUFFER
        })
    );
}

#[test]
fn frame_of_exactly_max_buffer_is_accepted_like_zookeepers_server() {
    assert_eq!(
        check_frame_len(DEFAULT_MAX_BUFFER as i32, DEFAULT_MAX_BUFFER),
        Ok(DEFAULT_MAX_BUFFER)
    );
    let mut decoder = FrameDecoder::new(8);
    decoder.push(&frame(&[9; 8]));
    assert_eq!(decoder.pop().unwrap(), Some(vec![9; 8]));
    decoder.push(&frame(&[9; 9]));
    assert!(matches!(
        decoder.pop(),
        Err(DecodeError::FrameTooLarge { len: 9, limit: 8 })
    ));
}

#[test]
fn negative_frame_length_is_refused() {
    let mut decoder = FrameDecoder::default();
    decoder.push(&(-1i32).to_be_bytes());
    assert_eq!(
        decoder.pop(),
        Err(DecodeError::NegativeFrameLength { len: -1 })
    );
    assert!(check_frame_len(i32::MIN, DEFAULT_MAX_BUFFER).is_err());
}

#[test]
fn four_letter_words_are_recognised_and_would_be_oversized_frames() {
    let served = [
        "ruok", "srvr", "stat", "envi", "mntr", "isro", "cons", "wchs", "conf",
    ];
    let polite = [
        "dump", "wchc", "wchp", "crst", "srst", "dirs", "gtmk", "stmk",
    ];
    for text in served.iter().chain(polite.iter()) {
        let bytes: [u8; 4] = text.as_bytes().try_into().unwrap();
        let word = four_letter_word(bytes).unwrap_or_else(|| panic!("{text} not recognised"));
        assert_eq!(word.as_str(), *text);
        assert_eq!(word.is_served(), served.contains(text));
        assert_eq!(FourLetterWord::try_from(bytes), Ok(word));
        // The server must look for them before framing.
        assert!(check_frame_len(i32::from_be_bytes(bytes), DEFAULT_MAX_BUFFER).is_err());
    }
    assert_eq!(four_letter_word(*b"nope"), None);
    assert_eq!(four_letter_word([0, 0, 0, 44]), None);
    assert_eq!(
        FourLetterWord::try_from(*b"RUOK"),
        Err(DecodeError::UnknownFourLetterWord { word: *b"RUOK" })
    );
}
