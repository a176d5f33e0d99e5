//! Compiled duplicate-detection keys of hubsync's contacts, for ASCII values. Ingest computes the keys
//! of every new contact, and Python spent ~6 µs a contact on them (~9% of the worker's interpreter
//! time in a backfill); this computes the same in about a third of that, the value included (docs/performance.md).
//!
//! Scope, on purpose narrow: the five properties the keys read (`email`, `hs_additional_emails`,
//! `firstname`, `lastname`, `company`) when each is None or an ASCII `str`. Anything else (a
//! non-ASCII letter, which needs Unicode normalization and IDNA, or a value of another type) returns
//! None and `hubsync.matching.record_keys` computes the keys in Python, which is the specification:
//! every rule below restates `hubsync.matching.keys` for ASCII text, and
//! `tests/matching/test_native_keys.py` holds the two to the same results on generated input. The
//! registrable domain needs the Public Suffix List, so it is asked of Python (`company_domain`) once
//! per host and remembered.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet, PyString};

/// hosts whose company domain is remembered before the memo starts again (Python's own memo of
/// `root_domain` holds as many)
const DOMAIN_MEMO: usize = 65_536;

/// legal-form words `company_name_key` peels off the end of a name (hubsync.matching.keys._LEGAL_FORMS)
const LEGAL_FORMS: &[&str] = &[
    "inc", "incorporated", "llc", "llp", "lp", "lllp", "pllc", "corp", "corporation", "co",
    "company", "cos", "ltd", "limited", "plc", "pty", "pvt", "pte", "private", "dac", "gmbh",
    "mbh", "ag", "kg", "ohg", "ug", "haftungsbeschrankt", "ev", "kgaa", "se", "sa", "sas", "sasu",
    "sarl", "eurl", "sca", "scs", "snc", "bv", "nv", "vof", "ab", "oy", "oyj", "as", "asa", "aps",
    "sl", "slu", "sau", "srl", "spa", "sapa", "scarl", "ltda", "me", "eireli", "kk", "gk", "yk",
    "bhd", "sdn", "tbk", "pt", "cc",
];
/// connectors peeled off with them (`GmbH & Co. KG`)
const CONNECTORS: &[&str] = &["and", "und", "et", "y"];

/// Python's `str.isspace()` for an ASCII byte (also what `\s` matches in a `str` pattern)
fn is_space(b: u8) -> bool {
    matches!(b, 9..=13 | 28..=32)
}

/// `[\s\x00-\x1f\x7f]`: never inside an e-mail address
fn is_bad(b: u8) -> bool {
    b <= 0x20 || b == 0x7f
}

/// `\w` of a `str` pattern, for an ASCII byte
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `str.strip()`
fn strip(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_space(c)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// `canonical_host`: lower-cased, one trailing dot dropped, two or more labels of
/// `[a-z0-9_-]{1,63}`, at most 253 characters
fn canonical_host(domain: &str) -> Option<String> {
    let host = domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase();
    if host.len() > 253 {
        return None;
    }
    let mut labels = 0;
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
        if !ok {
            return None;
        }
        labels += 1;
    }
    (labels >= 2).then_some(host)
}

/// `normalize_email`, with the canonical host of the address
fn normalize_email(value: &str) -> Option<(String, String)> {
    let text = strip(value);
    if text.bytes().filter(|&c| c == b'@').count() != 1 || text.bytes().any(is_bad) {
        return None;
    }
    let (local, domain) = text.split_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let mut host = canonical_host(domain)?;
    let lowered = local.to_ascii_lowercase();
    let base = lowered.split('+').next().unwrap_or("");
    let mut local = if base.is_empty() { lowered.clone() } else { base.to_string() };
    if host == "gmail.com" || host == "googlemail.com" {
        host = "gmail.com".to_string();
        local.retain(|c| c != '.');
        if local.is_empty() {
            return None;
        }
    }
    Some((format!("{local}@{host}"), host))
}

/// `_normalize_name` of ASCII text: lower-cased, apostrophes dropped, every run of other
/// characters than `[a-z0-9]` one space, none at either end; None when nothing is left
fn normalize_name(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut pending = false;
    for c in value.bytes() {
        let c = c.to_ascii_lowercase();
        if c == b'\'' || c == b'`' {
            continue;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if pending && !out.is_empty() {
                out.push(' ');
            }
            pending = false;
            out.push(c as char);
        } else {
            pending = true;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `person_key`: the name key of "first last", None unless it has two words or more
fn person_key(first: &str, last: &str) -> Option<String> {
    normalize_name(&format!("{first} {last}")).filter(|key| key.contains(' '))
}

/// `re.sub(r"\b(\w)/(\w)\b", r"\1\2", text)`: `A/S` is one word
fn join_letter_slash_letter(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let joined = is_word(b[i])
            && (i == 0 || !is_word(b[i - 1]))
            && i + 2 < b.len()
            && b[i + 1] == b'/'
            && is_word(b[i + 2])
            && (i + 3 == b.len() || !is_word(b[i + 3]));
        if joined {
            out.push(b[i]);
            out.push(b[i + 2]);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("ASCII in, ASCII out")
}

/// `company_name_key`: dots and the slash of `A/S` removed, `&` read as `and`, then the name
/// key without a leading `the` and trailing legal forms and connectors (never the last word)
fn company_name_key(value: &str) -> Option<String> {
    let text = join_letter_slash_letter(&value.replace('.', "")).replace('&', " and ");
    let name = normalize_name(&text)?;
    let mut words: Vec<&str> = name.split(' ').collect();
    let mut first = 0;
    while words.len() - first > 1 && words[first] == "the" {
        first += 1;
    }
    while words.len() - first > 1 {
        let last = words[words.len() - 1];
        if LEGAL_FORMS.contains(&last) || CONNECTORS.contains(&last) {
            words.pop();
        } else {
            break;
        }
    }
    Some(words[first..].join(" "))
}

/// A property value: Ok(None) for None or "", Ok(Some) for an ASCII `str`, Err for anything else
fn text<'a>(value: &'a Bound<'_, PyAny>) -> Result<Option<&'a str>, ()> {
    if value.is_none() {
        return Ok(None);
    }
    let s = value.downcast::<PyString>().map_err(|_| ())?;
    let s = s.to_str().map_err(|_| ())?;
    if !s.is_ascii() {
        return Err(());
    }
    Ok((!s.is_empty()).then_some(s))
}

#[pyclass(frozen)]
struct ContactKeyMaker {
    keys_type: PyObject,
    company_domain: PyObject,
    domains: Py<PyDict>,
}

impl ContactKeyMaker {
    /// the company domain of an e-mail address's canonical host, remembered
    fn domain_of(&self, py: Python<'_>, host: &str) -> PyResult<PyObject> {
        let domains = self.domains.bind(py);
        let key = PyString::new(py, host);
        if let Some(found) = domains.get_item(&key)? {
            return Ok(found.unbind());
        }
        let found = self.company_domain.call1(py, (&key,))?;
        if domains.len() >= DOMAIN_MEMO {
            domains.clear();
        }
        domains.set_item(key, &found)?;
        Ok(found)
    }
}

#[pymethods]
impl ContactKeyMaker {
    #[new]
    fn new(py: Python<'_>, keys_type: PyObject, company_domain: PyObject) -> Self {
        ContactKeyMaker {
            keys_type,
            company_domain,
            domains: PyDict::new(py).unbind(),
        }
    }

    /// The contact's keys (`keys_type` called with emails, primary e-mail, name key, company
    /// name key and company domain root), or None when a value is neither None nor ASCII text.
    fn __call__(
        &self,
        py: Python<'_>,
        email: &Bound<'_, PyAny>,
        additional: &Bound<'_, PyAny>,
        first: &Bound<'_, PyAny>,
        last: &Bound<'_, PyAny>,
        company: &Bound<'_, PyAny>,
    ) -> PyResult<PyObject> {
        let (Ok(email), Ok(additional), Ok(first), Ok(last), Ok(company)) =
            (text(email), text(additional), text(first), text(last), text(company))
        else {
            return Ok(py.None());
        };
        let primary = email.and_then(normalize_email);
        let mut emails: Vec<String> = Vec::new();
        if let Some((address, _)) = &primary {
            emails.push(address.clone());
        }
        if let Some(more) = additional {
            // `re.split(r"[;,\s]+", ...)`: empty parts normalize to nothing
            for part in more.split(|c: char| c == ';' || c == ',' || is_space(c as u8)) {
                if let Some((address, _)) = normalize_email(part) {
                    if !emails.contains(&address) {
                        emails.push(address);
                    }
                }
            }
        }
        let domain_root = match &primary {
            Some((_, host)) => self.domain_of(py, host)?,
            None => py.None(),
        };
        let keys = (
            PyFrozenSet::new(py, &emails)?,
            primary.map(|(address, _)| address),
            person_key(first.unwrap_or(""), last.unwrap_or("")),
            company.and_then(company_name_key),
            domain_root,
        );
        self.keys_type.call1(py, keys)
    }
}

#[pymodule]
fn hubsync_matching_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ContactKeyMaker>()?;
    Ok(())
}
