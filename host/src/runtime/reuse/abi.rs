//! Sizes of component-model values in linear memory (the canonical ABI's
//! `size` and `alignment`), for one purpose: how many bytes the host writes
//! at the return pointer a guest passes to a lowered import.

use anyhow::Result;
use wasmparser::component_types::{ComponentDefinedType, ComponentValType};
use wasmparser::{PrimitiveValType, types::TypesRef};

/// `(size, alignment)` in bytes of a value of type `ty`.
pub fn layout(types: TypesRef<'_>, ty: &ComponentValType) -> Result<(u32, u32)> {
    match ty {
        ComponentValType::Primitive(p) => Ok(primitive(*p)),
        ComponentValType::Type(id) => defined(types, &types[*id]),
    }
}

fn primitive(p: PrimitiveValType) -> (u32, u32) {
    use PrimitiveValType as P;
    match p {
        P::Bool | P::S8 | P::U8 => (1, 1),
        P::S16 | P::U16 => (2, 2),
        P::S32 | P::U32 | P::F32 | P::Char | P::ErrorContext => (4, 4),
        P::S64 | P::U64 | P::F64 => (8, 8),
        P::String => (8, 4),
    }
}

fn defined(types: TypesRef<'_>, ty: &ComponentDefinedType) -> Result<(u32, u32)> {
    use ComponentDefinedType as D;
    Ok(match ty {
        D::Primitive(p) => primitive(*p),
        D::Record(record) => sequence(types, record.fields.values())?,
        D::Tuple(tuple) => sequence(types, tuple.types.iter())?,
        D::List { .. } | D::Map { .. } => (8, 4),
        D::FixedLengthList {
            element, length, ..
        } => {
            let (size, align) = layout(types, element)?;
            (size.saturating_mul(*length), align)
        }
        D::Flags(names) => match names.len() {
            0 => (0, 1),
            1..=8 => (1, 1),
            9..=16 => (2, 2),
            n => (4 * n.div_ceil(32) as u32, 4),
        },
        D::Enum(cases) => variant(types, cases.len(), std::iter::empty())?,
        D::Variant(v) => variant(
            types,
            v.cases.len(),
            v.cases.values().filter_map(|c| c.ty.as_ref()),
        )?,
        D::Option { ty, .. } => variant(types, 2, std::iter::once(ty))?,
        D::Result { ok, err, .. } => variant(types, 2, ok.iter().chain(err.iter()))?,
        D::Own(_) | D::Borrow(_) | D::Future { .. } | D::Stream { .. } => (4, 4),
    })
}

/// How many core values a value of type `ty` flattens to: a function whose
/// results flatten to more than one gets them through memory, at a return
/// pointer.
pub fn flat_count(types: TypesRef<'_>, ty: &ComponentValType) -> Result<u32> {
    use ComponentDefinedType as D;
    let primitive = |p: PrimitiveValType| if p == PrimitiveValType::String { 2 } else { 1 };
    let id = match ty {
        ComponentValType::Primitive(p) => return Ok(primitive(*p)),
        ComponentValType::Type(id) => *id,
    };
    let sum = |tys: &mut dyn Iterator<Item = &ComponentValType>| -> Result<u32> {
        let mut n = 0u32;
        for t in tys {
            n = n.saturating_add(flat_count(types, t)?);
        }
        Ok(n)
    };
    let widest = |tys: &mut dyn Iterator<Item = &ComponentValType>| -> Result<u32> {
        let mut n = 0u32;
        for t in tys {
            n = n.max(flat_count(types, t)?);
        }
        Ok(n)
    };
    Ok(match &types[id] {
        D::Primitive(p) => primitive(*p),
        D::Record(record) => sum(&mut record.fields.values())?,
        D::Tuple(tuple) => sum(&mut tuple.types.iter())?,
        D::List { .. } | D::Map { .. } => 2,
        D::FixedLengthList {
            element, length, ..
        } => flat_count(types, element)?.saturating_mul(*length),
        D::Flags(names) => names.len().div_ceil(32) as u32,
        D::Enum(_) | D::Own(_) | D::Borrow(_) | D::Future { .. } | D::Stream { .. } => 1,
        D::Variant(v) => 1 + widest(&mut v.cases.values().filter_map(|c| c.ty.as_ref()))?,
        D::Option { ty, .. } => 1 + flat_count(types, ty)?,
        D::Result { ok, err, .. } => 1 + widest(&mut ok.iter().chain(err.iter()))?,
    })
}

/// Fields laid out one after another, each at its alignment.
fn sequence<'a>(
    types: TypesRef<'_>,
    fields: impl Iterator<Item = &'a ComponentValType>,
) -> Result<(u32, u32)> {
    let (mut size, mut align) = (0u32, 1u32);
    for field in fields {
        let (s, a) = layout(types, field)?;
        size = size.next_multiple_of(a).saturating_add(s);
        align = align.max(a);
    }
    Ok((size.next_multiple_of(align), align))
}

/// A discriminant sized for `cases`, then the largest payload.
fn variant<'a>(
    types: TypesRef<'_>,
    cases: usize,
    payloads: impl Iterator<Item = &'a ComponentValType>,
) -> Result<(u32, u32)> {
    let discriminant: u32 = match cases {
        0..=256 => 1,
        257..=65536 => 2,
        _ => 4,
    };
    let (mut payload_size, mut payload_align) = (0u32, 1u32);
    for payload in payloads {
        let (s, a) = layout(types, payload)?;
        payload_size = payload_size.max(s);
        payload_align = payload_align.max(a);
    }
    let align = payload_align.max(discriminant);
    let size = discriminant
        .next_multiple_of(payload_align)
        .saturating_add(payload_size);
    Ok((size.next_multiple_of(align), align))
}

#[cfg(test)]
mod tests {
    use super::primitive;
    use wasmparser::PrimitiveValType as P;
    use wasmparser::component_types::ComponentEntityType;

    /// Sizes of composite results, as a host function's return area.
    #[test]
    fn composite_sizes_follow_the_canonical_abi() {
        // (type, size in bytes, core values it flattens to)
        let cases = [
            (
                r#"(record (field "a" u8) (field "b" u32) (field "c" u16))"#,
                12,
                3,
            ),
            (
                r#"(variant (case "x" u8) (case "y" u64) (case "z"))"#,
                16,
                2,
            ),
            ("(option string)", 12, 3),
            ("(result u64 (error string))", 16, 3),
            ("(result)", 1, 1),
            ("(tuple u8 u64)", 16, 2),
            ("(list u8)", 8, 2),
            (r#"(enum "a" "b" "c")"#, 1, 1),
            (r#"(flags "a" "b" "c" "d" "e" "f" "g" "h" "i")"#, 2, 1),
            ("(tuple (option u8) (list string) f64)", 24, 5),
        ];
        for (ty, expected, flat) in cases {
            let wat = format!(
                "(component (type $t {ty}) (import \"host\" (instance (export \"t\" (type $u (eq $t))) \
                 (export \"f\" (func (result $u))))))"
            );
            let bytes = wat::parse_str(&wat).expect(&wat);
            let types = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&bytes)
                .expect(&wat);
            let types = types.as_ref();
            let Some(ComponentEntityType::Instance(host)) =
                types.component_item_for_import("host").map(|i| &i.ty)
            else {
                panic!("{wat}: no host instance");
            };
            let Some(ComponentEntityType::Func(f)) = types[*host].exports.get("f").map(|i| &i.ty)
            else {
                panic!("{wat}: no function f");
            };
            let result = types[*f].result.expect(ty);
            assert_eq!(super::layout(types, &result).expect(ty).0, expected, "{ty}");
            assert_eq!(super::flat_count(types, &result).expect(ty), flat, "{ty}");
        }
    }

    #[test]
    fn primitive_sizes_follow_the_canonical_abi() {
        let cases = [
            (P::Bool, (1, 1)),
            (P::U8, (1, 1)),
            (P::S16, (2, 2)),
            (P::U32, (4, 4)),
            (P::Char, (4, 4)),
            (P::F64, (8, 8)),
            (P::String, (8, 4)),
        ];
        for (ty, expected) in cases {
            assert_eq!(primitive(ty), expected, "{ty:?}");
        }
    }
}
