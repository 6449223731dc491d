//! Masking of secrets in free text, in time linear in the text's length.
//!
//! Every rule is a regular expression of the `regex` crate (finite automata, no backtracking)
//! shaped so that a search never runs far past the match it reports: after a literal prefix
//! each rule is a greedy run that is the match itself, or a run that dies at a character the
//! match cannot hold, so iterating over the matches of one rule reads each byte a bounded
//! number of times (the crate's iterators are quadratic only for rules that can scan far past
//! a shorter match; a test times every rule's hostile input at two sizes). The rules run one
//! pass each, in a fixed order (later rules see the replacements of earlier ones). On texts up
//! to 1 KB a [`RegexSet`] first tells, in one pass, which rules can match at all; on longer
//! hostile texts the set's automaton outgrows its cache, so they run every rule. What a rule's
//! regular expression cannot say (the Luhn check of a card, the Shannon entropy of an opaque
//! token, whether a key is sensitive) is checked in plain code on the match.
//!
//! Rules, in order:
//!
//! 1. PEM private key blocks (`-----BEGIN ... PRIVATE KEY-----` up to the `END` line);
//! 2. the password of a URL's userinfo (`postgres://user:***@host`);
//! 3. Slack and Discord webhook URLs (the path after `services/`);
//! 4. token formats (except inside a UUID, see rule 9): AWS access key IDs (`AKIA`, `ASIA`, ...), GitHub (`ghp_`, `gho_`, `ghu_`,
//!    `ghs_`, `ghr_`, `github_pat_`), GitLab (`glpat-`), Slack (`xoxb-`, ...), Stripe
//!    (`sk_live_`, `rk_live_`, `whsec_`), OpenAI/Anthropic style `sk-`, Google API keys
//!    (`AIza`), npm, SendGrid, Hugging Face;
//! 5. JWTs (`eyJ...` with three dot-separated parts);
//! 6. HTTP auth schemes: `Bearer <anything>`, `Basic`/`Token` followed by something credential-shaped;
//! 7. `key=value` / `key: value` / `"key": "value"` where the key is sensitive (password, secret,
//!    token, ...); after a password-like key an unquoted value runs over spaces to the end of the
//!    line, a delimiter (`, ; & } ] )` or a quote) or the next `key=` word, so passphrases are
//!    masked whole;
//! 8. query parameters that carry credentials (`?key=`, `&sig=`, `signature=`, `X-Amz-Signature=`,
//!    `access_token=`, ...);
//! 9. card numbers that pass the Luhn check: 13 to 19 digits, with single spaces or dashes
//!    between groups, wherever they start (after a letter or a dash too), except digits inside
//!    a UUID (32 hexadecimal digits, or `8-4-4-4-12`), which are an identifier's;
//! 10. long opaque tokens: a run of at least 32 base64 characters with upper and lower case
//!     letters and digits, few separators and a Shannon entropy of at least 4 bits per
//!     character. Runs of hexadecimal digits and dashes (UUIDs, trace IDs, hashes), paths (many
//!     separators) and identifiers made of words (most characters in same-case letter runs of
//!     three or more, with vowels) are left alone: they are identifiers far more often than
//!     secrets.
//!
//! ```
//! use rfs_monitoring_core::mask::TextMasker;
//!
//! let masker = TextMasker::default();
//! assert_eq!(masker.mask("db at postgres://app:s3cret@db:5432/app"), "db at postgres://app:***@db:5432/app");
//! assert_eq!(masker.mask("password=correct horse battery staple, user=ada"), "password=***, user=ada");
//! assert_eq!(masker.mask("order-4111111111111111 paid"), "order-*** paid");
//! assert_eq!(masker.mask("request req-123 failed"), "request req-123 failed");
//! ```
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// What a masked value is replaced with by default.
pub const REPLACEMENT: &str = "***";

/// Key words (lowercase, without separators) whose values are always masked.
pub const DEFAULT_SENSITIVE_KEYS: [&str; 16] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "credential",
    "privatekey",
    "cardnumber",
    "cvv",
    "cvc",
    "ssn",
];

/// Long key words match anywhere in a normalised key ("x-api-key", "client_secret"); shorter
/// ones only as a whole word, so "classname" (which contains "ssn") or "author" stay visible.
const SUBSTRING_MIN_LEN: usize = 6;

/// A quoted value longer than this is treated as unquoted (bounds the search for its end).
const MAX_QUOTED: usize = 512;

/// Opaque tokens shorter than this are never masked by the entropy rule.
const OPAQUE_MIN_LEN: usize = 32;
/// Runs longer than this are judged by windows of this size (a secret glued to filler).
const OPAQUE_WINDOW: usize = 64;
/// The least Shannon entropy (bits per character) of an opaque token.
const OPAQUE_MIN_ENTROPY: f64 = 4.0;

const PEM: &str = r"-----BEGIN[ A-Z0-9]{0,64}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,\\]|-[A-Za-z0-9])*(?:-----END[ A-Z0-9]{0,64}-----)?";
const URL_USERINFO: &str =
    r#"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>]*:)(?P<secret>[^\s/?#@"'<>]+)@"#;
const WEBHOOK: &str = r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/)(?P<secret>[A-Za-z0-9_/+-]+)";
const TOKEN: &str = concat!(
    r"(?-u:\b)(?:",
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}",
    r"|gh[pousr]_[A-Za-z0-9]{20,}",
    r"|github_pat_[A-Za-z0-9_]{20,}",
    r"|glpat-[A-Za-z0-9_-]{20,}",
    r"|xox[abposre]-[A-Za-z0-9-]{10,}",
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}",
    r"|whsec_[A-Za-z0-9]{20,}",
    r"|sk-[A-Za-z0-9_-]{20,}",
    r"|AIza[0-9A-Za-z_-]{35}",
    r"|npm_[A-Za-z0-9]{36}",
    r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
    r"|hf_[A-Za-z0-9]{30,}",
    r")"
);
const JWT: &str = r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*";
const SCHEME: &str =
    r"(?-u:\b)(?P<scheme>[Bb]earer|BEARER|Basic|Token)(?P<gap>\s+)(?P<secret>[A-Za-z0-9._~+/=-]+)";
const PAIR: &str = r#"["']?[A-Za-z][A-Za-z0-9_.-]*["']?\s*[=:]\s*"#;
const QUERY: &str = r#"(?i)(?P<keep>(?:[?&;](?:key|api[_-]?key|sig|signature|token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth|password|passwd|pwd|secret|client[_-]?secret)|x-amz-signature|x-amz-security-token|x-amz-credential|x-goog-signature|x-goog-credential)=)(?P<secret>[^&#\s"'<>]+)"#;
const DIGITS: &str = r"[0-9](?:[ -]?[0-9])*";
const OPAQUE: &str = r"[A-Za-z0-9+/_-]{32,}";

/// Texts up to this length are screened by the `RegexSet` first.
const SET_MAX_BYTES: usize = 1024;

/// The lazy DFA's cache per rule: enough that hostile text does not make it thrash.
const DFA_CACHE_BYTES: usize = 8 << 20;

const RULES: [&str; 10] = [
    PEM,
    URL_USERINFO,
    WEBHOOK,
    TOKEN,
    JWT,
    SCHEME,
    PAIR,
    QUERY,
    DIGITS,
    OPAQUE,
];

struct Rules {
    set: RegexSet,
    each: Vec<Regex>,
}

fn compiled() -> Option<&'static Rules> {
    static RULESET: OnceLock<Option<Rules>> = OnceLock::new();
    RULESET
        .get_or_init(|| {
            let set = RegexSetBuilder::new(RULES)
                .dfa_size_limit(DFA_CACHE_BYTES)
                .build()
                .ok()?;
            let each = RULES
                .iter()
                .map(|r| RegexBuilder::new(r).dfa_size_limit(DFA_CACHE_BYTES).build())
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            Some(Rules { set, each })
        })
        .as_ref()
}

/// A masking policy for free text: the sensitive key words and the replacement.
///
/// ```
/// use rfs_monitoring_core::mask::TextMasker;
///
/// let masker = TextMasker::new(["iban"], "[hidden]");
/// assert_eq!(masker.mask("IBAN: DE89370400440532013000"), "IBAN: [hidden]");
/// assert!(masker.is_sensitive_key("X-Api-Key"));
/// assert!(!masker.is_sensitive_key("author"));
/// ```
#[derive(Debug, Clone)]
pub struct TextMasker {
    long_keys: Vec<String>,
    short_keys: HashSet<String>,
    /// Matches a compacted key holding any key word (a fast negative answer).
    any_key: Option<Regex>,
    replacement: String,
}

impl Default for TextMasker {
    fn default() -> Self {
        Self::new(std::iter::empty::<&str>(), REPLACEMENT)
    }
}

fn compact(key: &str) -> String {
    key.chars()
        .flat_map(char::to_lowercase)
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// `compact` for an ASCII key of up to 128 bytes, without allocating.
fn compact_ascii<'b>(key: &str, buffer: &'b mut [u8; 128]) -> Option<&'b str> {
    if !key.is_ascii() || key.len() > buffer.len() {
        return None;
    }
    let mut len = 0;
    for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
        *buffer.get_mut(len)? = b.to_ascii_lowercase();
        len += 1;
    }
    std::str::from_utf8(buffer.get(..len)?).ok()
}

/// The words of a key, as byte ranges: split at anything but ASCII letters and digits, and
/// where a lowercase letter or digit is followed by an uppercase letter ("accessToken" ->
/// "access", "Token").
fn word_spans(key: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &b) in key.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if let Some(s) = start.take() {
                spans.push((s, i));
            }
            continue;
        }
        let camel = b.is_ascii_uppercase()
            && i > 0
            && key
                .get(i - 1)
                .is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
        match start {
            Some(s) if camel => {
                spans.push((s, i));
                start = Some(i);
            }
            None => start = Some(i),
            Some(_) => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, key.len()));
    }
    spans
}

impl TextMasker {
    /// The default key words plus `extra_keys` (normalised: lowercase, without separators),
    /// replacing each secret with `replacement`.
    pub fn new<I, S>(extra_keys: I, replacement: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys: HashSet<String> = DEFAULT_SENSITIVE_KEYS
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        keys.extend(
            extra_keys
                .into_iter()
                .map(|k| compact(k.as_ref()))
                .filter(|k| !k.is_empty()),
        );
        let mut long_keys: Vec<String> = keys
            .iter()
            .filter(|k| k.len() >= SUBSTRING_MIN_LEN)
            .cloned()
            .collect();
        long_keys.sort();
        let short_keys: HashSet<String> = keys
            .into_iter()
            .filter(|k| k.len() < SUBSTRING_MIN_LEN)
            .collect();
        let mut all: Vec<String> = long_keys
            .iter()
            .chain(short_keys.iter())
            .map(|k| regex::escape(k))
            .collect();
        all.sort();
        let any_key = Regex::new(&all.join("|")).ok();
        Self {
            long_keys,
            short_keys,
            any_key,
            replacement: replacement.to_owned(),
        }
    }

    /// The replacement of every secret.
    pub fn replacement(&self) -> &str {
        &self.replacement
    }

    /// Whether every value under `key` is masked: a long key word anywhere in the key, or a
    /// short one as a word, a plural, or two adjacent words ("api_key", "ApiKeys").
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        // Keys found in text are short ASCII words: compact them on the stack.
        let mut buffer = [0u8; 128];
        let compacted: Cow<'_, str> = match compact_ascii(key, &mut buffer) {
            Some(short) => Cow::Borrowed(short),
            None => Cow::Owned(compact(key)),
        };
        // One automaton pass: most keys hold no key word at all and leave here.
        let Some(found) = self.any_key.as_ref().map(|r| r.is_match(&compacted)) else {
            return self.slow_is_sensitive_key(key, &compacted);
        };
        found && self.slow_is_sensitive_key(key, &compacted)
    }

    fn slow_is_sensitive_key(&self, key: &str, compacted: &str) -> bool {
        if compacted.is_empty() {
            return false;
        }
        if self
            .long_keys
            .iter()
            .any(|k| compacted.contains(k.as_str()))
        {
            return true;
        }
        let bytes = key.as_bytes();
        let word = |(s, e): (usize, usize)| bytes.get(s..e).unwrap_or(&[]);
        let is_key = |w: &[u8]| {
            self.short_keys
                .iter()
                .any(|k| k.as_bytes().eq_ignore_ascii_case(w))
        };
        let spans = word_spans(bytes);
        let single = spans.iter().any(|&span| {
            let w = word(span);
            is_key(w)
                || (w.last().is_some_and(|l| l.eq_ignore_ascii_case(&b's'))
                    && is_key(w.get(..w.len() - 1).unwrap_or(&[])))
        });
        single
            || spans.windows(2).any(|pair| {
                let (a, b) = (word(pair[0]), word(pair[1]));
                self.short_keys.iter().any(|k| {
                    let k = k.as_bytes();
                    k.len() == a.len() + b.len()
                        && k.get(..a.len()).is_some_and(|x| x.eq_ignore_ascii_case(a))
                        && k.get(a.len()..).is_some_and(|x| x.eq_ignore_ascii_case(b))
                })
            })
    }

    /// `text` with every secret replaced; borrowed when nothing was found.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(rules) = compiled() else {
            // Unreachable with the constant rules (a test compiles them); fail closed.
            return Cow::Owned(self.replacement.clone());
        };
        // On short texts one pass of the set tells which rules can match; on long hostile ones
        // the set's automaton (every rule at once) outgrows its cache and slows down, while
        // each rule alone stays fast, so long texts run every rule.
        let candidates: Vec<usize> = if text.len() <= SET_MAX_BYTES {
            let hits = rules.set.matches(text);
            if !hits.matched_any() {
                return Cow::Borrowed(text);
            }
            hits.iter().collect()
        } else {
            (0..rules.each.len()).collect()
        };
        let mut out: Cow<'t, str> = Cow::Borrowed(text);
        for index in candidates {
            let Some(regex) = rules.each.get(index) else {
                continue;
            };
            let next = match index {
                0 => whole(regex, &out, &self.replacement),
                3 => tokens(regex, &out, &self.replacement),
                1 | 2 | 7 => group(regex, &out, &self.replacement),
                4 => jwts(regex, &out, &self.replacement),
                5 => schemes(regex, &out, &self.replacement),
                6 => self.pairs(regex, &out),
                8 => cards(regex, &out, &self.replacement),
                _ => opaque(regex, &out, &self.replacement),
            };
            if let Some(next) = next {
                out = Cow::Owned(next);
            }
        }
        out
    }

    fn pairs(&self, regex: &Regex, text: &str) -> Option<String> {
        let mut edits = Edits::new(text);
        let mut at = 0;
        // `find_at` from the end of the last masked value (not `find_iter`): a quoted value may
        // hold what looks like the next key, and the search must resume after it.
        while let Some(all) = regex.find_at(text, at) {
            at = all.end();
            // The key is the match without its quotes, separator and spaces (no captures: a
            // text of many short "a:" pairs is as fast as any other).
            let raw = all.as_str().trim_start_matches(['"', '\'']);
            let key_len = raw
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                .count();
            let key = raw.get(..key_len).unwrap_or("");
            if !self.is_sensitive_key(key) {
                continue;
            }
            let extend = {
                let k = compact(key);
                k.contains("pass") || k.contains("pwd") || k.contains("secret")
            };
            if let Some((start, end, quote)) =
                value_span(text, all.end(), extend, self.replacement.as_bytes())
            {
                at = end;
                match quote {
                    Some(q) => {
                        let mut masked = String::with_capacity(self.replacement.len() + 2);
                        masked.push(q);
                        masked.push_str(&self.replacement);
                        masked.push(q);
                        edits.replace(start, end, &masked);
                    }
                    None => edits.replace(start, end, &self.replacement),
                }
            }
        }
        edits.finish()
    }
}

/// Builds a masked copy of a text from its kept parts and replacements, in order.
struct Edits<'t> {
    text: &'t str,
    out: String,
    done: usize,
    changed: bool,
}

impl<'t> Edits<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            out: String::new(),
            done: 0,
            changed: false,
        }
    }

    fn replace(&mut self, start: usize, end: usize, with: &str) {
        if start < self.done || end < start {
            return;
        }
        if !self.changed {
            self.out.reserve(self.text.len());
            self.changed = true;
        }
        self.out
            .push_str(self.text.get(self.done..start).unwrap_or(""));
        self.out.push_str(with);
        self.done = end;
    }

    fn finish(mut self) -> Option<String> {
        if !self.changed {
            return None;
        }
        self.out.push_str(self.text.get(self.done..).unwrap_or(""));
        Some(self.out)
    }
}

fn whole(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    for m in regex.find_iter(text) {
        edits.replace(m.start(), m.end(), rep);
    }
    edits.finish()
}

/// Token formats, except a match that lies inside a UUID: uppercase hexadecimal can spell an
/// AWS key ID (`ACCA` and 16 more), and a UUID is an identifier. A token that only begins or
/// ends like a UUID (`glpat-` and a UUID) is masked.
fn tokens(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    let mut uuids: Option<Vec<(usize, usize)>> = None;
    for m in regex.find_iter(text) {
        let spans = uuids.get_or_insert_with(|| uuid_spans(text.as_bytes()));
        if !within(spans, m.start(), m.end()) {
            edits.replace(m.start(), m.end(), rep);
        }
    }
    edits.finish()
}

fn group(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    for caps in regex.captures_iter(text) {
        if let Some(secret) = caps.name("secret") {
            if secret.as_str() != rep {
                edits.replace(secret.start(), secret.end(), rep);
            }
        }
    }
    edits.finish()
}

fn jwts(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    let bytes = text.as_bytes();
    for m in regex.find_iter(text) {
        // "eyJ" inside a word ("monkeyJump.ab.cd") is no token.
        let glued = m
            .start()
            .checked_sub(1)
            .and_then(|i| bytes.get(i))
            .is_some_and(u8::is_ascii_alphanumeric);
        if !glued {
            edits.replace(m.start(), m.end(), rep);
        }
    }
    edits.finish()
}

fn credential_shaped(secret: &str) -> bool {
    let bytes = secret.as_bytes();
    bytes
        .iter()
        .any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/' | b'='))
        || bytes
            .windows(2)
            .any(|p| p[0].is_ascii_lowercase() && p[1].is_ascii_uppercase())
}

fn schemes(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    for caps in regex.captures_iter(text) {
        let (Some(scheme), Some(secret)) = (caps.name("scheme"), caps.name("secret")) else {
            continue;
        };
        let bearer = scheme.as_str().eq_ignore_ascii_case("bearer");
        // "Basic" and "Token" are English words too: only something credential-shaped counts.
        if bearer || (secret.len() >= 8 && credential_shaped(secret.as_str())) {
            edits.replace(secret.start(), secret.end(), rep);
        }
    }
    edits.finish()
}

fn is_value_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace()
        || matches!(b, b',' | b';' | b'&' | b'"' | b'\'' | b'}' | b']' | b')'))
}

fn run_end(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|b| is_value_byte(*b)) {
        at += 1;
    }
    at
}

/// The span of the value that starts at `at` (after a sensitive key and its separator), and
/// the quote to keep around the replacement when the value was quoted.
fn value_span(
    text: &str,
    at: usize,
    extend: bool,
    rep: &[u8],
) -> Option<(usize, usize, Option<char>)> {
    let bytes = text.as_bytes();
    let first = *bytes.get(at)?;
    if first == b'"' || first == b'\'' {
        let limit = (at + 1 + MAX_QUOTED + 1).min(bytes.len());
        if let Some(close) = bytes
            .get(at + 1..limit)
            .and_then(|rest| rest.iter().position(|b| *b == first))
        {
            return Some((at, at + 1 + close + 1, Some(char::from(first))));
        }
    }
    // "Authorization: Bearer x" (and Basic, Token): the scheme word goes too.
    let scheme_len = ["bearer", "basic", "token"].iter().find_map(|w| {
        let word = bytes.get(at..at + w.len())?;
        let gap = bytes.get(at + w.len())?;
        (word.eq_ignore_ascii_case(w.as_bytes()) && gap.is_ascii_whitespace()).then_some(w.len())
    });
    if let Some(len) = scheme_len {
        let mut p = at + len;
        while bytes.get(p).is_some_and(u8::is_ascii_whitespace) {
            p += 1;
        }
        let end = run_end(bytes, p);
        if end > p {
            return Some((at, end, None));
        }
    }
    let start_run = if first == b'"' || first == b'\'' {
        at + 1
    } else {
        at
    };
    let mut end = run_end(bytes, start_run);
    if end == start_run {
        return None;
    }
    if extend {
        // A passphrase: more words on the same line, until a delimiter or the next "key=".
        loop {
            let mut next = end;
            while bytes.get(next).is_some_and(|b| *b == b' ' || *b == b'\t') {
                next += 1;
            }
            if next == end {
                break;
            }
            let word_end = run_end(bytes, next);
            let word = bytes.get(next..word_end).unwrap_or(&[]);
            if word.is_empty()
                || word.starts_with(rep)
                || word.iter().any(|b| *b == b'=' || *b == b':')
            {
                break;
            }
            end = word_end;
        }
    }
    Some((at, end, None))
}

/// The Luhn check of a growing run of digits, in constant time per digit: the sums with the
/// even-indexed or the odd-indexed digits doubled (which ones double depends on the length).
#[derive(Default)]
struct Luhn {
    len: usize,
    even_doubled: u32,
    odd_doubled: u32,
}

impl Luhn {
    fn push(&mut self, digit: u8) {
        let d = u32::from(digit.wrapping_sub(b'0') % 10);
        let doubled = if d * 2 > 9 { d * 2 - 9 } else { d * 2 };
        if self.len.is_multiple_of(2) {
            self.even_doubled += doubled;
            self.odd_doubled += d;
        } else {
            self.even_doubled += d;
            self.odd_doubled += doubled;
        }
        self.len += 1;
    }

    /// Counting from the right, every second digit doubles: with an even length the
    /// even-indexed digits (from the left), with an odd length the odd-indexed ones.
    fn valid(&self) -> bool {
        let total = if self.len.is_multiple_of(2) {
            self.even_doubled
        } else {
            self.odd_doubled
        };
        total % 10 == 0
    }
}

/// The UUIDs in a text, as sorted byte ranges: a word of 32 hexadecimal digits, or five words of
/// 8, 4, 4, 4 and 12 hexadecimal digits joined by single dashes (`8-4-4-4-12`), where a word is
/// a maximal run of ASCII letters and digits. One pass over the text.
fn uuid_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    // The words of the current dash-joined chain that fit the 8-4-4-4-12 shape so far.
    let mut chain: Vec<(usize, usize)> = Vec::with_capacity(5);
    let mut i = 0;
    while i < bytes.len() {
        if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
            continue;
        }
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        }
        let word = bytes.get(start..i).unwrap_or(&[]);
        let hex = word.iter().all(u8::is_ascii_hexdigit);
        if hex && word.len() == 32 {
            spans.push((start, i));
        }
        // Does this word continue the chain (right after a single dash)?
        let joined = chain.last().is_some_and(|&(_, end)| end + 1 == start)
            && bytes.get(start.wrapping_sub(1)) == Some(&b'-');
        if !joined {
            chain.clear();
        }
        let wanted = [8, 4, 4, 4, 12].get(chain.len()).copied();
        if hex && wanted == Some(word.len()) {
            chain.push((start, i));
            if chain.len() == 5 {
                spans.push((chain.first().map_or(start, |w| w.0), i));
                chain.clear();
            }
        } else {
            chain.clear();
            if hex && word.len() == 8 {
                chain.push((start, i));
            }
        }
    }
    spans
}

/// Whether `[start, end)` lies inside one of the sorted, disjoint `spans`.
fn within(spans: &[(usize, usize)], start: usize, end: usize) -> bool {
    let after = spans.partition_point(|&(_, e)| e <= start);
    spans
        .get(after)
        .is_some_and(|&(s, e)| s <= start && end <= e)
}

/// Whether `[start, end)` overlaps one of the sorted, disjoint `spans`.
fn overlaps(spans: &[(usize, usize)], start: usize, end: usize) -> bool {
    let after = spans.partition_point(|&(_, e)| e <= start);
    spans.get(after).is_some_and(|&(s, _)| s < end)
}

fn cards(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    let bytes = text.as_bytes();
    // Digits inside a UUID are an identifier's, not a card's: about one random UUID in 500
    // holds a run of 13 to 19 digits that passes the Luhn check. Found on first need.
    let mut uuids: Option<Vec<(usize, usize)>> = None;
    for m in regex.find_iter(text) {
        if m.len() < 13 {
            continue;
        }
        // Groups of digits (start, end) separated by single spaces or dashes; windows of
        // consecutive groups with 13 to 19 digits are the candidates.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut i = m.start();
        while i < m.end() {
            let start = i;
            while i < m.end() && bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            groups.push((start, i));
            i += 1;
        }
        // Every valid window is masked (their union): with digits glued before a card
        // ("123 4111 1111 1111 1111") the longest valid window may not be the card itself.
        let mut cover: Option<(usize, usize)> = None;
        for first in 0..groups.len() {
            let mut window = Luhn::default();
            'groups: for &(s, e) in groups.iter().skip(first) {
                for d in bytes.get(s..e).unwrap_or(&[]) {
                    window.push(*d);
                    if window.len > 19 {
                        break 'groups;
                    }
                }
                let start = groups.get(first).map_or(s, |g| g.0);
                if window.len >= 13
                    && window.valid()
                    && !overlaps(uuids.get_or_insert_with(|| uuid_spans(bytes)), start, e)
                {
                    cover = match cover {
                        Some((cs, ce)) if start <= ce + 1 => Some((cs, ce.max(e))),
                        Some((cs, ce)) => {
                            edits.replace(cs, ce, rep);
                            Some((start, e))
                        }
                        None => Some((start, e)),
                    };
                }
                // Card numbers are written in groups of three or more digits; a shorter group
                // ("2024-01-01", a lone "1") can only end one.
                if e - s < 3 {
                    break;
                }
            }
        }
        if let Some((cs, ce)) = cover {
            edits.replace(cs, ce, rep);
        }
    }
    edits.finish()
}

fn entropy(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a run of base64 characters looks like a random secret rather than an identifier, a
/// path, a hash or filler.
fn looks_opaque(run: &[u8]) -> bool {
    if run.len() < OPAQUE_MIN_LEN {
        return false;
    }
    if run.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-') {
        return false;
    }
    let separators = run
        .iter()
        .filter(|b| matches!(b, b'/' | b'_' | b'-' | b'+'))
        .count();
    if separators * 8 > run.len() {
        return false;
    }
    let has = |f: fn(&u8) -> bool| run.iter().any(f);
    has(u8::is_ascii_digit)
        && has(u8::is_ascii_uppercase)
        && has(u8::is_ascii_lowercase)
        && !looks_like_words(run)
        && entropy(run) >= OPAQUE_MIN_ENTROPY
}

/// Whether a run reads like an identifier made of words ("getUserByIdV2AndFetchPermissions"):
/// most of its letters and digits sit in runs of three or more letters of one case, and its
/// letters hold vowels as words do. Random base64 of 32 characters passes both tests about
/// once in 200 (those few are left visible; key context and token formats still catch them).
fn looks_like_words(run: &[u8]) -> bool {
    let alnum = run.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    let letters = run.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let vowels = run
        .iter()
        .filter(|b| matches!(b.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u'))
        .count();
    let mut in_words = 0;
    let mut current = 0;
    let mut case: Option<bool> = None;
    for b in run {
        let this = b.is_ascii_alphabetic().then(|| b.is_ascii_uppercase());
        if this.is_some() && this == case {
            current += 1;
        } else {
            if current >= 3 {
                in_words += current;
            }
            current = usize::from(this.is_some());
        }
        case = this;
    }
    if current >= 3 {
        in_words += current;
    }
    in_words * 100 >= alnum * 55 && vowels * 100 >= letters * 28
}

fn opaque(regex: &Regex, text: &str, rep: &str) -> Option<String> {
    let mut edits = Edits::new(text);
    let bytes = text.as_bytes();
    for m in regex.find_iter(text) {
        let run = bytes.get(m.start()..m.end()).unwrap_or(&[]);
        let secret = if run.len() <= 2 * OPAQUE_WINDOW {
            looks_opaque(run)
        } else {
            // A secret glued to filler: judge windows that overlap by half.
            (0..run.len()).step_by(OPAQUE_WINDOW / 2).any(|s| {
                looks_opaque(
                    run.get(s..(s + OPAQUE_WINDOW).min(run.len()))
                        .unwrap_or(&[]),
                )
            })
        };
        if secret {
            edits.replace(m.start(), m.end(), rep);
        }
    }
    edits.finish()
}

/// `text` masked with the default policy (default keys, `***`).
pub fn mask_text(text: &str) -> Cow<'_, str> {
    static DEFAULT: OnceLock<TextMasker> = OnceLock::new();
    DEFAULT.get_or_init(TextMasker::default).mask(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> String {
        mask_text(text).into_owned()
    }

    #[test]
    fn rules_compile() {
        assert!(compiled().is_some());
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            mask_text("user 42 not found"),
            Cow::Borrowed("user 42 not found")
        ));
    }

    #[test]
    fn forms() {
        let cases = [
            ("password=hunter2", "password=***"),
            ("password: correct horse battery staple\nnext", "password: ***\nnext"),
            ("password=pass phrase user=ada", "password=*** user=ada"),
            (r#"{"token": "abc def"}"#, r#"{"token": "***"}"#),
            ("Authorization: Bearer abc.def", "Authorization: ***"),
            ("call with Bearer abc.def-1", "call with Bearer ***"),
            ("the token expired", "the token expired"),
            ("Basic dXNlcjpwYXNz", "Basic ***"),
            ("Basic auth", "Basic auth"),
            ("key AKIAIOSFODNN7EXAMPLE used", "key *** used"),
            ("ghp_0123456789abcdefghijABCDEFGHIJ012345", "***"),
            ("https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/x", "https://***@github.com/x"),
            ("postgres://u:pa55@db:5432/x", "postgres://u:***@db:5432/x"),
            ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/services/***"),
            ("xoxb-123456789012-abcdefABCDEF", "***"),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "***"),
            ("/x?key=AIzaXYZ&y=1", "/x?key=***&y=1"),
            ("u?X-Amz-Signature=abcdef0123&z", "u?X-Amz-Signature=***&z"),
            ("card 4111 1111 1111 1111.", "card ***."),
            ("order-4111111111111111", "order-***"),
            ("id4111111111111111", "id***"),
            ("order 4111-1111-1111-1112 bad", "order 4111-1111-1111-1112 bad"),
            ("at 2024-01-01 4111 1111 1111 1111", "at 2024-01-01 ***"),
            ("ids 123 4111 1111 1111 1111", "ids 123 ***"),
            ("a.eyJhbGciOi.eyJzdWIi.c2ln b", "a.*** b"),
            ("monkeyJump.ab.cd", "monkeyJump.ab.cd"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIB+/=\nAbc\n-----END RSA PRIVATE KEY----- after",
                "*** after",
            ),
            ("aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws ***"),
            ("trace 4bf92f3577b34da6a3ce929d0e0e4736", "trace 4bf92f3577b34da6a3ce929d0e0e4736"),
            (
                "id 123e4567-e89b-12d3-a456-426614174000",
                "id 123e4567-e89b-12d3-a456-426614174000",
            ),
            ("req-123", "req-123"),
            // UUIDs whose digits hold a Luhn-valid run of 13 to 19 (one random UUID in 500).
            (
                "id d3758266-4760-448f-aeaa-3e5530781d06",
                "id d3758266-4760-448f-aeaa-3e5530781d06",
            ),
            ("40e8dc2575754836871c215e771a63b8", "40e8dc2575754836871c215e771a63b8"),
            // Uppercase hex that spells an AWS key ID's prefix (ACCA).
            ("ACCA901A0E904AF09DB36447F39D3300", "ACCA901A0E904AF09DB36447F39D3300"),
            ("key ACCA901A0E904AF09DB3 used", "key *** used"),
            ("glpat-d3758266-4760-448f-aeaa-3e5530781d06", "***"),
            ("req-40E8DC2575754836871C215E771A63B8.", "req-40E8DC2575754836871C215E771A63B8."),
            ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
            // ... but not a card beside one, nor digits in a longer hex word.
            (
                "4111 1111 1111 1111 d3758266-4760-448f-aeaa-3e5530781d06",
                "*** d3758266-4760-448f-aeaa-3e5530781d06",
            ),
            (
                "d3758266-4760-448f-aeaa-3e5530781d06 4111-1111-1111-1111",
                "d3758266-4760-448f-aeaa-3e5530781d06 ***",
            ),
            ("40e8dc2575754836871c215e771a63b8a", "40e8dc***c215e771a63b8a"),
            ("d3758266-4760-448f-aeaa-3e5530781d0", "d***f-aeaa-3e5530781d0"),
            (
                "/usr/lib/python3.11/site-packages/rfs_monitoring/masking.py",
                "/usr/lib/python3.11/site-packages/rfs_monitoring/masking.py",
            ),
            ("ThisIsAVeryLongCamelCaseIdentifierNameWithoutDigits", "ThisIsAVeryLongCamelCaseIdentifierNameWithoutDigits"),
            ("getUserByIdV2AndFetchPermissionsForRole", "getUserByIdV2AndFetchPermissionsForRole"),
            ("k8Zt2QxP7vLm4NwR9sYb3HcJ6dFg1TeU5aWo0 x", "*** x"),
        ];
        for (input, expected) in cases {
            assert_eq!(m(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn keys() {
        let masker = TextMasker::default();
        for key in [
            "password",
            "X-Api-Key",
            "accessToken",
            "client_secret",
            "Cookies",
            "api_key",
        ] {
            assert!(masker.is_sensitive_key(key), "{key}");
        }
        for key in ["author", "classname", "user_id", "", "--"] {
            assert!(!masker.is_sensitive_key(key), "{key}");
        }
    }

    #[test]
    fn custom_replacement_and_keys() {
        let masker = TextMasker::new(["iban"], "#");
        assert_eq!(masker.mask("iban=DE89 x"), "iban=# x");
        assert_eq!(masker.replacement(), "#");
    }

    #[test]
    fn linear_on_hostile_text() {
        let pieces = [
            "eyJ-",
            "eyJa.",
            "password=",
            "Bearer ",
            "4111-",
            "1 ",
            "a:b@",
            "://",
            "?key=",
            "-----BEGIN PRIVATE KEY-----",
            "sk-",
            "xoxb-",
            "hooks.slack.com/services/",
            "AbC123xyZ/",
            "d3758266-4760-448f-aeaa-3e5530781d06 ",
            "d3758266-",
            "40e8dc2575754836871c215e771a63b8",
            "1234 ",
            "AKIA",
            "ghp_",
            "\"",
            "'",
            "=",
            ":",
        ];
        for piece in pieces {
            let small = piece.repeat(4_000);
            let large = piece.repeat(32_000);
            let time = |t: &str| {
                (0..3)
                    .map(|_| {
                        let start = std::time::Instant::now();
                        let _ = mask_text(t);
                        start.elapsed().as_secs_f64()
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let (a, b) = (time(&small).max(1e-6), time(&large));
            assert!(b < a * 30.0, "{piece:?}: {a} then {b}");
        }
    }
}
