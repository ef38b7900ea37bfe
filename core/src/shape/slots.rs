//! Rendering straight from the policy's slots (see [`crate::policy::Slot`]):
//! each body path is resolved to the policy's field (or list) once, when the
//! configuration is loaded; per order the policy records where it wrote each
//! value, and the body is rendered from those places — no second JSON parse,
//! no key comparisons. Bodies that use a path the slots do not cover (an
//! object, a list inside a list element) render from the parsed output instead.
use std::borrow::Cow;
use std::cell::Cell;

use super::compile::{Node, Op};
use super::render::{ListAt, Scope, Val};
use super::template::{Part, Path};
use crate::policy::Slot;

const NONE: u32 = u32::MAX;

/// Policy slot ids → dense indices of a slot table (built at compile time).
#[derive(Debug, Default)]
pub(crate) struct SlotMap {
    /// By [`flat`] slot id: the dense index (or `NONE`).
    dense: Vec<u32>,
    n: u32,
}

/// A slot id as an index: field `f` at `2f`, the list of field `f` at `2f + 1`.
#[inline(always)]
fn flat(id: u32) -> usize {
    id.rotate_left(1) as usize
}

impl SlotMap {
    fn add(&mut self, id: u32) -> u32 {
        let i = flat(id);
        if self.dense.len() <= i {
            self.dense.resize(i + 1, NONE);
        }
        match self.dense.get_mut(i) {
            Some(d) if *d != NONE => *d,
            Some(d) => {
                *d = self.n;
                self.n += 1;
                *d
            }
            None => NONE,
        }
    }

    #[inline(always)]
    fn dense(&self, id: u32) -> Option<usize> {
        self.dense.get(flat(id)).copied().filter(|d| *d != NONE).map(|d| d as usize)
    }
}

/// Resolves every path of `root` to a dense slot index; `None` when one is not
/// covered by the slots (the body then renders from the parsed output).
pub(crate) fn assign(
    root: &mut Node,
    field_slot: &dyn Fn(&str) -> Option<u32>,
    list_slot: &dyn Fn(&str) -> Option<u32>,
) -> Option<SlotMap> {
    fn path(p: &mut Path, map: &mut SlotMap, lookup: &dyn Fn(&str) -> Option<u32>) -> Option<()> {
        p.slot = Some(map.add(lookup(&p.shown)?));
        Some(())
    }
    fn walk(
        n: &mut Node,
        map: &mut SlotMap,
        field_slot: &dyn Fn(&str) -> Option<u32>,
        list_slot: &dyn Fn(&str) -> Option<u32>,
        in_list: bool,
    ) -> Option<()> {
        match n {
            Node::Lit(_) => Some(()),
            Node::Template { parts, .. } => parts.iter_mut().try_for_each(|p| match p {
                Part::Field(f) => path(f, map, field_slot),
                Part::Lit(_) => Some(()),
            }),
            Node::Typed(t) => t.from.iter_mut().try_for_each(|p| path(p, map, field_slot)),
            Node::Object(entries) => entries.iter_mut().try_for_each(|(_, c)| walk(c, map, field_slot, list_slot, in_list)),
            Node::Array(items) => items.iter_mut().try_for_each(|c| walk(c, map, field_slot, list_slot, in_list)),
            Node::Seq(ops) => ops.iter_mut().try_for_each(|op| match op {
                Op::Bytes(_) => Some(()),
                Op::Tpl { parts, .. } => parts.iter_mut().try_for_each(|p| match p {
                    Part::Field(f) => path(f, map, field_slot),
                    Part::Lit(_) => Some(()),
                }),
                Op::Opt(_, c) | Op::Val(c) => walk(c, map, field_slot, list_slot, in_list),
            }),
            Node::Each(e) => {
                // Slots cover first-level lists only.
                if in_list {
                    return None;
                }
                path(&mut e.list, map, list_slot)?;
                walk(&mut e.to, map, field_slot, list_slot, true)
            }
        }
    }
    let mut map = SlotMap::default();
    walk(root, &mut map, field_slot, list_slot, false)?;
    Some(map)
}

/// The buffers of a [`Table`], kept from order to order.
#[derive(Default)]
pub(crate) struct Scratch {
    heads: Vec<u32>,
    next: Vec<u32>,
    cursor: Vec<Cell<u32>>,
}

/// One order's slots, chained by dense index.
pub(crate) struct Table<'v> {
    text: &'v [u8],
    slots: &'v [Slot],
    heads: Vec<u32>,
    next: Vec<u32>,
    /// Per dense index: the slot found last (lists are walked in order).
    cursor: Vec<Cell<u32>>,
    /// Strings written with escapes, unescaped (rare).
    owned: Vec<(u32, String)>,
}

impl<'v> Table<'v> {
    /// `None` when `text` is not UTF-8 (the policy always writes UTF-8).
    pub(crate) fn new(map: &SlotMap, text: &'v [u8], slots: &'v [Slot], scratch: Scratch) -> Option<Table<'v>> {
        // The policy writes UTF-8 only (every string is checked): values are sliced at
        // its own boundaries, which are always character boundaries.
        let n = map.n as usize;
        let Scratch { mut heads, mut next, mut cursor } = scratch;
        heads.clear();
        heads.resize(n, NONE);
        next.clear();
        next.resize(slots.len(), NONE);
        cursor.clear();
        cursor.resize_with(n, || Cell::new(NONE));
        let mut owned = Vec::new();
        for (k, (s, nx)) in slots.iter().zip(next.iter_mut()).enumerate().rev() {
            let Some(d) = map.dense(s.id) else { continue };
            let k32 = k as u32;
            if let Some(h) = heads.get_mut(d) {
                *nx = *h;
                *h = k32;
            }
            if s.escaped {
                let v = text.get(s.start as usize..s.end as usize)?;
                if let Some(super::input::Json::Str(u)) = super::input::parse(v) {
                    owned.push((k32, u.into_owned()));
                }
            }
        }
        Some(Table { text, slots, heads, next, cursor, owned })
    }

    /// Gives the buffers back for the next order.
    pub(crate) fn into_scratch(self) -> Scratch {
        Scratch { heads: self.heads, next: self.next, cursor: self.cursor }
    }

    /// The slot (its position and itself) of dense index `d` for element `elem`.
    #[inline(always)]
    fn find(&self, d: usize, elem: u32) -> Option<(u32, &'v Slot)> {
        let slots: &'v [Slot] = self.slots;
        let cursor = self.cursor.get(d)?;
        let mut k = cursor.get();
        if slots.get(k as usize).is_none_or(|s| s.elem > elem) {
            k = *self.heads.get(d)?;
        }
        while let Some(s) = slots.get(k as usize) {
            if s.elem == elem {
                cursor.set(k);
                return Some((k, s));
            }
            if s.elem > elem {
                return None;
            }
            k = *self.next.get(k as usize)?;
        }
        None
    }

    #[inline(always)]
    fn val(&'v self, k: u32, s: &'v Slot) -> Val<'v> {
        let text = self.text.get(s.start as usize..s.end as usize).unwrap_or(b"null");
        match text.first() {
            Some(b'"') if s.escaped => match self.owned.iter().find(|(i, _)| *i == k) {
                Some((_, u)) => Val::Str(u.as_bytes(), false),
                None => Val::Null,
            },
            Some(b'"') => {
                // Written by the policy without escapes: UTF-8 without `"`, `\\` or controls.
                Val::Str(text.get(1..text.len().saturating_sub(1)).unwrap_or_default(), true)
            }
            Some(b'n') => Val::Null,
            Some(b't') => Val::Bool(true),
            Some(b'f') => Val::Bool(false),
            _ => Val::Num(Cow::Borrowed(text)),
        }
    }
}

/// A scope of a [`Table`]: the order (`elem` 0) or one element of a list.
#[derive(Clone, Copy)]
pub(crate) struct At<'v> {
    pub(crate) t: &'v Table<'v>,
    pub(crate) elem: u32,
}

/// The elements of a list.
pub(crate) struct Elems<'v> {
    t: &'v Table<'v>,
    i: u32,
    n: u32,
}

impl<'v> Iterator for Elems<'v> {
    type Item = At<'v>;

    fn next(&mut self) -> Option<At<'v>> {
        (self.i < self.n).then(|| {
            self.i += 1;
            At { t: self.t, elem: self.i - 1 }
        })
    }
}

impl<'v> Scope<'v> for At<'v> {
    type Elems = Elems<'v>;
    const PRESCANNED: bool = true;

    #[inline(always)]
    fn get(self, p: &Path) -> Option<Val<'v>> {
        let (k, s) = self.t.find(p.slot? as usize, self.elem)?;
        Some(self.t.val(k, s))
    }

    #[inline(always)]
    fn raw_str(self, p: &Path) -> Option<&'v [u8]> {
        let (_, s) = self.t.find(p.slot? as usize, self.elem)?;
        let text = self.t.text.get(s.start as usize..s.end as usize)?;
        (text.first() == Some(&b'"') && !s.escaped).then_some(text)
    }

    fn elements(self, p: &Path) -> ListAt<Elems<'v>> {
        match p.slot.and_then(|d| self.t.find(d as usize, 0)) {
            Some((_, s)) => ListAt::Elems(Elems { t: self.t, i: 0, n: s.end }),
            None => ListAt::None,
        }
    }
}
