//! Request shaping: speaking the destination's API (`[destinations.NAME.body]`,
//! `url` placeholders, static `headers`).
//!
//! A body table is compiled once per configuration load ([`Shape::compile`])
//! and rendered per order from the policy's output ([`Shape::render`]):
//! - numbers, booleans, arrays and tables are literals, walked recursively, in
//!   the TOML order; `{ literal = X }` writes `X` as it is;
//! - a string holding braces is a template: `{path}` placeholders, `{{`/`}}`
//!   literal braces (a lone brace is a configuration error); a missing or null
//!   value renders as `""`, numbers as their text, booleans as `true`/`false`;
//! - `{ from, as, map, default }` is a typed value (see [`compile::As`]); a
//!   missing or null source (or, with `map`, an unmapped value) leaves the key
//!   out unless `default` is given; `from = [..]` takes the first value that is
//!   not missing, null, `""`, `0` or `"0"`;
//! - `{ each, to }` builds a list (paths in `to` relative to the element),
//!   spliced in place inside an array literal; a missing or null list leaves the
//!   key out (nothing spliced);
//! - every path must be selected by the policy (checked at compile time);
//!   constants holding a card number are refused at compile time, and every
//!   string or number written from the order is scanned at render time.
//!
//! Paths are written as the policy writes them (`billing.country`,
//! `line_items[].sku`); inside `to` they are relative (`sku`).
mod api_error;
mod compile;
mod headers;
mod input;
mod number;
mod render;
mod slots;
mod template;
mod url;

pub use api_error::{api_error_message, api_error_message_for, MAX_CHARS as API_ERROR_MAX_CHARS};
pub use headers::{Headers, JSON};
pub use url::{encode_into as url_encode_into, UrlTemplate};

use crate::error::{Error, Result};

/// A compiled `[destinations.NAME.body]`.
#[derive(Debug)]
pub struct Shape {
    root: compile::Node,
    paths: Vec<String>,
    /// Set when every path is covered by the policy's slots ([`Shape::render_slots`]).
    slot_map: Option<slots::SlotMap>,
}

impl Shape {
    /// Compiles `body` (`destinations.DEST.body` of `file`). `selected(path)`
    /// says whether the policy's `fields` select `path` (`billing.country`,
    /// `line_items[].sku`).
    pub fn compile(body: &toml::Value, selected: &dyn Fn(&str) -> bool, file: &str, dest: &str) -> Result<Shape> {
        let mut c = compile::Compiler { file, dest, selected, used: Vec::new() };
        if !matches!(body, toml::Value::Table(_) | toml::Value::Array(_)) {
            return Err(c.err("body", "must be a table"));
        }
        let root = compile::flatten(c.node(body, "body", "", 0)?);
        Ok(Shape { root, paths: c.used, slot_map: None })
    }

    /// [`Shape::compile`], also resolving every path to the policy's slot
    /// (`field_slot`: `crate::policy::Policy::field_slot`, `list_slot`:
    /// `crate::policy::Policy::list_slot`), so that the body renders straight
    /// from the slots the policy records ([`Shape::render_slots`]) when all resolve.
    pub fn compile_with_slots(
        body: &toml::Value,
        selected: &dyn Fn(&str) -> bool,
        field_slot: &dyn Fn(&str) -> Option<u32>,
        list_slot: &dyn Fn(&str) -> Option<u32>,
        file: &str,
        dest: &str,
    ) -> Result<Shape> {
        let mut shape = Shape::compile(body, selected, file, dest)?;
        shape.slot_map = slots::assign(&mut shape.root, field_slot, list_slot);
        Ok(shape)
    }

    /// Whether [`Shape::render_slots`] can render this body.
    pub fn renders_from_slots(&self) -> bool {
        self.slot_map.is_some()
    }

    /// Appends the body for one order from the policy's output and the slots
    /// it recorded (`crate::policy::Policy::apply_slots`); the same bytes as
    /// [`Shape::render_json`]. Falls back to it when the body is not covered by slots.
    pub fn render_slots(&self, policy_output: &[u8], slots: &[crate::policy::Slot], out: &mut Vec<u8>) -> Result<()> {
        let Some(map) = &self.slot_map else {
            return self.render_json(policy_output, out);
        };
        thread_local! {
            static SCRATCH: std::cell::Cell<slots::Scratch> = std::cell::Cell::new(slots::Scratch::default());
        }
        let table = slots::Table::new(map, policy_output, slots, SCRATCH.take())
            .ok_or_else(|| Error::validation("", "the policy output does not match its slots"))?;
        let result = self.render_scope(slots::At { t: &table, elem: 0 }, out);
        SCRATCH.set(table.into_scratch());
        result
    }

    /// The paths the body uses, as the policy names them, in first-use order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Appends the body for one order's policy output `fields` (un-renamed) to
    /// `out`. On error `out` is left as it was.
    pub fn render(&self, fields: &serde_json::Value, out: &mut Vec<u8>) -> Result<()> {
        self.render_from(fields, out)
    }

    /// [`Shape::render`] from the policy's output as JSON bytes (the fast path:
    /// parsed into a borrowed tree, no hashing, no copies of unescaped strings).
    pub fn render_json(&self, policy_output: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let fields = input::parse(policy_output).ok_or_else(|| Error::validation("", "the policy output is not JSON"))?;
        self.render_from(&fields, out)
    }

    fn render_from<I: input::Input>(&self, fields: &I, out: &mut Vec<u8>) -> Result<()> {
        self.render_scope(fields, out)
    }

    fn render_scope<'v, S: render::Scope<'v>>(&self, scope: S, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        match render::node(&self.root, scope, out) {
            Ok(true) => Ok(()),
            Ok(false) => {
                out.extend_from_slice(b"null");
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}
