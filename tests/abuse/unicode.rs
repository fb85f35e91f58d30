//! 7. Impersonation through Unicode: names that look like another's, or hide
//! characters that are invisible or reorder text, are refused or collide with
//! the name they imitate (docs/security.md, finding 7). Message bodies keep
//! such characters; the web client renders them harmlessly
//! (tests/browser/unicode.test.js).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{PASSWORD, WAIT, error_code, spawn_app};

async fn register(app: &crate::support::TestApp, username: &str, display_name: &str) -> (StatusCode, Value) {
    let answer = app
        .http()
        .api_register_with_display_name(username, &format!("{username}@example.test"), PASSWORD, display_name)
        .await
        .expect("register answers");
    let status = answer.status();
    (status, answer.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn display_names_that_pass_for_admin_are_refused() {
    let app = spawn_app().await;
    let (status, admin) = register(&app, "admin", "admin").await;
    assert_eq!(status, StatusCode::CREATED, "{admin}");
    let look_alikes = [
        "\u{0430}dmin",       // Cyrillic а
        "\u{202E}nimda",      // right-to-left override: shows as "admin"
        "ad\u{200B}min",      // zero-width space
        "admin\u{2066}",      // a bidi isolate
        "\u{3164}",           // Hangul filler only
        "\u{115F}\u{1160}",   // Hangul choseong and jungseong fillers
        "\u{FFA0}",           // half-width Hangul filler
        "\u{2800}\u{2800}",   // Braille blanks only
        "a\u{00AD}dmin",      // soft hyphen, invisible
    ];
    for (i, name) in look_alikes.into_iter().enumerate() {
        let (status, body) = register(&app, &format!("mallory{i}"), name).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert_eq!(error_code(&body), "invalid_display_name", "{name:?}: {body}");
    }
}

#[tokio::test]
async fn a_display_name_is_stored_nfkc_normalized() {
    let app = spawn_app().await;
    // Full-width letters, an ideographic space and a decomposed é.
    let (status, body) = register(&app, "zoe", "\u{FF3A}oe\u{3000}\u{3000}Ce\u{0301}sar").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["display_name"], "Zoe C\u{00E9}sar");
    let http = app.http();
    assert_eq!(http.api_login("zoe", PASSWORD).await.unwrap().status(), StatusCode::OK);
    let (_, me) = http.get_json("/api/me").await.unwrap();
    assert_eq!(me["display_name"], "Zoe C\u{00E9}sar", "stored normalized, not only answered so");
}

#[tokio::test]
async fn look_alike_room_names_collide_with_the_room_they_imitate_or_are_refused() {
    let app = spawn_app().await;
    let (_ann, s) = app.connected("ann").await;
    let create = async |name: &str| s.emit_with_ack("create_room", json!({ "room_name": name }), WAIT).await.unwrap();

    let cafe = create("Caf\u{00E9}").await;
    assert_eq!(cafe["ok"], true, "{cafe}");
    for (name, code) in [
        ("General\u{200B}", "invalid_room_name"), // zero-width space: refused outright
        ("\u{202E}lareneG", "invalid_room_name"), // right-to-left override
        ("Gen\u{2060}eral", "invalid_room_name"), // word joiner
        ("\u{3164}", "invalid_room_name"),        // Hangul filler
        ("G\u{0435}neral", "room_name_taken"),    // Cyrillic е
        ("GENERAL", "room_name_taken"),
        ("\u{FF27}eneral", "room_name_taken"),    // full-width Ｇ
        ("General\u{2800}", "room_name_taken"),   // a trailing Braille blank
        ("Cafe\u{0301}", "room_name_taken"),      // Café decomposed (NFD)
        ("C\u{0430}f\u{00E9}", "room_name_taken"), // Cyrillic а
        ("\u{2800} \u{3000}", "room_name_empty"),
    ] {
        let ack = create(name).await;
        assert_eq!(ack["ok"], false, "{name:?} was created: {ack}");
        assert_eq!(error_code(&ack), code, "{name:?}: {ack}");
    }
    let ack = create("Cafes").await;
    assert_eq!(ack["ok"], true, "a different name still works: {ack}");
}
