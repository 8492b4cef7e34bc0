//! Mints the keys and tokens `make bench` (scripts/bench.sh) needs, all real RS256 signed
//! with jwt-simple: one key pair, its JWK set, the client token of the cached runs, COUNT
//! distinct client tokens for the uncached run (more than a verified-token cache holds),
//! the client token with one signature character changed (must get 401), and the
//! backend-auth ID token the bench's metadata route serves.
//!
//! usage: wasp-bench-tokens OUT_DIR --issuer URL --audience AUD --id-audience AUD --count N
//!
//! Writes into OUT_DIR: `jwks.json`, `token`, `forged`, `id-token` (no trailing newline, as
//! an HTTP body or header value) and `tokens.txt` (one token per line).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jwt_simple::prelude::*;

const KEY_ID: &str = "wasp-bench";
/// Long enough for any bench run, short enough to be a plausible token.
const LIFETIME: Duration = Duration::from_hours(12);

struct Args {
    out: PathBuf,
    issuer: String,
    audience: String,
    id_audience: String,
    count: usize,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let out = args.next().ok_or("missing OUT_DIR")?;
    let (mut issuer, mut audience, mut id_audience, mut count) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--issuer" => issuer = Some(value),
            "--audience" => audience = Some(value),
            "--id-audience" => id_audience = Some(value),
            "--count" => {
                count = Some(
                    value
                        .parse::<usize>()
                        .map_err(|e| format!("--count {value}: {e}"))?,
                )
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        out: PathBuf::from(out),
        issuer: issuer.ok_or("missing --issuer")?,
        audience: audience.ok_or("missing --audience")?,
        id_audience: id_audience.ok_or("missing --id-audience")?,
        count: count.ok_or("missing --count")?,
    })
}

/// Claims of a client token; `jti` makes every token distinct (and so a cache miss).
fn client_claims(args: &Args, jti: usize) -> JWTClaims<NoCustomClaims> {
    Claims::create(LIFETIME)
        .with_issuer(&args.issuer)
        .with_audience(&args.audience)
        .with_subject("bench-user")
        .with_jwt_id(jti)
}

/// The token with one character in the middle of its signature changed: it parses and
/// finds its key, then fails the signature check.
fn forge(token: &str) -> String {
    let signature_start = token.rfind('.').map_or(0, |dot| dot + 1);
    let middle = signature_start + (token.len() - signature_start) / 2;
    token
        .char_indices()
        .map(|(i, c)| match (i == middle, c) {
            (true, 'A') => 'B',
            (true, _) => 'A',
            (false, c) => c,
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(name);
    fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn run(args: &Args) -> Result<(), String> {
    let sign_err = |e: jwt_simple::Error| format!("sign a token: {e}");
    let key = RS256KeyPair::generate(2048)
        .map_err(|e| format!("generate the RSA key: {e}"))?
        .with_key_id(KEY_ID);
    fs::create_dir_all(&args.out).map_err(|e| format!("create {}: {e}", args.out.display()))?;

    let jwks = format!("{{\"keys\":[{}]}}", key.public_key().to_jwk());
    write(&args.out, "jwks.json", &jwks)?;
    let token = key.sign(client_claims(args, 0)).map_err(sign_err)?;
    write(&args.out, "token", &token)?;
    write(&args.out, "forged", &forge(&token))?;
    let id_token = key
        .sign(
            Claims::create(LIFETIME)
                .with_issuer("https://accounts.google.com")
                .with_audience(&args.id_audience)
                .with_subject("bench-service-account"),
        )
        .map_err(sign_err)?;
    write(&args.out, "id-token", &id_token)?;

    let mut lines = String::new();
    for jti in 1..=args.count {
        lines.push_str(&key.sign(client_claims(args, jti)).map_err(sign_err)?);
        lines.push('\n');
    }
    write(&args.out, "tokens.txt", &lines)
}

fn main() -> ExitCode {
    let result = parse(std::env::args().skip(1)).and_then(|args| run(&args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasp-bench-tokens: {e}\nusage: wasp-bench-tokens OUT_DIR --issuer URL --audience AUD --id-audience AUD --count N");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn every_option_is_required_and_counted() {
        let ok = args(&[
            "out",
            "--issuer",
            "https://i",
            "--audience",
            "a",
            "--id-audience",
            "b",
            "--count",
            "3",
        ])
        .unwrap();
        assert_eq!((ok.count, ok.issuer.as_str()), (3, "https://i"));
        assert!(args(&["out", "--issuer", "https://i"]).is_err());
        assert!(args(&["out", "--count", "x"]).is_err());
        assert!(args(&["out", "--bogus", "1"]).is_err());
    }

    #[test]
    fn forging_changes_one_signature_character() {
        let forged = forge("aaa.bbb.ccccAcccc");
        assert_eq!(forged, "aaa.bbb.ccccBcccc");
        assert_eq!(forge("h.p.xyz"), "h.p.xAz");
    }

    #[test]
    fn minted_tokens_verify_and_the_forged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let args = Args {
            out: dir.path().to_path_buf(),
            issuer: "https://issuer.bench".into(),
            audience: "bench-aud".into(),
            id_audience: "backend-aud".into(),
            count: 2,
        };
        run(&args).unwrap();
        let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&read("jwks.json")).unwrap();
        let jwk = jwks["keys"][0].to_string();
        let public = RS256PublicKey::from_jwk(&jwk).unwrap();
        let options = || VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&["https://issuer.bench"])),
            allowed_audiences: Some(HashSet::from_strings(&["bench-aud"])),
            ..Default::default()
        };
        let tokens = read("tokens.txt");
        let mut all: Vec<&str> = tokens.lines().collect();
        let single = read("token");
        all.push(&single);
        for token in &all {
            public
                .verify_token::<NoCustomClaims>(token, Some(options()))
                .unwrap();
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 3, "every token is distinct");
        assert!(public
            .verify_token::<NoCustomClaims>(&read("forged"), Some(options()))
            .is_err());
        let id = public
            .verify_token::<NoCustomClaims>(&read("id-token"), None)
            .unwrap();
        assert!(id
            .audiences
            .unwrap()
            .contains(&HashSet::from_strings(&["backend-aud"])));
    }
}
