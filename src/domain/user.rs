use serde::{Deserialize, Serialize};

use super::{ChatError, Timestamp, UserId, text};

/// A login name: 3..=32 ASCII letters, digits, `_`, `.`, `-`. Kept as typed;
/// compared case-insensitively (the store folds case for uniqueness and lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = raw.trim();
        let ok_len = (3..=32).contains(&s.len());
        let ok_chars = s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok_len && ok_chars { Ok(Self(s.to_owned())) } else { Err(ChatError::InvalidUsername) }
    }

    /// A name read back from the store, already valid.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for uniqueness and lookup.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// An email address: a light check (one `@`, something on both sides, a dot in
/// the domain, no spaces); the only real check is a mail that arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = raw.trim();
        let valid = s.len() <= Self::MAX_LEN
            && !s.chars().any(char::is_whitespace)
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid { Ok(Self(s.to_owned())) } else { Err(ChatError::InvalidEmail) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

/// The name shown beside messages; defaults to the username. Not unique: the
/// clients show `@username` beside it. Stored NFKC with its blanks folded; no
/// invisible or text-direction characters, and no word mixing scripts
/// (`аdmin` with a Cyrillic `а`), see [`super::text`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    /// `None`, empty or whitespace falls back to the username; a name made of
    /// blank-looking characters only (U+2800, fillers) is refused, not
    /// replaced, so the user sees why.
    pub fn parse(raw: Option<&str>, username: &Username) -> Result<Self, ChatError> {
        let raw = raw.unwrap_or("");
        if raw.trim().is_empty() {
            return Ok(Self(username.as_str().to_owned()));
        }
        let s = text::clean_name(raw).map_err(|_| ChatError::InvalidDisplayName)?;
        if s.chars().count() > Self::MAX_CHARS || !text::words_are_single_script(&s) {
            return Err(ChatError::InvalidDisplayName);
        }
        Ok(Self(s))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if (8..=256).contains(&raw.chars().count()) { Ok(Self(raw.to_owned())) } else { Err(ChatError::InvalidPassword) }
    }

    /// A password offered at login: not checked for length, only compared.
    pub fn offered(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Refuses a password that is among the first guesses of any attacker:
    /// common passwords, keyboard walks, dates, and the account's own names
    /// (`user_inputs`: username, email, display name). zxcvbn estimates the
    /// guesses; below score 2 (fewer than about 10^6 guesses, minutes of
    /// online guessing across addresses) is refused. Only the first
    /// [`Self::CHECKED_CHARS`] characters are estimated: zxcvbn's time grows
    /// quickly with length, and a password that long is not a common one.
    pub fn check_strength(&self, user_inputs: &[&str]) -> Result<(), ChatError> {
        let checked: String = self.0.chars().take(Self::CHECKED_CHARS).collect();
        if checked.chars().count() < self.0.chars().count() {
            return Ok(());
        }
        let inputs: Vec<&str> = user_inputs.iter().copied().filter(|s| !s.is_empty()).collect();
        let score = zxcvbn::zxcvbn(&checked, &inputs).score();
        if (score as u8) < 2 { Err(ChatError::PasswordTooCommon) } else { Ok(()) }
    }

    pub const CHECKED_CHARS: usize = 64;
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A CSS hex colour for the avatar's background, chosen at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AvatarColor(String);

impl AvatarColor {
    /// Colours that keep white initials readable on the dark theme.
    pub const PALETTE: [&'static str; 12] = [
        "#e53935", "#d81b60", "#8e24aa", "#5e35b1", "#3949ab", "#1e88e5", "#00897b", "#43a047", "#7cb342", "#f4511e",
        "#6d4c41", "#546e7a",
    ];

    /// The same name always gets the same colour.
    pub fn for_username(name: &Username) -> Self {
        let h = name.folded().bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        Self(Self::PALETTE[h as usize % Self::PALETTE.len()].to_owned())
    }

    /// A colour a user chose: `#rrggbb` (hex digits of either case; kept lower-case).
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = raw.trim();
        let ok = s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if ok { Ok(Self(s.to_ascii_lowercase())) } else { Err(ChatError::InvalidAvatarColor) }
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub avatar_color: AvatarColor,
    pub created_at: Timestamp,
}

/// What an account may do on the whole server (docs/protocol.md, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// The stored value; `moderator` (reserved in the schema) and anything
    /// else reads as a member.
    pub fn from_db(s: &str) -> Self {
        if s == "admin" { Self::Admin } else { Self::Member }
    }
}

/// A stored account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: String,
    pub display_name: DisplayName,
    pub avatar_color: AvatarColor,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub last_seen: Option<Timestamp>,
    pub role: Role,
    /// A deactivated user has no sessions and cannot sign in.
    pub deactivated: bool,
}

/// The public face of a user: what others may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub avatar_color: AvatarColor,
}

impl From<&User> for UserSummary {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar_color: u.avatar_color.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_of_three_to_thirty_two_safe_characters_is_accepted() {
        assert!(Username::parse("ann").is_ok());
        assert!(Username::parse("a.b-c_D9").is_ok());
        assert!(Username::parse(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn a_username_that_is_short_long_or_has_other_characters_is_rejected() {
        for bad in ["ab", "", &"x".repeat(33), "ann smith", "añn", "<script>", "a/b"] {
            assert_eq!(Username::parse(bad), Err(ChatError::InvalidUsername), "{bad:?}");
        }
    }

    #[test]
    fn usernames_fold_to_lower_case_for_comparison() {
        assert_eq!(Username::parse("Ann").unwrap().folded(), Username::parse("aNN").unwrap().folded());
    }

    #[test]
    fn an_email_needs_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("ann@example.com").is_ok());
        for bad in ["ann", "@example.com", "ann@example", "ann@.com", "a b@example.com", "a@b@c.d"] {
            assert_eq!(Email::parse(bad), Err(ChatError::InvalidEmail), "{bad:?}");
        }
    }

    #[test]
    fn a_blank_display_name_falls_back_to_the_username() {
        let u = Username::parse("ann").unwrap();
        assert_eq!(DisplayName::parse(None, &u).unwrap().as_str(), "ann");
        assert_eq!(DisplayName::parse(Some("  "), &u).unwrap().as_str(), "ann");
        assert_eq!(DisplayName::parse(Some(" Ann S. "), &u).unwrap().as_str(), "Ann S.");
        assert!(DisplayName::parse(Some(&"é".repeat(65)), &u).is_err());
    }

    #[test]
    fn a_display_name_is_stored_nfkc_normalized() {
        let u = Username::parse("ann").unwrap();
        assert_eq!(DisplayName::parse(Some("\u{FF21}nn  Lee"), &u).unwrap().as_str(), "Ann Lee");
        assert_eq!(DisplayName::parse(Some("Zo\u{0065}\u{0308}"), &u).unwrap().as_str(), "Zo\u{00EB}");
    }

    #[test]
    fn a_display_name_that_hides_or_mixes_scripts_to_impersonate_is_rejected() {
        let u = Username::parse("ann").unwrap();
        for bad in ["\u{0430}dmin", "\u{202E}nimda", "ad\u{200B}min", "\u{3164}", "\u{115F}\u{1160}", "\u{2800}", "admin\u{2066}"] {
            assert_eq!(DisplayName::parse(Some(bad), &u), Err(ChatError::InvalidDisplayName), "{bad:?}");
        }
        assert_eq!(DisplayName::parse(Some("\u{0418}\u{0432}\u{0430}\u{043D}"), &u).unwrap().as_str(), "\u{0418}\u{0432}\u{0430}\u{043D}");
    }

    #[test]
    fn ordinary_names_in_many_scripts_are_accepted_as_typed() {
        let u = Username::parse("ann").unwrap();
        for ok in [
            "Jos\u{00E9} Garc\u{00ED}a", "M\u{00FC}ller", "Nguy\u{1EC5}n V\u{0103}n A", "\u{0141}ukasz \u{00D8}rsted", "O'Neil-Smith",
            "\u{7530}\u{4E2D}\u{592A}\u{90CE}", "\u{AE40}\u{CCA0}\u{C218}", "\u{0645}\u{062D}\u{0645}\u{062F}",
            "\u{0391}\u{03BB}\u{03AD}\u{03BE}\u{03B7}\u{03C2}", "\u{05D3}\u{05D5}\u{05D3}", "Ann \u{1F469}\u{200D}\u{1F4BB}",
        ] {
            assert_eq!(DisplayName::parse(Some(ok), &u).map(|d| d.as_str().to_owned()), Ok(ok.to_owned()), "{ok:?}");
        }
    }

    #[test]
    fn a_password_shorter_than_eight_characters_is_rejected() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(format!("{:?}", Password::parse("secret-pw").unwrap()), "Password(…)");
    }

    #[test]
    fn a_common_password_or_one_made_of_the_account_s_names_is_refused() {
        for common in ["12345678", "password", "password1", "qwertyuiop", "iloveyou", "11111111"] {
            let pw = Password::parse(common).unwrap();
            assert_eq!(pw.check_strength(&[]), Err(ChatError::PasswordTooCommon), "{common}");
        }
        let pw = Password::parse("annabelle99").unwrap();
        assert_eq!(pw.check_strength(&["annabelle99", "ann@example.com"]), Err(ChatError::PasswordTooCommon));
        let pw = Password::parse("annsmith@example.com").unwrap();
        assert_eq!(pw.check_strength(&["annsmith", "annsmith@example.com"]), Err(ChatError::PasswordTooCommon));
    }

    #[test]
    fn the_passwords_the_tests_and_tools_use_are_accepted() {
        for fine in ["correct horse battery", "correct horse battery staple", "correct horse", "not the password", "bench-password-1"] {
            assert_eq!(Password::parse(fine).unwrap().check_strength(&["ann", "ann@example.com"]), Ok(()), "{fine}");
        }
        let long = "a".repeat(200);
        assert_eq!(Password::parse(&long).unwrap().check_strength(&[]), Ok(()), "only the first 64 characters are estimated");
    }

    #[test]
    fn an_avatar_colour_is_written_hash_and_six_hex_digits() {
        assert_eq!(AvatarColor::parse("#1E88e5").unwrap().as_str(), "#1e88e5");
        assert_eq!(AvatarColor::parse(" #000000 ").unwrap().as_str(), "#000000");
        for bad in ["", "#fff", "1e88e5", "#1e88e", "#1e88e5a", "#gggggg", "red", "#1e88e\u{0665}"] {
            assert_eq!(AvatarColor::parse(bad), Err(ChatError::InvalidAvatarColor), "{bad:?}");
        }
    }

    #[test]
    fn the_same_username_always_gets_the_same_avatar_colour() {
        let a = AvatarColor::for_username(&Username::parse("Ann").unwrap());
        let b = AvatarColor::for_username(&Username::parse("ann").unwrap());
        assert_eq!(a, b);
        assert!(AvatarColor::PALETTE.contains(&a.as_str()));
    }
}
