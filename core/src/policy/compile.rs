//! Compiling a [`PolicyConfig`] into a [`Policy`]: field paths, their kinds,
//! transforms, and the output tree written by [`super::emit`].
use super::*;
use crate::node::FieldKey;

/// Parses `a.b`, `a[].b`, `a[]`: keys of letters, digits, `_` and `-`.
fn parse_path(s: &str) -> Option<Vec<Seg>> {
    if s.is_empty() {
        return None;
    }
    let mut segs = Vec::new();
    for part in s.split('.') {
        let (name, each) = match part.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (part, false),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return None;
        }
        segs.push(Seg::Key(name.to_owned()));
        if each {
            segs.push(Seg::Each);
        }
    }
    Some(segs)
}

pub(super) fn show(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Each => s.push_str("[]"),
        }
    }
    s
}

fn kind_of(segs: &[Seg]) -> Kind {
    let last = segs.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Each => None,
    });
    match last {
        Some(k) if ID_KEYS.contains(&k) => Kind::Id,
        Some("prices_include_tax") => Kind::Plain,
        Some(k)
            if ["total", "subtotal", "amount", "discount", "price"].contains(&k)
                || k.ends_with("_total")
                || k.ends_with("_tax") =>
        {
            Kind::Money
        }
        _ => Kind::Plain,
    }
}

/// Whether one output path is a prefix of (or equal to) the other, or they
/// disagree on list vs. object at the same place.
fn conflicts(a: &[Seg], b: &[Seg]) -> bool {
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Seg::Key(p), Seg::Key(q)) if p != q => return false,
            (Seg::Key(_), Seg::Key(_)) | (Seg::Each, Seg::Each) => {}
            _ => return true,
        }
    }
    true
}

struct Compiler<'a> {
    file: &'a str,
    key: &'a str,
}

impl Compiler<'_> {
    fn err(&self, sub: &str, reason: impl Into<String>) -> Error {
        Error::config(self.file, Some(&format!("{}.{sub}", self.key)), reason)
    }

    fn field_index(&self, fields: &[Field], sub: &str, path: &str) -> Result<usize> {
        fields.iter().position(|f| f.path == path).ok_or_else(|| self.err(sub, format!("\"{path}\" is not in fields")))
    }

    fn count(&self, sub: &str, path: &str, n: i64) -> Result<usize> {
        match usize::try_from(n) {
            Ok(n) if n <= MAX_STRING_BYTES => Ok(n),
            _ => Err(self.err(sub, format!("\"{path}\": {}", config::count_reason()))),
        }
    }
}

impl Policy {
    /// Compiles the `[destinations.NAME.policy]` table (`None`: the default);
    /// `key` is the table's dotted name, for messages.
    pub fn compile(raw: Option<&toml::Table>, file: &str, key: &str) -> Result<Policy> {
        let cfg = match raw {
            Some(t) => PolicyConfig::from_table(t, file, key)?,
            None => PolicyConfig::default(),
        };
        Policy::from_config(&cfg, raw.is_none(), file, key)
    }

    /// Compiles a deserialized policy; `is_default` marks the built-in one (no
    /// policy section), `key` is the table's dotted name, for messages.
    pub fn from_config(cfg: &PolicyConfig, is_default: bool, file: &str, key: &str) -> Result<Policy> {
        let c = Compiler { file, key };
        let paths: Vec<String> = match &cfg.fields {
            None => DEFAULT_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
            Some(a) => a.clone(),
        };
        let mut fields: Vec<Field> = Vec::with_capacity(paths.len());
        for p in paths {
            let malformed = || c.err("fields", format!("malformed path \"{p}\""));
            let meta = match p.strip_prefix("meta:") {
                Some(k) if is_meta_key(k) => Some(k.to_owned()),
                Some(_) => return Err(malformed()),
                None => None,
            };
            let segs = match &meta {
                Some(_) => vec![Seg::Key(p.clone())],
                None => parse_path(&p).ok_or_else(malformed)?,
            };
            let kind = match &meta {
                Some(k) => kind_of(&[Seg::Key(k.clone())]),
                None => kind_of(&segs),
            };
            if fields.iter().any(|f| f.path == p) {
                return Err(c.err("fields", format!("\"{p}\" is listed twice")));
            }
            fields.push(Field {
                has_each: segs.contains(&Seg::Each),
                kind,
                out: segs.clone(),
                segs,
                path: p,
                pseudonymize: false,
                mask: None,
                truncate: None,
                rename: None,
                consent: None,
                meta,
            });
        }
        for p in &cfg.pseudonymize {
            let i = c.field_index(&fields, "pseudonymize", p)?;
            if let Some(f) = fields.get_mut(i) {
                f.pseudonymize = true;
            }
        }
        for (sub, table) in [("mask", &cfg.mask), ("truncate", &cfg.truncate)] {
            for (p, v) in table {
                let n = c.count(sub, p, *v)?;
                let i = c.field_index(&fields, sub, p)?;
                if let Some(f) = fields.get_mut(i) {
                    if f.pseudonymize {
                        return Err(c.err(sub, format!("\"{p}\" is pseudonymized; it cannot also be masked or truncated")));
                    }
                    if sub == "mask" {
                        f.mask = Some(n);
                    } else {
                        f.truncate = Some(n);
                    }
                }
            }
        }
        for (p, target) in &cfg.rename {
            let i = c.field_index(&fields, "rename", p)?;
            let tsegs = parse_path(target)
                .filter(|s| !s.contains(&Seg::Each))
                .ok_or_else(|| c.err("rename", format!("\"{p}\": malformed target \"{target}\"")))?;
            if let Some(f) = fields.get_mut(i) {
                if f.has_each {
                    // Inside lists, only the last key is renamed.
                    if tsegs.len() != 1 {
                        return Err(
                            c.err("rename", format!("\"{p}\": a field inside a list can only be renamed to a plain name"))
                        );
                    }
                    if let Some(pos) = f.out.iter().rposition(|s| matches!(s, Seg::Key(_))) {
                        if let Some(slot) = f.out.get_mut(pos) {
                            *slot = Seg::Key(target.to_owned());
                        }
                    }
                } else {
                    f.out = tsegs;
                }
                f.rename = Some(target.to_owned());
            }
        }
        for (p, src) in &cfg.require_consent {
            let i = c.field_index(&fields, "require_consent", p)?;
            let consent = match src.strip_prefix("meta:") {
                Some(k) if !k.is_empty() && !k.chars().any(char::is_control) => Consent::Meta(k.to_owned()),
                Some(_) => return Err(c.err("require_consent", format!("\"{p}\": malformed consent source \"{src}\""))),
                None => {
                    let segs = parse_path(src)
                        .filter(|s| !s.contains(&Seg::Each))
                        .ok_or_else(|| c.err("require_consent", format!("\"{p}\": malformed consent source \"{src}\"")))?;
                    Consent::Path(
                        segs.into_iter()
                            .filter_map(|s| match s {
                                Seg::Key(k) => Some(k),
                                Seg::Each => None,
                            })
                            .collect(),
                    )
                }
            };
            if let Some(f) = fields.get_mut(i) {
                f.consent = Some((src.to_owned(), consent));
            }
        }
        for (i, a) in fields.iter().enumerate() {
            if let Some(b) = fields.iter().skip(i + 1).find(|b| conflicts(&a.out, &b.out)) {
                let sub = if a.rename.is_some() || b.rename.is_some() { "rename" } else { "fields" };
                return Err(c.err(
                    sub,
                    format!("\"{}\" and \"{}\" would overlap in the output (one contains the other)", a.path, b.path),
                ));
            }
        }
        let on_card = cfg.on_card_number.unwrap_or_default();
        let pepper_file = match &cfg.pepper_file {
            None => None,
            Some(p) if !p.as_os_str().is_empty() => Some(p.clone()),
            Some(_) => return Err(c.err("pepper_file", "must be a file path")),
        };
        let needs_pepper = fields.iter().any(|f| f.pseudonymize);
        match &pepper_file {
            None if needs_pepper => return Err(c.err("pseudonymize", "needs pepper_file")),
            Some(p) => {
                load_file_cached(p)?;
            }
            None => {}
        }
        let out = build_out(&fields);
        let any_consent = fields.iter().any(|f| f.consent.is_some());
        Ok(Policy {
            fields,
            out,
            any_consent,
            on_card,
            pepper_file,
            needs_pepper,
            is_default,
            hmac: HmacCache::default(),
            id_key: FieldKey::new("id"),
        })
    }
}

/// The output tree, compiled from the fields: object entries in `fields` order.
#[derive(Debug, Clone)]
pub(super) enum Out {
    /// An object: JSON-encoded `"key":` and the child.
    Obj(Vec<(JsonKey, Out)>),
    /// A list read at `input` (relative to the enclosing context); `field` and
    /// `segs` name it in errors (the first `segs` segments of that field).
    List { input: Vec<FieldKey>, elem: Box<Out>, field: usize, segs: usize },
    /// A selected field read at `input` (relative to the enclosing context).
    Leaf { field: usize, input: Vec<FieldKey> },
    /// A `meta:KEY` field: the `value` of the first `meta_data` entry of the
    /// order whose `key` is `key`.
    Meta { field: usize, key: String },
}

/// Longest key written with a fixed-size copy (see [`JsonKey`]).
const KEY_PAD: usize = 32;

/// `,"k":` — an object entry's key after the separating comma (the first entry
/// of an object is written without it). A short key is also kept zero-padded,
/// so that it is written with one fixed-size copy (no call to `memcpy`) and
/// the padding cut off again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JsonKey {
    bytes: Vec<u8>,
    padded: Option<[u8; KEY_PAD + 1]>,
}

impl JsonKey {
    /// Writes the key, with its comma when `comma`.
    #[inline(always)]
    pub(super) fn put(&self, buf: &mut Vec<u8>, comma: bool) {
        let skip = usize::from(!comma);
        match self.padded.as_ref().and_then(|p| p.get(skip..skip + KEY_PAD)) {
            Some(chunk) => {
                let end = buf.len() + self.bytes.len() - skip;
                buf.extend_from_slice(chunk);
                buf.truncate(end);
            }
            None => buf.extend_from_slice(self.bytes.get(skip..).unwrap_or_default()),
        }
    }
}

fn json_key(k: &str) -> JsonKey {
    let mut bytes = vec![b','];
    bytes.extend(serde_json::to_vec(k).unwrap_or_default());
    bytes.push(b':');
    let padded = (bytes.len() <= KEY_PAD).then(|| {
        let mut p = [0u8; KEY_PAD + 1];
        for (d, b) in p.iter_mut().zip(&bytes) {
            *d = *b;
        }
        p
    });
    JsonKey { bytes, padded }
}

fn child<'a>(entries: &'a mut Vec<(JsonKey, Out)>, key: &str, make: impl FnOnce() -> Out) -> Option<&'a mut Out> {
    let k = json_key(key);
    if !entries.iter().any(|(e, _)| *e == k) {
        entries.push((k.clone(), make()));
    }
    entries.iter_mut().find(|(e, _)| *e == k).map(|(_, o)| o)
}

/// Adds a field without `[]` read by `leaf` at output keys `outs`.
fn add_plain(entries: &mut Vec<(JsonKey, Out)>, outs: &[Seg], leaf: Out) {
    match outs {
        [Seg::Key(k)] => entries.push((json_key(k), leaf)),
        [Seg::Key(k), rest @ ..] => {
            if let Some(Out::Obj(e)) = child(entries, k, || Out::Obj(Vec::new())) {
                add_plain(e, rest, leaf);
            }
        }
        _ => {}
    }
}

/// A meta key a `meta:KEY` field can name: 1 to 255 letters, digits, `_`, `-`.
fn is_meta_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Adds field `fi` with `[]`: `outs` and `ins` have the same shape. `pending`
/// holds the input keys read since the enclosing context; `at` counts segments.
fn add_list(entries: &mut Vec<(JsonKey, Out)>, outs: &[Seg], ins: &[Seg], mut pending: Vec<String>, fi: usize, at: usize) {
    match (outs, ins) {
        ([Seg::Key(k)], [Seg::Key(ik)]) => {
            pending.push(ik.clone());
            entries.push((json_key(k), Out::Leaf { field: fi, input: field_keys(&pending) }));
        }
        ([Seg::Key(k), Seg::Each, orest @ ..], [Seg::Key(ik), Seg::Each, irest @ ..]) => {
            pending.push(ik.clone());
            let make = || Out::List {
                input: field_keys(&pending),
                elem: Box::new(if orest.is_empty() { Out::Leaf { field: fi, input: Vec::new() } } else { Out::Obj(Vec::new()) }),
                field: fi,
                segs: at + 1,
            };
            if let Some(Out::List { elem, .. }) = child(entries, k, make) {
                if let Out::Obj(e) = elem.as_mut() {
                    add_list(e, orest, irest, Vec::new(), fi, at + 2);
                }
            }
        }
        ([Seg::Key(k), orest @ ..], [Seg::Key(ik), irest @ ..]) => {
            pending.push(ik.clone());
            if let Some(Out::Obj(e)) = child(entries, k, || Out::Obj(Vec::new())) {
                add_list(e, orest, irest, pending, fi, at + 1);
            }
        }
        _ => {}
    }
}

fn build_out(fields: &[Field]) -> Vec<(JsonKey, Out)> {
    let mut root = Vec::new();
    for (fi, f) in fields.iter().enumerate() {
        if let Some(key) = &f.meta {
            add_plain(&mut root, &f.out, Out::Meta { field: fi, key: key.clone() });
        } else if f.has_each {
            add_list(&mut root, &f.out, &f.segs, Vec::new(), fi, 0);
        } else {
            let input: Vec<String> = f
                .segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Key(k) => Some(k.clone()),
                    Seg::Each => None,
                })
                .collect();
            let leaf = Out::Leaf { field: fi, input: field_keys(&input) };
            add_plain(&mut root, &f.out, leaf);
        }
    }
    root
}

fn field_keys(keys: &[String]) -> Vec<FieldKey> {
    keys.iter().map(|k| FieldKey::new(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(parse_path("line_items[].sku").is_some());
        assert!(parse_path("tags[]").is_some());
        for bad in ["", "a..b", "a[]x", "[]", ".a", "a.", "a[][]", "a b", "a[", "meta:x"] {
            assert!(parse_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn kinds() {
        let k = |p: &str| kind_of(&parse_path(p).unwrap_or_default());
        assert_eq!(k("total"), Kind::Money);
        assert_eq!(k("line_items[].subtotal_tax"), Kind::Money);
        assert_eq!(k("shipping_lines[].method_id"), Kind::Plain);
        assert_eq!(k("line_items[].product_id"), Kind::Id);
        assert_eq!(k("number"), Kind::Id);
        assert_eq!(k("billing.email"), Kind::Plain);
        assert_eq!(k("prices_include_tax"), Kind::Plain);
    }
}
