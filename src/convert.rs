//! Conversions between PHP values and the core's plain Rust values.
use ext_php_rs::binary_slice::BinarySlice;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::FromZval;
use ext_php_rs::types::{ZendHashTable, Zval};

/// A JSON value as a PHP value (objects become associative arrays, as
/// `json_decode($s, true)` does).
pub fn json_to_zval(v: &serde_json::Value) -> ext_php_rs::error::Result<Zval> {
    use serde_json::Value as V;
    let mut zv = Zval::new();
    match v {
        V::Null => zv.set_null(),
        V::Bool(b) => zv.set_bool(*b),
        V::Number(n) => match n.as_i64() {
            Some(i) => zv.set_long(i),
            None => zv.set_double(n.as_f64().unwrap_or(f64::NAN)),
        },
        V::String(s) => zv.set_string(s, false)?,
        V::Array(a) => {
            let mut ht = ZendHashTable::with_capacity(u32::try_from(a.len()).unwrap_or(u32::MAX));
            for item in a {
                ht.push(json_to_zval(item)?)?;
            }
            zv.set_hashtable(ht);
        }
        V::Object(m) => zv.set_hashtable(json_object_to_array(m)?),
    }
    Ok(zv)
}

/// A JSON object as a PHP array.
pub fn json_object_to_array(m: &serde_json::Map<String, serde_json::Value>) -> ext_php_rs::error::Result<ZBox<ZendHashTable>> {
    let mut ht = ZendHashTable::with_capacity(u32::try_from(m.len()).unwrap_or(u32::MAX));
    for (k, item) in m {
        ht.insert(k.as_str(), json_to_zval(item)?)?;
    }
    Ok(ht)
}

/// HTTP headers from a PHP array: `name => value` or `name => [values]`, as
/// `getallheaders()` or a framework gives them; `$_SERVER`-style `HTTP_X_Y`
/// names become `x-y`.
pub fn headers_from_array(ht: &ZendHashTable) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(ht.len());
    for (key, value) in ht {
        let name = key.to_string();
        let name = match name.strip_prefix("HTTP_") {
            Some(rest) => rest.replace('_', "-"),
            None => name,
        };
        let mut push = |v: &Zval| {
            if let Some(b) = BinarySlice::<u8>::from_zval(v) {
                out.push((name.clone().into_bytes(), b.to_vec()));
            } else if let Some(i) = v.long() {
                out.push((name.clone().into_bytes(), i.to_string().into_bytes()));
            }
        };
        match value.array() {
            Some(list) => list.values().for_each(&mut push),
            None => push(value),
        }
    }
    out
}

/// Bytes returned to PHP as a string, copied once into a fresh `zend_string`
/// (no UTF-8 re-validation, no intermediate Rust `String`).
pub struct PhpString(ZBox<ext_php_rs::types::ZendStr>);

impl PhpString {
    /// A PHP string holding `bytes`.
    pub fn new(bytes: &[u8]) -> PhpString {
        PhpString(ext_php_rs::types::ZendStr::new(bytes, false))
    }
}

impl ext_php_rs::convert::IntoZval for PhpString {
    const TYPE: ext_php_rs::flags::DataType = ext_php_rs::flags::DataType::String;
    const NULLABLE: bool = false;

    fn set_zval(self, zv: &mut Zval, _persistent: bool) -> ext_php_rs::error::Result<()> {
        zv.set_zend_string(self.0);
        Ok(())
    }
}

/// The filter of `secure_forward_deliveries(array $filter = [])`: each entry as
/// key (integer keys as their digits) and an int, a string or a type name, for the
/// core to check.
#[derive(Debug, Default)]
pub struct FilterArg(pub Vec<(String, secure_forward_core::FilterValue)>);

impl<'a> FromZval<'a> for FilterArg {
    const TYPE: ext_php_rs::flags::DataType = ext_php_rs::flags::DataType::Array;

    fn from_zval(zval: &'a Zval) -> Option<Self> {
        use secure_forward_core::FilterValue;
        let ht = zval.array()?;
        let entries = ht
            .iter()
            .map(|(key, v)| {
                let value = if let Some(i) = v.long() {
                    FilterValue::Int(i)
                } else if let Some(s) = v.str() {
                    FilterValue::Str(s.to_owned())
                } else if v.is_array() {
                    FilterValue::Other("array")
                } else if v.is_null() {
                    FilterValue::Other("null")
                } else {
                    FilterValue::Other("scalar")
                };
                (key.to_string(), value)
            })
            .collect();
        Some(FilterArg(entries))
    }
}

impl ext_php_rs::convert::StubLiteral for FilterArg {
    fn stub_literal(&self) -> String {
        "[]".to_owned()
    }
}
