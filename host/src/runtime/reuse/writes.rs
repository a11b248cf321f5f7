//! The walk over a function body that finds every instruction writing the
//! component's memory and puts the journaling code in front of it, with
//! the instruction's operands saved in scratch locals so that code can read
//! the address.
//!
//! Soundness rests on this list: a write it does not see is a write the
//! reset cannot undo. So every store, `memory.fill`, `memory.copy` and
//! `memory.init` is journaled, and every other kind of write (SIMD lane
//! stores, atomics) is refused rather than let through.

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
    /// Free for the journaling code.
    pub block: u32,
    v_i64: u32,
    v_f32: u32,
    v_f64: u32,
}

/// The code the walk puts in: what journals a write, and what stands in
/// for `memory.size` and `memory.grow` (the memory's size is virtual, so
/// that a reset can take a growth back).
pub trait Journaling {
    /// Before a store into memory 0 of `size` bytes at `scratch.a + offset`.
    fn mark_store(&self, f: &mut Function, scratch: &Scratch, offset: u64, size: u64);
    /// Before a bulk write of `scratch.c` bytes at `scratch.a`.
    fn mark_bulk(&self, f: &mut Function, scratch: &Scratch);
    /// Instead of `memory.size`: leaves the size in pages on the stack.
    fn memory_size(&self, f: &mut Function, scratch: &Scratch);
    /// Instead of `memory.grow`: takes the pages to add, leaves the old
    /// size (or -1).
    fn memory_grow(&self, f: &mut Function);
}

/// Rewrites `func` (whose type has `params` parameters), putting the code
/// of `journaling` before every write to memory 0 and in place of its
/// size and growth. Returns the function and the number of writes.
pub fn instrument<R: Reencode<Error = anyhow::Error> + ?Sized>(
    reencoder: &mut R,
    func: &wasmparser::FunctionBody<'_>,
    params: u32,
    journaling: &impl Journaling,
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
        block: count + 3,
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
                return Err(refused(format!("a store to memory {}", memarg.memory)));
            }
            writes += 1;
            f.instruction(&I::LocalSet(value));
            f.instruction(&I::LocalSet(scratch.a));
            journaling.mark_store(&mut f, &scratch, memarg.offset, size);
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
                journaling.mark_bulk(&mut f, &scratch);
                f.instruction(&I::LocalGet(scratch.a));
                f.instruction(&I::LocalGet(scratch.b));
                f.instruction(&I::LocalGet(scratch.c));
            }
            Operator::MemorySize { mem: 0 } => {
                journaling.memory_size(&mut f, &scratch);
                continue;
            }
            Operator::MemoryGrow { mem: 0 } => {
                journaling.memory_grow(&mut f);
                continue;
            }
            Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::V128Store { .. }
            | Operator::V128Store8Lane { .. }
            | Operator::V128Store16Lane { .. }
            | Operator::V128Store32Lane { .. }
            | Operator::V128Store64Lane { .. } => {
                return Err(refused(format!(
                    "a write the journal does not follow: {op:?}"
                )));
            }
            _ => {}
        }
        f.instruction(&reencoder.instruction(op)?);
    }
    Ok((f, writes))
}

fn refused(why: String) -> reencode::Error<anyhow::Error> {
    reencode::Error::UserError(anyhow!(why))
}
