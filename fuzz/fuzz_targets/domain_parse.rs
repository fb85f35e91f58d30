//! The domain's `parse` functions, which every value from a user goes
//! through. The first byte picks the parser, the rest is the input. Besides
//! "never panics", each accepted value must be accepted again as it is kept
//! (what is stored re-validates to itself) and must respect its length limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::domain::{ClientId, DisplayName, Email, MessageBody, MessageId, Page, Password, RoomId, RoomName, UserId, Username};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 8 == 7 {
        // Ids: eight bytes as a signed integer.
        let mut raw = [0u8; 8];
        let n = rest.len().min(8);
        raw[..n].copy_from_slice(&rest[..n]);
        let n = i64::from_le_bytes(raw);
        assert_eq!(RoomId::parse(n).is_some(), n > 0);
        assert_eq!(UserId::parse(n).is_some(), n > 0);
        assert_eq!(MessageId::parse(n).is_some(), n > 0);
        return;
    }
    let Ok(s) = std::str::from_utf8(rest) else { return };
    match which % 8 {
        0 => {
            if let Ok(u) = Username::parse(s) {
                assert_eq!(Username::parse(u.as_str()).as_ref(), Ok(&u));
                assert!(u.as_str().len() <= 32);
                // A display name of anything, for this valid username.
                if let Ok(d) = DisplayName::parse(Some(s), &u) {
                    assert_eq!(DisplayName::parse(Some(d.as_str()), &u).as_ref(), Ok(&d));
                }
            }
        }
        1 => {
            if let Ok(e) = Email::parse(s) {
                assert_eq!(Email::parse(e.as_str()).as_ref(), Ok(&e));
                assert!(e.as_str().len() <= Email::MAX_LEN);
            }
        }
        2 => {
            let _ = Password::parse(s);
        }
        3 => {
            if let Ok(r) = RoomName::parse(s) {
                assert_eq!(RoomName::parse(r.as_str()).as_ref(), Ok(&r));
                assert!(r.as_str().chars().count() <= RoomName::MAX_CHARS);
            }
        }
        4 => {
            if let Ok(m) = MessageBody::parse(s) {
                assert_eq!(MessageBody::parse(m.as_str()).as_ref(), Ok(&m));
                assert!(m.as_str().chars().count() <= MessageBody::MAX_CHARS);
            }
        }
        5 => {
            if let Ok(c) = ClientId::parse(s) {
                assert_eq!(ClientId::parse(c.as_str()).as_ref(), Ok(&c));
            }
        }
        _ => {
            // A history query: up to three parameters separated by '&', an
            // empty one standing for "not given".
            let mut parts = s.splitn(3, '&').map(|p| (!p.is_empty()).then_some(p));
            let (b, a, l) = (parts.next().flatten(), parts.next().flatten(), parts.next().flatten());
            if let Ok(page) = Page::parse(b, a, l) {
                let limit = match page {
                    Page::Latest { limit } | Page::Before { limit, .. } | Page::After { limit, .. } => limit,
                };
                assert!((1..=Page::MAX_LIMIT).contains(&limit));
            }
        }
    }
});
