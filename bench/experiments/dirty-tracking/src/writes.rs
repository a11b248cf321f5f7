//! The one walk over a function body that both rewrites share: it finds
//! every instruction that writes memory 0 and lets the caller put its
//! marking code in front of it, with the instruction's operands saved in
//! scratch locals so the marking code can read the address.

use anyhow::anyhow;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{Function, Instruction, ValType};
use wasmparser::Operator;

/// Scratch locals appended to every rewritten function.
pub struct Scratch {
    /// The write's address (destination of a bulk write).
    pub a: u32,
    /// An i32 value to store, or a bulk write's second operand.
    pub b: u32,
    /// A bulk write's length.
    pub c: u32,
    /// Free for the marking code.
    pub page: u32,
    v_i64: u32,
    v_f32: u32,
    v_f64: u32,
}

/// Rewrites `func` (whose type has `params` parameters): before each store
/// into memory 0, `mark_store(f, scratch, offset, size)` runs with the
/// address in `scratch.a`; before each `memory.fill` / `memory.copy` /
/// `memory.init` into memory 0, `mark_bulk(f, scratch)` runs with the
/// destination in `scratch.a` and the length in `scratch.c`. Returns the
/// function and the number of writes found. Writes it cannot follow
/// (SIMD and atomic stores, other memories) are errors.
pub fn instrument<R: Reencode<Error = anyhow::Error> + ?Sized>(
    reencoder: &mut R,
    func: &wasmparser::FunctionBody<'_>,
    params: u32,
    mark_store: impl Fn(&mut Function, &Scratch, u64, u64),
    mark_bulk: impl Fn(&mut Function, &Scratch),
) -> Result<(Function, usize), reencode::Error<anyhow::Error>> {
    use Instruction as I;
    let mut locals = Vec::new();
    let mut count = params;
    for pair in func.get_locals_reader()? {
        let (n, ty) = pair?;
        count += n;
        locals.push((n, reencoder.val_type(ty)?));
    }
    let scratch = Scratch {
        a: count,
        b: count + 1,
        c: count + 2,
        page: count + 3,
        v_i64: count + 4,
        v_f32: count + 5,
        v_f64: count + 6,
    };
    locals.push((4, ValType::I32));
    locals.push((1, ValType::I64));
    locals.push((1, ValType::F32));
    locals.push((1, ValType::F64));
    let mut f = Function::new(locals);
    let mut writes = 0;
    let mut reader = func.get_operators_reader()?;
    while !reader.eof() {
        let op = reader.read()?;
        let store = match &op {
            Operator::I32Store { memarg } => Some((memarg, scratch.b, 4)),
            Operator::I32Store8 { memarg } => Some((memarg, scratch.b, 1)),
            Operator::I32Store16 { memarg } => Some((memarg, scratch.b, 2)),
            Operator::I64Store { memarg } => Some((memarg, scratch.v_i64, 8)),
            Operator::I64Store8 { memarg } => Some((memarg, scratch.v_i64, 1)),
            Operator::I64Store16 { memarg } => Some((memarg, scratch.v_i64, 2)),
            Operator::I64Store32 { memarg } => Some((memarg, scratch.v_i64, 4)),
            Operator::F32Store { memarg } => Some((memarg, scratch.v_f32, 4)),
            Operator::F64Store { memarg } => Some((memarg, scratch.v_f64, 8)),
            _ => None,
        };
        if let Some((memarg, value, size)) = store {
            if memarg.memory != 0 {
                return Err(reencode::Error::UserError(anyhow!(
                    "a store to memory {}",
                    memarg.memory
                )));
            }
            writes += 1;
            f.instruction(&I::LocalSet(value));
            f.instruction(&I::LocalSet(scratch.a));
            mark_store(&mut f, &scratch, memarg.offset, size);
            f.instruction(&I::LocalGet(scratch.a));
            f.instruction(&I::LocalGet(value));
            f.instruction(&reencoder.instruction(op)?);
            continue;
        }
        match &op {
            Operator::MemoryFill { mem: 0 }
            | Operator::MemoryCopy { dst_mem: 0, .. }
            | Operator::MemoryInit { mem: 0, .. } => {
                writes += 1;
                f.instruction(&I::LocalSet(scratch.c));
                f.instruction(&I::LocalSet(scratch.b));
                f.instruction(&I::LocalSet(scratch.a));
                mark_bulk(&mut f, &scratch);
                f.instruction(&I::LocalGet(scratch.a));
                f.instruction(&I::LocalGet(scratch.b));
                f.instruction(&I::LocalGet(scratch.c));
            }
            Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::V128Store { .. }
            | Operator::I32AtomicStore { .. }
            | Operator::I64AtomicStore { .. } => {
                return Err(reencode::Error::UserError(anyhow!(
                    "unhandled write {op:?}"
                )));
            }
            _ => {}
        }
        f.instruction(&reencoder.instruction(op)?);
    }
    Ok((f, writes))
}
