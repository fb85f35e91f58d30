//! Builds the browser client (`web/`) into `web/dist`, which the binary embeds.
//!
//! Runs `npm ci` (when `node_modules` is missing or older than the lock file)
//! and `npm run build` when `web/dist` is missing or older than its sources.
//! `PARLEY_SKIP_WEB_BUILD=1` skips it (the binary then serves a notice at `/`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let web = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("web");
    let dist = web.join("dist");
    println!("cargo::rerun-if-env-changed=PARLEY_SKIP_WEB_BUILD");
    for input in ["src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"] {
        println!("cargo::rerun-if-changed=web/{input}");
    }
    println!("cargo::rerun-if-changed=web/dist/index.html");

    let skip = std::env::var("PARLEY_SKIP_WEB_BUILD").is_ok_and(|v| !v.is_empty() && v != "0");
    if skip || !web.join("package.json").exists() {
        std::fs::create_dir_all(&dist).expect("create web/dist");
        return;
    }
    let sources = ["src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"]
        .iter()
        .map(|p| newest(&web.join(p)))
        .max()
        .flatten();
    let built = modified(&dist.join("index.html"));
    if built.is_some() && built >= sources {
        return;
    }
    let installed = modified(&web.join("node_modules/.package-lock.json"));
    if installed.is_none() || installed < modified(&web.join("package-lock.json")) {
        npm(&web, &["ci", "--no-audit", "--no-fund"]);
    }
    npm(&web, &["run", "build"]);
}

fn npm(dir: &Path, args: &[&str]) {
    let out = Command::new("npm").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("could not run npm ({e}); install Node.js 20+ or set PARLEY_SKIP_WEB_BUILD=1")
    });
    if !out.status.success() {
        panic!(
            "npm {} failed in web/:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of anything below a folder.
fn newest(p: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(p).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(p).ok()?.filter_map(Result::ok).filter_map(|e| newest(&e.path())).max()
}
