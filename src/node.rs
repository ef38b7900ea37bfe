//! [`Node`] over PHP values: the order is read in place from PHP's hash tables.
//!
//! The walk reads the engine's `zend_array` layout directly (packed `zval`
//! vectors and `Bucket` arrays), as php-src's own `ZEND_HASH_FOREACH_*` macros
//! do, instead of going through the engine's iterator API: nothing is copied,
//! no key is converted to a `zval`, and no engine function is called per element.
//! This needs PHP ≥ 8.2 (packed arrays store bare `zval`s since 8.2).
#[cfg(not(target_pointer_width = "64"))]
compile_error!("src/node.rs reads PHP's hash tables with the 64-bit layout (bucket indices in hash chains, 64-bit hashes)");

use std::mem::ManuallyDrop;

use ext_php_rs::ffi::{zend_hash_index_find, zend_hash_str_find, zend_string, Bucket};
use ext_php_rs::flags::ZvalTypeFlags;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};
use secure_forward_core::node::{FieldKey, Key, Limits, Node, Scalar};
use secure_forward_core::Result;

/// `HASH_FLAG_PACKED` from Zend/zend_hash.h.
const HASH_FLAG_PACKED: u32 = 1 << 2;
// Type bytes from Zend/zend_types.h.
const IS_UNDEF: u8 = 0;
const IS_NULL: u8 = 1;
const IS_FALSE: u8 = 2;
const IS_TRUE: u8 = 3;
const IS_LONG: u8 = 4;
const IS_DOUBLE: u8 = 5;
const IS_STRING: u8 = 6;
const IS_ARRAY: u8 = 7;
const IS_OBJECT: u8 = 8;
const IS_RESOURCE: u8 = 9;
const IS_REFERENCE: u8 = 10;
const IS_INDIRECT: u8 = 12;

/// A PHP value seen through the core's [`Node`] trait.
#[repr(transparent)]
pub struct PhpNode(Zval);

/// The type byte of a `zval` (`Z_TYPE`).
#[inline]
fn type_of(zv: &Zval) -> u8 {
    // SAFETY: every variant of the `u1` union is plain integer data of the same
    // size; `type_info`'s low byte is the type (Z_TYPE_INFO & 0xff) on every
    // platform PHP supports, as zend_types.h defines it.
    let info = unsafe { zv.u1.type_info };
    info.to_le_bytes()[0]
}

/// Follows `IS_REFERENCE` and `IS_INDIRECT` (ZVAL_DEREF / Z_INDIRECT) to the value.
#[inline]
fn deref(zv: &Zval) -> &Zval {
    match type_of(zv) {
        // SAFETY: an IS_REFERENCE zval's `ref` points at a live zend_reference
        // owned by the array that holds `zv`; its `val` lives as long as that array,
        // which outlives the borrow of `zv`.
        IS_REFERENCE => unsafe { zv.value.ref_.as_ref() }.map_or(zv, |r| &r.val),
        // SAFETY: an IS_INDIRECT zval (symbol tables) points at a live zval of the
        // same table or of the executing frame, alive while the array is borrowed.
        IS_INDIRECT => unsafe { zv.value.zv.as_ref() }.map_or(zv, |z| z),
        _ => zv,
    }
}

/// The bytes of a `zend_string`.
#[inline]
fn str_bytes<'a>(s: *mut zend_string) -> Option<&'a [u8]> {
    // SAFETY: `s` is either null or a live zend_string owned by the array (or
    // value) being read; `ZendStr` is ext-php-rs's view of `zend_string`.
    unsafe { s.cast::<ZendStr>().as_ref() }.map(ZendStr::as_bytes)
}

/// The array of an `IS_ARRAY` zval.
#[inline]
fn array_of(zv: &Zval) -> Option<&ZendHashTable> {
    if type_of(zv) != IS_ARRAY {
        return None;
    }
    // SAFETY: the type byte says `value.arr` is a live zend_array, owned (or
    // borrowed, for the root) for at least as long as `zv`.
    unsafe { zv.value.arr.as_ref() }
}

/// A canonical decimal integer key (PHP stores "12" as the integer key 12).
fn integer_key(key: &str) -> Option<i64> {
    let b = key.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let first = *digits.first()?;
    if !first.is_ascii_digit() || (first == b'0' && (digits.len() > 1 || b.len() > 1)) {
        return None;
    }
    key.parse().ok()
}

impl PhpNode {
    /// Views a `zval` as a node (references are followed on access).
    pub fn from_zval(zv: &Zval) -> &PhpNode {
        // SAFETY: `PhpNode` is `#[repr(transparent)]` over `Zval`, so the two types
        // have the same layout and alignment, and the returned reference borrows
        // `zv` for the same lifetime.
        unsafe { &*std::ptr::from_ref(zv).cast::<PhpNode>() }
    }

    /// Calls `f` with the array `ht` seen as a root node, without copying it or
    /// touching its reference count.
    pub fn with_array<R>(ht: &ZendHashTable, f: impl FnOnce(&PhpNode) -> R) -> R {
        let mut zv = ManuallyDrop::new(Zval::new());
        // `IS_ARRAY` without the refcounted flag: the zval only borrows `ht`.
        zv.u1.type_info = ZvalTypeFlags::Array.bits();
        zv.value.arr = std::ptr::from_ref(ht).cast_mut();
        // The zval is a borrowed view: it is never dropped (ManuallyDrop), never
        // written through, and does not outlive this call, during which `ht` is
        // borrowed, so the engine's array stays alive and unchanged.
        f(PhpNode::from_zval(&zv))
    }

    fn zv(&self) -> &Zval {
        deref(&self.0)
    }
}

impl Node for PhpNode {
    fn scalar(&self) -> Scalar<'_> {
        let zv = self.zv();
        match type_of(zv) {
            IS_NULL | IS_UNDEF => Scalar::Null,
            IS_FALSE => Scalar::Bool(false),
            IS_TRUE => Scalar::Bool(true),
            // SAFETY: the type byte says which `value` member is live.
            IS_LONG => Scalar::Int(unsafe { zv.value.lval }),
            // SAFETY: as above.
            IS_DOUBLE => Scalar::Float(unsafe { zv.value.dval }),
            // SAFETY: as above: `value.str` is a live zend_string.
            IS_STRING => str_bytes(unsafe { zv.value.str_ }).map_or(Scalar::Null, Scalar::Str),
            IS_ARRAY => Scalar::Array,
            IS_OBJECT => Scalar::Other("an object"),
            IS_RESOURCE => Scalar::Other("a resource"),
            _ => Scalar::Other("an unsupported type"),
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        let ht = array_of(self.zv())?;
        let found = match integer_key(key) {
            // SAFETY: `ht` is a live array; zend_hash_index_find only reads it.
            // Negative keys are stored as their two's-complement zend_ulong.
            Some(i) => unsafe { zend_hash_index_find(ht, i as u64) },
            // SAFETY: `ht` is a live array; `key` is valid for `key.len()` bytes
            // (zend_hash_str_find takes a length and needs no terminator).
            None => unsafe { zend_hash_str_find(ht, key.as_ptr().cast(), key.len()) },
        };
        // SAFETY: a non-null result points at a zval inside `ht`, alive while
        // `self` (which owns or borrows `ht`) is borrowed.
        unsafe { found.as_ref() }.map(PhpNode::from_zval)
    }

    #[inline(always)]
    fn get_key(&self, key: &FieldKey) -> Option<&Self> {
        match key.hash() {
            Some(h) => find_str(array_of(self.zv())?, key.name().as_bytes(), h).map(PhpNode::from_zval),
            // A key that may be an integer key goes the engine's way.
            None => self.get(key.name()),
        }
    }

    fn len(&self) -> usize {
        array_of(self.zv()).map_or(0, |ht| ht.nNumOfElements as usize)
    }

    fn for_each<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(Key<'_>, &Self) -> Result<()>,
    {
        let Some(ht) = array_of(self.zv()) else { return Ok(()) };
        slots(ht, |key, zv| {
            let key = match key {
                Slot::Int(i) => Key::Int(i),
                Slot::Str(s) => Key::Str(str_bytes(s).unwrap_or_default()),
            };
            f(key, PhpNode::from_zval(zv))
        })
    }

    fn within_limits(&self, limits: &Limits) -> bool {
        // The fast walk counts each array entry as ENTRY_WEIGHT bytes of text,
        // which proves the bound on all entries together for the core's limits
        // only; other limits take the exact walk.
        if limits.max_total_string_bytes / ENTRY_WEIGHT >= limits.max_values {
            return false;
        }
        array_of(self.zv()).is_some_and(|ht| bounded(ht, 1, limits).fits(limits))
    }
}

/// What one array entry counts for in [`Text::total`]: with the core's limits
/// (1 MiB of text, 100,000 entries), a total within the text bound proves both
/// at once (at most 95,325 entries), with one multiply-add per array and the
/// sums kept in two registers. The same array reached many times (copy-on-write
/// sharing, references) counts each time, so such an input fails the fast walk
/// after about a million steps at most, and the exact walk stops at the
/// 100,000th entry.
const ENTRY_WEIGHT: usize = 11;

/// String bytes under an array, for [`bounded`]: the sum of all lengths, and
/// all lengths OR-ed together. Every length is ≤ `any` (an OR is never smaller
/// than any of its operands), so `any ≤ max_string_bytes` proves the
/// per-string bound with one instruction per string instead of a compare; an
/// input whose OR exceeds the bound (only with strings near the limit) is
/// answered `false` and goes to the core's exact walk, which names the path.
/// [`Text::OUT`] (`any` all ones) stands for "out of bounds".
#[derive(Clone, Copy)]
struct Text {
    total: usize,
    any: usize,
}

impl Text {
    const OUT: Text = Text { total: 0, any: usize::MAX };

    #[inline(always)]
    fn add(&mut self, len: usize) {
        self.total = self.total.wrapping_add(len);
        self.any |= len;
    }

    #[inline(always)]
    fn join(&mut self, other: Text) {
        self.total = self.total.wrapping_add(other.total);
        self.any |= other.any;
    }

    #[inline(always)]
    fn fits(self, l: &Limits) -> bool {
        self.any <= l.max_string_bytes && self.total <= l.max_total_string_bytes
    }
}

/// The fast bounds walk: the text under `ht` (at `depth`), or [`Text::OUT`]
/// unless it and everything below it certainly keep `l`'s bounds. Reads the
/// engine's layout directly, as [`slots`] does, with the sums in registers, one
/// type test per element and no call per scalar.
fn bounded(ht: &ZendHashTable, depth: usize, l: &Limits) -> Text {
    if depth > l.max_depth || ht.nNumOfElements as usize > l.max_elements {
        return Text::OUT;
    }
    let mut t = Text { total: (ht.nNumOfElements as usize).wrapping_mul(ENTRY_WEIGHT), any: 0 };
    let used = ht.nNumUsed as usize;
    if used == 0 {
        return t;
    }
    // SAFETY: reading the flags word of the `u` union (plain integers).
    if unsafe { ht.u.flags } & HASH_FLAG_PACKED != 0 {
        // SAFETY: as in `slots`: `nNumUsed` zvals at `arPacked`.
        let zvals = unsafe { std::slice::from_raw_parts(ht.__bindgen_anon_1.arPacked.cast_const(), used) };
        for zv in zvals {
            if !bounded_value(zv, depth, &mut t, l) {
                return Text::OUT;
            }
        }
    } else {
        // SAFETY: as in `slots`: `nNumUsed` Buckets at `arData`.
        let buckets: &[Bucket] = unsafe { std::slice::from_raw_parts(ht.__bindgen_anon_1.arData.cast_const(), used) };
        for b in buckets {
            // A deleted slot is IS_UNDEF; its key may already be freed.
            if type_of(&b.val) == IS_UNDEF {
                continue;
            }
            t.add(str_len(b.key));
            if !bounded_value(&b.val, depth, &mut t, l) {
                return Text::OUT;
            }
        }
    }
    if t.fits(l) {
        t
    } else {
        Text::OUT
    }
}

/// One element of an array at `depth` for [`bounded`]: strings are counted,
/// arrays walked, references followed (rare: out of line), the rest is free.
/// `false` when out of bounds.
#[inline(always)]
fn bounded_value(zv: &Zval, depth: usize, t: &mut Text, l: &Limits) -> bool {
    let ty = type_of(zv);
    if ty == IS_STRING {
        // SAFETY: the type byte says `value.str_` is a live zend_string.
        t.add(str_len(unsafe { zv.value.str_ }));
    } else if ty == IS_ARRAY || ty >= IS_REFERENCE {
        let c = if ty == IS_ARRAY {
            // SAFETY: the type byte says `value.arr` is a live zend_array.
            match unsafe { zv.value.arr.as_ref() } {
                // An empty array (common: no meta data, no taxes) only has a depth.
                Some(child) if child.nNumUsed == 0 => {
                    return depth < l.max_depth;
                }
                Some(child) => bounded(child, depth + 1, l),
                None => Text::OUT,
            }
        } else {
            bounded_child(zv, depth, l)
        };
        if c.any == usize::MAX {
            return false;
        }
        t.join(c);
    }
    true
}

/// The text under a reference (or an indirect slot), or [`Text::OUT`].
#[cold]
#[inline(never)]
fn bounded_child(zv: &Zval, depth: usize, l: &Limits) -> Text {
    let zv = deref(zv);
    match type_of(zv) {
        // SAFETY: the type byte says `value.str_` is a live zend_string.
        IS_STRING => Text { total: str_len(unsafe { zv.value.str_ }), any: str_len(unsafe { zv.value.str_ }) },
        IS_ARRAY => array_of(zv).map_or(Text::OUT, |child| bounded(child, depth + 1, l)),
        _ => Text { total: 0, any: 0 },
    }
}

/// The value under the string key `name` (whose engine hash is `h`) in `ht`:
/// `zend_hash_find_bucket` of php-src (Zend/zend_hash.c), with the hash computed
/// once per policy instead of once per lookup and no call into the engine.
#[inline(always)]
fn find_str<'a>(ht: &'a ZendHashTable, name: &[u8], h: u64) -> Option<&'a Zval> {
    // SAFETY: reading the flags word of the `u` union (plain integers).
    if unsafe { ht.u.flags } & HASH_FLAG_PACKED != 0 {
        return None; // a packed array has integer keys only
    }
    // SAFETY: a hash (non-packed) array's `arData` points at its Buckets; the
    // `-nTableMask` u32 slots just before them are the hash part (for an
    // uninitialised array, the engine's static pair of HT_INVALID_IDX slots).
    // `h | nTableMask` read as i32 lies in [nTableMask, -1]: one of those slots
    // (HT_HASH_EX). Each slot and each bucket's `u2.next` is HT_INVALID_IDX or
    // the index of a bucket below nNumUsed (HT_HASH_TO_BUCKET_EX, 64-bit).
    unsafe {
        let data = ht.__bindgen_anon_1.arData.cast_const();
        let slot = ((h as u32) | ht.nTableMask) as i32 as isize;
        let mut idx = *data.cast::<u32>().offset(slot);
        while idx != HT_INVALID_IDX {
            let b = &*data.add(idx as usize);
            if b.h == h && str_bytes(b.key).is_some_and(|k| same_bytes(k, name)) {
                return Some(&b.val);
            }
            idx = b.val.u2.next;
        }
    }
    None
}

/// `a == b`, without a call to `memcmp` for keys of up to 16 bytes (two
/// overlapping word compares; all that a hash-and-length match leaves to check).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    #[inline(always)]
    fn word(s: &[u8], at: usize) -> u64 {
        s.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_ne_bytes)
    }
    #[inline(always)]
    fn half(s: &[u8], at: usize) -> u32 {
        s.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_ne_bytes)
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// `HT_INVALID_IDX` from Zend/zend_types.h.
const HT_INVALID_IDX: u32 = u32::MAX;

/// The key of a slot: an integer, or a (non-null) zend_string.
enum Slot {
    Int(i64),
    Str(*mut zend_string),
}

/// Length of a zend_string (0 for null).
#[inline]
fn str_len(s: *mut zend_string) -> usize {
    // SAFETY: `s` is null or a live zend_string of the array being read.
    unsafe { s.as_ref() }.map_or(0, |z| z.len)
}

/// Calls `f` for every live slot of `ht`, in order, reading the engine's layout
/// directly (`ZEND_HASH_FOREACH_*`); stops at the first error.
#[inline]
fn slots<E>(ht: &ZendHashTable, mut f: impl FnMut(Slot, &Zval) -> std::result::Result<(), E>) -> std::result::Result<(), E> {
    let used = ht.nNumUsed as usize;
    if used == 0 {
        return Ok(());
    }
    // SAFETY: reading the flags word of the `u` union (plain integers).
    let packed = unsafe { ht.u.flags } & HASH_FLAG_PACKED != 0;
    if packed {
        // SAFETY: a packed array (PHP ≥ 8.2) stores `nNumUsed` zvals at
        // `arPacked`; slots that were unset are IS_UNDEF and skipped.
        let zvals = unsafe { std::slice::from_raw_parts(ht.__bindgen_anon_1.arPacked.cast_const(), used) };
        for (zv, i) in zvals.iter().zip(0i64..) {
            if type_of(zv) != IS_UNDEF {
                f(Slot::Int(i), zv)?;
            }
        }
    } else {
        // SAFETY: a hash (non-packed) array stores `nNumUsed` Buckets at
        // `arData` in insertion order; deleted slots are IS_UNDEF and skipped.
        let buckets: &[Bucket] = unsafe { std::slice::from_raw_parts(ht.__bindgen_anon_1.arData.cast_const(), used) };
        for b in buckets {
            if type_of(&b.val) == IS_UNDEF {
                continue;
            }
            // A bucket's key is a zend_string, or null for an integer key `h`.
            let key = if b.key.is_null() { Slot::Int(b.h as i64) } else { Slot::Str(b.key) };
            f(key, &b.val)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::integer_key;

    #[test]
    fn integer_keys_are_canonical_decimals() {
        assert_eq!(integer_key("12"), Some(12));
        assert_eq!(integer_key("0"), Some(0));
        assert_eq!(integer_key("-3"), Some(-3));
        for s in ["", "-", "012", "-0", "1.5", "1e3", "billing", " 1", "99999999999999999999"] {
            assert_eq!(integer_key(s), None, "{s}");
        }
    }
}
