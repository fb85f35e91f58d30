//! Unicode rules for the names people see beside each other: display names
//! and room names (docs/security.md, finding 7).
//!
//! A name is normalized (NFKC, so full-width `ａｄｍｉｎ` and `admin`, or `Café`
//! typed composed and decomposed, are one name), its blanks are folded to one
//! space, and it is refused if it holds a character that is invisible or that
//! reorders text: controls, bidi controls, zero-width and other
//! Default_Ignorable_Code_Point characters (which include the Hangul fillers),
//! format, private-use and unassigned characters. Room names are then compared
//! by their UTS #39 confusable skeleton ([`skeleton_key`]), so `Gеneral` with a
//! Cyrillic `е` is the same room as `General`.
//!
//! The tables are the maintained `unicode-*` crates' (unicode-security for
//! UTS #39, unicode-properties for the general category and emoji,
//! unicode-normalization for NFKC), not a list of our own.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeEmoji, UnicodeGeneralCategory};
use unicode_security::{RestrictionLevel, RestrictionLevelDetection};

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameProblem {
    /// Nothing left once blanks are folded: empty, spaces, or blank-looking
    /// characters such as U+2800 BRAILLE PATTERN BLANK.
    Blank,
    /// A character that is invisible, reorders text, or has no meaning yet.
    Hidden,
}

/// A character that renders as a blank but is not `White_Space`: folded into
/// a space like one, so `General⠀` is `General`.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{2800}'
}

/// `Default_Ignorable_Code_Point` (bidi controls U+202A-202E, U+2066-2069,
/// U+200E/200F, U+061C; U+200B-200D; U+2060-2064; variation selectors; the
/// Hangul fillers U+115F, U+1160, U+3164, U+FFA0; tags; ...). unicode-security
/// keeps its table private, but its UTS #39 skeleton drops exactly these
/// characters (step 2 of the algorithm), and no other character's skeleton is
/// empty.
fn is_default_ignorable(c: char) -> bool {
    let mut buf = [0u8; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buf)).next().is_none()
}

/// A pictographic emoji (not the ASCII digits, `#` and `*`, which are emoji
/// too for keycaps).
fn is_pictograph(c: char) -> bool {
    !c.is_ascii() && c.is_emoji_char()
}

/// Whether the character at `i` may stay: the zero-width joiner only inside
/// an emoji sequence (`👩‍💻`), a variation selector only right after an emoji
/// (`❤️`); every other invisible, format, private-use or unassigned character
/// is refused.
fn allowed_at(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    let prev = i.checked_sub(1).map(|p| chars[p]);
    let next = chars.get(i + 1).copied();
    match c {
        '\u{200D}' => {
            prev.is_some_and(|p| is_pictograph(p) || p == '\u{FE0F}' || p.is_emoji_component() && !p.is_ascii())
                && next.is_some_and(is_pictograph)
        }
        '\u{FE0E}' | '\u{FE0F}' => prev.is_some_and(|p| p.is_emoji_char()),
        _ if is_default_ignorable(c) => false,
        _ => !matches!(
            c.general_category(),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::PrivateUse
                | GeneralCategory::Surrogate
                | GeneralCategory::Unassigned
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        ),
    }
}

/// The name as it is stored: NFKC, each run of blanks one space, trimmed.
pub(super) fn clean_name(raw: &str) -> Result<String, NameProblem> {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.nfkc() {
        if is_blank(c) {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(NameProblem::Blank);
    }
    let chars: Vec<char> = out.chars().collect();
    if !(0..chars.len()).all(|i| allowed_at(&chars, i)) {
        return Err(NameProblem::Hidden);
    }
    // Combining marks alone, or a lone emoji joiner, show nothing readable.
    let visible = chars.iter().any(|c| {
        use unicode_properties::GeneralCategoryGroup::*;
        matches!(c.general_category_group(), Letter | Number | Punctuation | Symbol)
    });
    if !visible {
        return Err(NameProblem::Blank);
    }
    Ok(out)
}

/// Whether every word of a (clean) name is written in one script, as UTS #39
/// "Highly Restrictive" allows: `аdmin` with a Cyrillic `а` is refused, while
/// `Ivan Иванов` (two words) and `東京タワー` (Han with Katakana) pass. Only
/// letters count (digits, punctuation and emoji are no script's own), and a
/// letter UTS #39 does not recommend for identifiers (`ɑ`, U+0251, a Latin
/// look-alike of `a`) makes the word fail too.
pub(super) fn words_are_single_script(name: &str) -> bool {
    name.split(' ').all(|word| {
        let letters: String = word.chars().filter(|c| c.is_alphabetic()).collect();
        letters.as_str().check_restriction_level(RestrictionLevel::HighlyRestrictive)
    })
}

/// The key two names are the same by: the UTS #39 skeleton, case-folded on
/// both sides (so `Rust`/`rUST`, `General`/`Gеneral` and `paypal`/`раураl`
/// have one key). Its length is at most [`MAX_KEY_CHARS`] for a name of 50
/// characters.
pub(super) fn skeleton_key(name: &str) -> String {
    let lower = name.to_lowercase();
    unicode_security::skeleton(&lower).collect::<String>().to_lowercase()
}

/// The longest key a room name of up to 50 characters can have (a skeleton
/// maps one character to at most a few; checked by a test over every
/// character), the size of the `name_key` column on MySQL.
pub(super) const MAX_KEY_CHARS: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoomName;

    /// Every assigned character: planes 0-3 and 14 (4-13 are unassigned,
    /// 15-16 private use), so the sweeps below take a quarter of the time.
    fn assigned_planes() -> impl Iterator<Item = char> {
        ('\0'..='\u{3FFFF}').chain('\u{E0000}'..='\u{EFFFF}')
    }

    #[test]
    fn bidi_zero_width_and_other_ignorable_characters_are_refused() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{180E}',
            '\u{E0041}', '\u{FE0F}', '\u{200D}', '\u{E000}', '\u{0378}',
        ] {
            assert_eq!(clean_name(&format!("ad{c}min")), Err(NameProblem::Hidden), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn the_default_ignorables_are_the_characters_whose_skeleton_is_empty() {
        for c in ['\u{00AD}', '\u{034F}', '\u{061C}', '\u{115F}', '\u{1160}', '\u{180B}', '\u{200B}', '\u{200F}', '\u{202E}', '\u{2060}', '\u{2069}', '\u{3164}', '\u{FE0F}', '\u{FEFF}', '\u{FFA0}', '\u{E0001}', '\u{E01EF}'] {
            assert!(is_default_ignorable(c), "U+{:04X}", c as u32);
        }
        for c in ['a', ' ', '\u{00A0}', '\u{2800}', '\u{0301}', '\u{1F600}', '\u{3000}', '\u{0430}', '\u{FFFC}'] {
            assert!(!is_default_ignorable(c), "U+{:04X}", c as u32);
        }
        // Unicode's DerivedCoreProperties.txt counts 4,174 of them (since 7.0).
        assert_eq!(assigned_planes().filter(|c| is_default_ignorable(*c)).count(), 4174);
    }

    #[test]
    fn names_of_fillers_or_blanks_only_are_refused() {
        for raw in ["\u{3164}", "\u{115F}\u{1160}", "\u{FFA0}"] {
            assert_eq!(clean_name(raw), Err(NameProblem::Hidden), "{raw:?}");
        }
        for raw in ["", " \t", "\u{2800}\u{2800}", "\u{3000}\u{00A0}\u{2003}", "\u{0301}\u{0301}"] {
            assert_eq!(clean_name(raw), Err(NameProblem::Blank), "{raw:?}");
        }
    }

    #[test]
    fn a_name_is_stored_nfkc_with_its_blanks_folded() {
        assert_eq!(clean_name("ａｄｍｉｎ").unwrap(), "admin");
        assert_eq!(clean_name("Cafe\u{0301}").unwrap(), "Caf\u{00E9}");
        assert_eq!(clean_name("\u{2800} Ann\u{3000}\u{00A0} Lee\u{2800}").unwrap(), "Ann Lee");
    }

    #[test]
    fn emoji_sequences_keep_their_joiners_and_selectors() {
        for ok in ["Ann \u{1F469}\u{200D}\u{1F4BB}", "I \u{2764}\u{FE0F} Rust", "\u{1F44B}\u{1F3FD}"] {
            assert_eq!(clean_name(ok).as_deref(), Ok(ok), "{ok:?}");
        }
        assert_eq!(clean_name("a\u{200D}b"), Err(NameProblem::Hidden));
    }

    #[test]
    fn a_word_mixing_scripts_is_refused_but_words_in_different_scripts_pass() {
        assert!(!words_are_single_script("\u{0430}dmin"));
        assert!(!words_are_single_script("\u{0251}dmin"), "a letter not recommended for identifiers");
        assert!(words_are_single_script("Ivan \u{0418}\u{0432}\u{0430}\u{043D}"));
        assert!(words_are_single_script("\u{6771}\u{4EAC}\u{30BF}\u{30EF}\u{30FC}"));
        assert!(words_are_single_script("Ann-Marie O'Neil 2 \u{1F44B}"));
    }

    #[test]
    fn confusable_names_have_one_key() {
        assert_eq!(skeleton_key("General"), skeleton_key("G\u{0435}neral"));
        assert_eq!(skeleton_key("Rust"), skeleton_key("rUST"));
        assert_eq!(skeleton_key("paypal"), skeleton_key("\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}l"));
        assert_ne!(skeleton_key("General"), skeleton_key("Generals"));
    }

    #[test]
    fn a_fifty_character_name_has_a_key_that_fits_the_column() {
        // A stored name is NFKC already, so only NFKC-stable characters count.
        let stable = |c: &char| c.to_string().nfkc().eq(std::iter::once(*c));
        let longest =
            assigned_planes().filter(stable).map(|c| skeleton_key(&c.to_string()).chars().count()).max().unwrap();
        assert!(RoomName::MAX_CHARS * longest <= MAX_KEY_CHARS, "one character's key can be {longest} long");
    }
}
