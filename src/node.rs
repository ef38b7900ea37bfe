//! [`Node`] over PHP values: the order is read in place from PHP's hash tables.
use std::mem::ManuallyDrop;

use ext_php_rs::flags::ZvalTypeFlags;
use ext_php_rs::types::{ZendHashTable, Zval};
use secure_forward_core::node::{Key, Node, Scalar};
use secure_forward_core::Result;

/// A PHP value seen through the core's [`Node`] trait.
#[repr(transparent)]
pub struct PhpNode(Zval);

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
        self.0.dereference()
    }
}

impl Node for PhpNode {
    fn scalar(&self) -> Scalar<'_> {
        let zv = self.zv();
        if zv.is_null() {
            Scalar::Null
        } else if zv.is_true() {
            Scalar::Bool(true)
        } else if zv.is_false() {
            Scalar::Bool(false)
        } else if let Some(i) = zv.long() {
            Scalar::Int(i)
        } else if let Some(f) = zv.double() {
            Scalar::Float(f)
        } else if let Some(s) = zv.zend_str() {
            Scalar::Str(s.as_bytes())
        } else if zv.is_array() {
            Scalar::Array
        } else if zv.is_object() {
            Scalar::Other("an object")
        } else if zv.is_resource() {
            Scalar::Other("a resource")
        } else {
            Scalar::Other("an unsupported type")
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        self.zv().array()?.get(key).map(PhpNode::from_zval)
    }

    fn len(&self) -> usize {
        self.zv().array().map_or(0, ext_php_rs::types::ZendHashTable::len)
    }

    fn for_each<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(Key<'_>, &Self) -> Result<()>,
    {
        let Some(ht) = self.zv().array() else { return Ok(()) };
        let mut iter = ht.iter();
        while let Some((key, value)) = iter.next_zval() {
            let k = if let Some(i) = key.long() {
                Key::Int(i)
            } else if let Some(s) = key.zend_str() {
                Key::Str(s.as_bytes())
            } else {
                Key::Int(0)
            };
            f(k, PhpNode::from_zval(value))?;
        }
        Ok(())
    }
}
