//! The rewrite of one core module of a component (see the parent module for
//! the whole scheme): journal every write to the component's memory,
//! shadow every mutable global and defined table, journal what the host
//! writes through `realloc` and at the return pointers of lowered imports,
//! and add `hangar_commit` / `hangar_reset`.

use anyhow::{Result, bail};
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    BlockType, EntityType, ExportKind, Function, Instruction, MemArg, MemoryType, ValType,
};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

use super::Journal;
use super::writes::{Journaling, Scratch};

pub const MAP_NAME: &str = "hangar:map";
pub const JOURNAL_NAME: &str = "hangar:journal";
/// Memory indices inside a journaling module (the component's memory is 0).
pub const MAP: u32 = 1;
pub const JOURNAL: u32 = 2;
/// A map byte's mark: the block was written since the last reset (and the
/// journal has a copy of its committed bytes).
const JOURNALED: i32 = 1;
pub const COMMIT_EXPORT: &str = "hangar_commit";
pub const RESET_EXPORT: &str = "hangar_reset";

/// How a core module relates to the component's memory.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// Neither defines nor imports a memory.
    None,
    /// Defines the memory: also defines the map and the journal.
    Owner,
    /// Imports the memory from the instance named here; imports the map
    /// and journal from it too.
    Importer(String),
}

/// What the rewrite needs to know about a module, from a first pass.
#[derive(Clone, Debug)]
pub struct Facts {
    pub role: Role,
    /// (params, results) count of each type, `None` for non-function types.
    func_types: Vec<Option<(u32, u32)>>,
    /// (module, name, type) of each imported function, in index order.
    pub imported_funcs: Vec<(String, String, u32)>,
    /// Type of each defined function, in code order.
    defined_funcs: Vec<u32>,
    imported_globals: u32,
    /// (index, type) of every defined mutable global.
    mutable_globals: Vec<(u32, ValType)>,
    defined_globals: u32,
    has_globals_section: bool,
    imported_tables: u32,
    defined_tables: Vec<wasmparser::TableType>,
    /// (name, index) of every exported function.
    exported_funcs: Vec<(String, u32)>,
    has_exports: bool,
}

impl Facts {
    /// Whether the module writes the memory (and so gets journal functions).
    pub fn journals(&self) -> bool {
        self.role != Role::None
    }

    /// Whether the module has state to commit and reset.
    pub fn resets(&self) -> bool {
        self.role == Role::Owner
            || !self.mutable_globals.is_empty()
            || !self.defined_tables.is_empty()
    }

    /// The (params, results) count of imported function `index`.
    pub fn import_shape(&self, index: usize) -> Option<(u32, u32)> {
        let (_, _, ty) = self.imported_funcs.get(index)?;
        *self.func_types.get(*ty as usize)?
    }

    /// The index of the function exported as `name`.
    pub fn exported_func(&self, name: &str) -> Option<u32> {
        self.exported_funcs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
    }

    fn func_type(&self, index: u32) -> Option<u32> {
        let imported = self.imported_funcs.len() as u32;
        if index < imported {
            Some(self.imported_funcs[index as usize].2)
        } else {
            self.defined_funcs.get((index - imported) as usize).copied()
        }
    }
}

pub fn facts(bytes: &[u8]) -> Result<Facts> {
    let mut facts = Facts {
        role: Role::None,
        func_types: Vec::new(),
        imported_funcs: Vec::new(),
        defined_funcs: Vec::new(),
        imported_globals: 0,
        mutable_globals: Vec::new(),
        defined_globals: 0,
        has_globals_section: false,
        imported_tables: 0,
        defined_tables: Vec::new(),
        exported_funcs: Vec::new(),
        has_exports: false,
    };
    let mut imported_memory = None;
    let mut imported_memories = 0;
    let mut defined_memories = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group?.into_types() {
                        facts.func_types.push(match ty.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                Some((f.params().len() as u32, f.results().len() as u32))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    match import.ty {
                        TypeRef::Func(ty) => facts.imported_funcs.push((
                            import.module.to_string(),
                            import.name.to_string(),
                            ty,
                        )),
                        TypeRef::Global(_) => facts.imported_globals += 1,
                        TypeRef::Table(_) => facts.imported_tables += 1,
                        TypeRef::Memory(ty) => {
                            check_memory(&ty)?;
                            imported_memories += 1;
                            imported_memory = Some(import.module.to_string());
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    check_memory(&memory?)?;
                    defined_memories += 1;
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table?;
                    if table.ty.table64 || table.ty.shared || !table.ty.element_type.is_nullable() {
                        bail!(
                            "a table of type {:?}: only 32-bit tables of nullable references \
                             can be reset",
                            table.ty
                        );
                    }
                    facts.defined_tables.push(table.ty);
                }
            }
            Payload::GlobalSection(reader) => {
                facts.has_globals_section = true;
                for global in reader {
                    let global = global?;
                    if global.ty.mutable {
                        let ty = match global.ty.content_type {
                            wasmparser::ValType::I32 => ValType::I32,
                            wasmparser::ValType::I64 => ValType::I64,
                            wasmparser::ValType::F32 => ValType::F32,
                            wasmparser::ValType::F64 => ValType::F64,
                            other => bail!("a mutable global of type {other:?}"),
                        };
                        facts
                            .mutable_globals
                            .push((facts.imported_globals + facts.defined_globals, ty));
                    }
                    facts.defined_globals += 1;
                }
            }
            Payload::ExportSection(reader) => {
                facts.has_exports = true;
                for export in reader {
                    let export = export?;
                    if export.kind == ExternalKind::Func {
                        facts
                            .exported_funcs
                            .push((export.name.to_string(), export.index));
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    facts.defined_funcs.push(ty?);
                }
            }
            _ => {}
        }
    }
    facts.role = match (imported_memories, defined_memories) {
        (0, 0) => Role::None,
        (0, 1) => Role::Owner,
        (1, 0) => Role::Importer(imported_memory.unwrap_or_default()),
        (i, d) => bail!("a core module with {i} imported and {d} defined memories"),
    };
    Ok(facts)
}

fn check_memory(ty: &wasmparser::MemoryType) -> Result<()> {
    if ty.memory64 || ty.shared || ty.page_size_log2.is_some() {
        bail!("a memory of type {ty:?}: only 32-bit, unshared memories with 64 KiB pages");
    }
    Ok(())
}

/// What the component says must be wrapped in one module.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// (imported function index, bytes the host writes at its return
    /// pointer, the last parameter).
    pub return_areas: Vec<(u32, u32)>,
    /// Exported functions the canonical ABI calls as `realloc`.
    pub reallocs: Vec<String>,
}

/// Rewrites one module; returns how many writes it journals.
pub fn rewrite(
    facts: Facts,
    plan: Plan,
    journal: Journal,
    parser: Parser,
    bytes: &[u8],
) -> Result<(wasm_encoder::Module, usize)> {
    let wraps = !plan.return_areas.is_empty() || !plan.reallocs.is_empty();
    if wraps && !facts.journals() {
        bail!("a module that does not use the memory is named as writing it");
    }
    if facts.resets() && !facts.has_exports {
        bail!("a core module with state to reset but no exports");
    }
    let mut realloc_targets = Vec::new();
    for name in &plan.reallocs {
        let Some(index) = facts.exported_func(name) else {
            bail!("realloc {name:?} is not an exported function");
        };
        if facts
            .func_type(index)
            .and_then(|ty| facts.func_types.get(ty as usize).copied().flatten())
            != Some((4, 1))
        {
            bail!("realloc {name:?} does not have the type (i32, i32, i32, i32) -> i32");
        }
        realloc_targets.push(index);
    }
    let mut module = Module {
        facts,
        plan,
        realloc_targets,
        journal,
        next_function: 0,
        writes: 0,
        globals_added: false,
    };
    let mut out = wasm_encoder::Module::new();
    reencode::utils::parse_core_module(&mut module, &mut out, parser, bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((out, module.writes))
}

struct Module {
    facts: Facts,
    plan: Plan,
    /// Index of the function behind each of `plan.reallocs`.
    realloc_targets: Vec<u32>,
    journal: Journal,
    next_function: usize,
    writes: usize,
    /// Whether the added globals have been written (they go once).
    globals_added: bool,
}

fn word32(memory_index: u32) -> MemArg {
    MemArg {
        offset: 0,
        align: 2,
        memory_index,
    }
}

fn byte(memory_index: u32) -> MemArg {
    MemArg {
        offset: 0,
        align: 0,
        memory_index,
    }
}

impl Module {
    // Added types, after the module's own.
    fn type_block(&self) -> u32 {
        self.facts.func_types.len() as u32
    }
    fn type_range(&self) -> u32 {
        self.type_block() + 1
    }
    fn type_void(&self) -> u32 {
        self.type_block() + 2
    }
    fn type_status(&self) -> u32 {
        self.type_block() + 3
    }
    fn type_grow(&self) -> u32 {
        self.type_block() + 4
    }

    // Added functions, after the module's own: journal_block, journal_range,
    // grow, one wrapper per return area, one per realloc, reset, commit.
    fn first_added(&self) -> u32 {
        (self.facts.imported_funcs.len() + self.facts.defined_funcs.len()) as u32
    }
    fn func_block(&self) -> u32 {
        self.first_added()
    }
    fn func_range(&self) -> u32 {
        self.first_added() + 1
    }
    fn func_grow(&self) -> u32 {
        self.first_added() + 2
    }
    fn first_wrapper(&self) -> u32 {
        self.first_added() + if self.facts.journals() { 3 } else { 0 }
    }
    /// Where in the map the memory's virtual size lives, as pages + 1 (0:
    /// not set yet, the real size counts).
    fn virtual_pages_at(&self) -> i32 {
        (self.journal.map_pages * 65536) as i32
    }
    /// Where in the map the number of journaled blocks lives.
    fn listed_at(&self) -> i32 {
        self.virtual_pages_at() + 4
    }
    /// Where in the map the number of blocks kept in the journal lives.
    fn kept_at(&self) -> i32 {
        self.virtual_pages_at() + 8
    }
    /// Where in the map the list of blocks written since the last reset
    /// starts (block numbers as i32, in the order they were first written),
    /// so a reset visits only the blocks a call wrote instead of scanning
    /// the whole map.
    fn list_at(&self) -> u64 {
        (self.journal.map_pages + 1) * 65536
    }
    /// Where in the map each block's place in the journal starts (one i32
    /// per block: place + 1, or 0 when the journal has no copy of it yet).
    fn places_at(&self) -> u64 {
        (self.journal.map_pages * 5 + 1) * 65536
    }
    /// Where in the map the block kept at each place of the journal starts
    /// (one i32 per place), so a commit can forget exactly the copies it
    /// made stale.
    fn keepers_at(&self) -> u64 {
        (self.journal.map_pages * 9 + 1) * 65536
    }
    fn first_realloc(&self) -> u32 {
        self.first_wrapper() + self.plan.return_areas.len() as u32
    }
    fn func_reset(&self) -> u32 {
        self.first_realloc() + self.plan.reallocs.len() as u32
    }
    fn func_commit(&self) -> u32 {
        self.func_reset() + 1
    }

    // Added globals, after the module's own: one shadow per mutable global,
    // then (the memory's owner) the memory size at commit.
    fn shadow_global(&self, k: usize) -> u32 {
        self.facts.imported_globals + self.facts.defined_globals + k as u32
    }
    fn committed_pages(&self) -> u32 {
        self.shadow_global(self.facts.mutable_globals.len())
    }
    fn table(&self, k: usize) -> u32 {
        self.facts.imported_tables + k as u32
    }
    fn shadow_table(&self, k: usize) -> u32 {
        self.table(self.facts.defined_tables.len()) + k as u32
    }

    /// The shadows of the mutable globals, then the owner's memory size at
    /// the commit.
    fn add_globals(&mut self, globals: &mut wasm_encoder::GlobalSection) {
        self.globals_added = true;
        let mut added: Vec<ValType> = self.facts.mutable_globals.iter().map(|g| g.1).collect();
        if self.owner() {
            added.push(ValType::I32);
        }
        for ty in added {
            let init = match ty {
                ValType::I64 => wasm_encoder::ConstExpr::i64_const(0),
                ValType::F32 => wasm_encoder::ConstExpr::f32_const(0.0.into()),
                ValType::F64 => wasm_encoder::ConstExpr::f64_const(0.0.into()),
                _ => wasm_encoder::ConstExpr::i32_const(0),
            };
            let ty = wasm_encoder::GlobalType {
                val_type: ty,
                mutable: true,
                shared: false,
            };
            globals.global(ty, &init);
        }
    }

    fn owner(&self) -> bool {
        self.facts.role == Role::Owner
    }

    /// The map, one page for the virtual size, the list's length and the
    /// journal's, then three arrays of four bytes per block of the map: the
    /// list of blocks written since the last reset, each block's place in
    /// the journal, and the block at each place.
    fn map_type(&self) -> MemoryType {
        let pages = self.journal.map_pages * 13 + 1;
        MemoryType {
            minimum: pages,
            maximum: Some(pages),
            memory64: false,
            shared: false,
            page_size_log2: None,
        }
    }

    /// Copies one block from `src` at the address in local `from` to
    /// `dst` at the address in local `to`, sixteen bytes (one `v128`) at a time in
    /// straight-line code (for 256 bytes the engine's call behind
    /// `memory.copy` costs more than the copy).
    fn copy_block(&self, f: &mut Function, (src, from): (u32, u32), (dst, to): (u32, u32)) {
        use Instruction as I;
        for word in 0..(1u64 << self.journal.block_shift) / 16 {
            let at = |memory_index| MemArg {
                offset: word * 16,
                align: 4,
                memory_index,
            };
            f.instruction(&I::LocalGet(to));
            f.instruction(&I::LocalGet(from));
            f.instruction(&I::V128Load(at(src)));
            f.instruction(&I::V128Store(at(dst)));
        }
    }

    /// `journal_block(b)`: mark block b in the map and add it to the
    /// list of blocks to put back at the next reset; if the journal has no
    /// copy of b yet, copy it to the next free place (growing the journal
    /// when full). Every call starts from the committed memory, so a copy
    /// made in one call is still b's committed bytes in the next: a block
    /// that every call writes is copied once per commit and only copied
    /// back at each reset. The journal holds at most one copy of each block
    /// written since the commit, packed in the order they were first
    /// written, so it stays in the cache from one call to the next.
    fn journal_block_body(&self) -> Function {
        use Instruction as I;
        let shift = self.journal.block_shift as i32;
        let per_page = 16 - shift;
        // locals: 0 b, 1 blocks listed before this one, then the places
        // kept before this one, 2 b's address, 3 its place in the journal
        let mut f = Function::new([(3, ValType::I32)]);
        f.instruction(&I::I32Const(self.listed_at()));
        f.instruction(&I::I32Load(word32(MAP)));
        f.instruction(&I::LocalSet(1));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(JOURNALED));
        f.instruction(&I::I32Store8(byte(MAP)));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(2));
        f.instruction(&I::I32Shl);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Store(self.list_entry()));
        f.instruction(&I::I32Const(self.listed_at()));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Store(word32(MAP)));
        // A copy of b in the journal already: nothing to copy.
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(2));
        f.instruction(&I::I32Shl);
        f.instruction(&I::I32Load(self.array_entry(self.places_at())));
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::Return);
        f.instruction(&I::End);
        f.instruction(&I::I32Const(self.kept_at()));
        f.instruction(&I::I32Load(word32(MAP)));
        f.instruction(&I::LocalSet(1));
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::MemorySize(JOURNAL));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(per_page));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::I32GtU);
        f.instruction(&I::BrIf(0));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(per_page));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::MemorySize(JOURNAL));
        f.instruction(&I::I32Sub);
        f.instruction(&I::MemoryGrow(JOURNAL));
        f.instruction(&I::I32Const(-1));
        f.instruction(&I::I32Eq);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::Unreachable);
        f.instruction(&I::End);
        f.instruction(&I::End);
        shift_left(&mut f, 0, shift, 2);
        shift_left(&mut f, 1, shift, 3);
        self.copy_block(&mut f, (0, 2), (JOURNAL, 3));
        // places[b] = kept + 1; keepers[kept] = b; kept += 1
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(2));
        f.instruction(&I::I32Shl);
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Store(self.array_entry(self.places_at())));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(2));
        f.instruction(&I::I32Shl);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Store(self.array_entry(self.keepers_at())));
        f.instruction(&I::I32Const(self.kept_at()));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Store(word32(MAP)));
        f.instruction(&I::End);
        f
    }

    fn list_entry(&self) -> MemArg {
        self.array_entry(self.list_at())
    }

    /// An i32 of one of the map's arrays, at a byte offset given on the stack.
    fn array_entry(&self, at: u64) -> MemArg {
        MemArg {
            offset: at,
            align: 2,
            memory_index: MAP,
        }
    }

    /// `journal_range(addr, len)`: journal every block of it not yet journaled.
    fn journal_range_body(&self) -> Function {
        use Instruction as I;
        let shift = self.journal.block_shift as i32;
        // locals: 0 addr, 1 len, 2 block, 3 last block
        let mut f = Function::new([(2, ValType::I32)]);
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Eqz);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::Return);
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(shift));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::LocalSet(2));
        // The last byte, computed in 64 bits so a range past 4 GiB cannot
        // wrap around to a small address (it traps at the map instead).
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I64ExtendI32U);
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I64ExtendI32U);
        f.instruction(&I::I64Add);
        f.instruction(&I::I64Const(1));
        f.instruction(&I::I64Sub);
        f.instruction(&I::I64Const(shift as i64));
        f.instruction(&I::I64ShrU);
        f.instruction(&I::I32WrapI64);
        f.instruction(&I::LocalSet(3));
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::Loop(BlockType::Empty));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::I32Load8U(byte(MAP)));
        f.instruction(&I::I32Eqz);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::Call(self.func_block()));
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::LocalGet(3));
        f.instruction(&I::I32GeU);
        f.instruction(&I::BrIf(1));
        bump(&mut f, 2, 1);
        f.instruction(&I::Br(0));
        f.instruction(&I::End);
        f.instruction(&I::End);
        f.instruction(&I::End);
        f
    }

    /// `grow(n) -> old`: `memory.grow` on the virtual size. The memory only
    /// really grows past its largest size so far; below that, the pages are
    /// already there and zero (a reset put every byte written above the
    /// committed size back to zero), just as fresh pages would be.
    fn grow_body(&self) -> Function {
        use Instruction as I;
        // locals: 0 n, 1 old, 2 new
        let mut f = Function::new([(2, ValType::I32)]);
        push_virtual_size(&mut f, self.virtual_pages_at(), 1);
        f.instruction(&I::LocalSet(1));
        // More than 4 GiB in all: fails, as memory.grow does.
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I64ExtendI32U);
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I64ExtendI32U);
        f.instruction(&I::I64Add);
        f.instruction(&I::I64Const(65536));
        f.instruction(&I::I64GtU);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::I32Const(-1));
        f.instruction(&I::Return);
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::LocalTee(2));
        f.instruction(&I::MemorySize(0));
        f.instruction(&I::I32GtU);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::MemorySize(0));
        f.instruction(&I::I32Sub);
        f.instruction(&I::MemoryGrow(0));
        f.instruction(&I::I32Const(-1));
        f.instruction(&I::I32Eq);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::I32Const(-1));
        f.instruction(&I::Return);
        f.instruction(&I::End);
        f.instruction(&I::End);
        f.instruction(&I::I32Const(self.virtual_pages_at()));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Store(word32(MAP)));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::End);
        f
    }

    /// Sets the virtual size to the value of global `pages`, or to the
    /// real size when `pages` is `None`.
    fn set_virtual_size(&self, f: &mut Function, pages: Option<u32>) {
        use Instruction as I;
        f.instruction(&I::I32Const(self.virtual_pages_at()));
        match pages {
            Some(global) => f.instruction(&I::GlobalGet(global)),
            None => f.instruction(&I::MemorySize(0)),
        };
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Store(word32(MAP)));
    }

    /// A lowered import with a return pointer (its last parameter): journal
    /// the `size` bytes there, then call the import, which writes them.
    fn return_area_body(&self, import: u32, size: u32) -> Result<Function> {
        use Instruction as I;
        let Some((params, _)) = self.facts.import_shape(import as usize) else {
            bail!("import {import} is not a function");
        };
        let mut f = Function::new([]);
        f.instruction(&I::LocalGet(params - 1));
        f.instruction(&I::I32Const(size as i32));
        f.instruction(&I::Call(self.func_range()));
        for p in 0..params {
            f.instruction(&I::LocalGet(p));
        }
        f.instruction(&I::Call(import));
        f.instruction(&I::End);
        Ok(f)
    }

    /// `realloc(old, old_size, align, size)`: allocate, then journal the
    /// `size` bytes the host is about to write there.
    fn realloc_body(&self, target: u32) -> Function {
        use Instruction as I;
        let mut f = Function::new([(1, ValType::I32)]);
        for p in 0..4 {
            f.instruction(&I::LocalGet(p));
        }
        f.instruction(&I::Call(target));
        f.instruction(&I::LocalTee(4));
        f.instruction(&I::LocalGet(3));
        f.instruction(&I::Call(self.func_range()));
        f.instruction(&I::LocalGet(4));
        f.instruction(&I::End);
        f
    }

    /// `reset() -> status`: put every journaled block, global and table
    /// back, and the memory's virtual size. The status is 1 when a table
    /// grew since the commit: that cannot be undone, so the instance must
    /// not be reused. (The memory's growth can: its size is virtual.)
    fn reset_body(&self) -> Function {
        use Instruction as I;
        // locals: 0-2 and 4 for `restore_memory`, 3 status
        let status = 3;
        let mut f = Function::new([(5, ValType::I32)]);
        for (k, (global, _)) in self.facts.mutable_globals.iter().enumerate() {
            f.instruction(&I::GlobalGet(self.shadow_global(k)));
            f.instruction(&I::GlobalSet(*global));
        }
        for k in 0..self.facts.defined_tables.len() {
            let (table, shadow) = (self.table(k), self.shadow_table(k));
            f.instruction(&I::TableSize(table));
            f.instruction(&I::TableSize(shadow));
            f.instruction(&I::I32Ne);
            f.instruction(&I::If(BlockType::Empty));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::LocalSet(status));
            f.instruction(&I::Else);
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::TableSize(shadow));
            f.instruction(&I::TableCopy {
                src_table: shadow,
                dst_table: table,
            });
            f.instruction(&I::End);
        }
        if self.owner() {
            self.restore_memory(&mut f);
            self.set_virtual_size(&mut f, Some(self.committed_pages()));
        }
        f.instruction(&I::LocalGet(status));
        f.instruction(&I::End);
        f
    }

    /// Copies every listed block back from its place in the journal,
    /// unmarks it in the map, and empties the list: the work is
    /// proportional to what the call wrote, not to the size of the memory.
    fn restore_memory(&self, f: &mut Function) {
        use Instruction as I;
        // locals: 0 byte offset into the list, 1 its end, 2 the block's
        // address, 4 its place in the journal
        let shift = self.journal.block_shift as i32;
        walk_entries(f, self.listed_at(), |f| {
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Load(self.list_entry()));
            f.instruction(&I::LocalTee(2));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Store8(byte(MAP)));
            // The block's place in the journal: places[b] - 1.
            f.instruction(&I::LocalGet(2));
            f.instruction(&I::I32Const(2));
            f.instruction(&I::I32Shl);
            f.instruction(&I::I32Load(self.array_entry(self.places_at())));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Sub);
            f.instruction(&I::I32Const(shift));
            f.instruction(&I::I32Shl);
            f.instruction(&I::LocalSet(4));
            shift_left(f, 2, shift, 2);
            self.copy_block(f, (JOURNAL, 4), (0, 2));
        });
        f.instruction(&I::I32Const(self.listed_at()));
        f.instruction(&I::I32Const(0));
        f.instruction(&I::I32Store(word32(MAP)));
    }

    /// Clears `places[b]` of every block the journal keeps a copy of, and
    /// empties the journal (part of `commit`; locals 0 and 1 are free).
    fn forget_kept(&self, f: &mut Function) {
        use Instruction as I;
        walk_entries(f, self.kept_at(), |f| {
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Load(self.array_entry(self.keepers_at())));
            f.instruction(&I::I32Const(2));
            f.instruction(&I::I32Shl);
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Store(self.array_entry(self.places_at())));
        });
        f.instruction(&I::I32Const(self.kept_at()));
        f.instruction(&I::I32Const(0));
        f.instruction(&I::I32Store(word32(MAP)));
    }

    /// `commit()`: the memory, globals and tables as they are now are what
    /// `reset` comes back to. The journal's copies are of the state before,
    /// so they are forgotten: each block's place is cleared through the
    /// list of kept blocks, which touches only the entries that were set.
    fn commit_body(&self) -> Result<Function> {
        use Instruction as I;
        // locals: 0 byte offset into the keepers, 1 its end
        let mut f = Function::new([(2, ValType::I32)]);
        for (k, (global, _)) in self.facts.mutable_globals.iter().enumerate() {
            f.instruction(&I::GlobalGet(*global));
            f.instruction(&I::GlobalSet(self.shadow_global(k)));
        }
        for (k, ty) in self.facts.defined_tables.iter().enumerate() {
            let (table, shadow) = (self.table(k), self.shadow_table(k));
            let heap_type = reencode::RoundtripReencoder
                .ref_type(ty.element_type)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .heap_type;
            f.instruction(&I::TableSize(shadow));
            f.instruction(&I::TableSize(table));
            f.instruction(&I::I32LtU);
            f.instruction(&I::If(BlockType::Empty));
            f.instruction(&I::RefNull(heap_type));
            f.instruction(&I::TableSize(table));
            f.instruction(&I::TableSize(shadow));
            f.instruction(&I::I32Sub);
            f.instruction(&I::TableGrow(shadow));
            f.instruction(&I::Drop);
            f.instruction(&I::End);
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::TableSize(table));
            f.instruction(&I::TableCopy {
                src_table: table,
                dst_table: shadow,
            });
        }
        if self.owner() {
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Const((self.journal.map_pages * 65536) as i32));
            f.instruction(&I::MemoryFill(MAP));
            f.instruction(&I::I32Const(self.listed_at()));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Store(word32(MAP)));
            self.forget_kept(&mut f);
            f.instruction(&I::MemorySize(0));
            f.instruction(&I::GlobalSet(self.committed_pages()));
            self.set_virtual_size(&mut f, None);
        }
        f.instruction(&I::End);
        Ok(f)
    }
}

impl Reencode for Module {
    type Error = anyhow::Error;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Self::Error>> {
        // Every use of a lowered import with a return area goes through its
        // wrapper (calls, references, tables, re-exports).
        Ok(
            match self.plan.return_areas.iter().position(|(i, _)| *i == func) {
                Some(k) => self.first_wrapper() + k as u32,
                None => func,
            },
        )
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_type_section(self, types, section)?;
        types.ty().function([ValType::I32], []);
        types.ty().function([ValType::I32, ValType::I32], []);
        types.ty().function([], []);
        types.ty().function([], [ValType::I32]);
        types.ty().function([ValType::I32], [ValType::I32]);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        if let Role::Importer(module) = &self.facts.role {
            let map = self.map_type();
            imports.import(module, MAP_NAME, EntityType::Memory(map));
            imports.import(module, JOURNAL_NAME, EntityType::Memory(journal_type()));
        }
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_function_section(self, functions, section)?;
        if self.facts.journals() {
            functions.function(self.type_block());
            functions.function(self.type_range());
            functions.function(self.type_grow());
        }
        for (import, _) in &self.plan.return_areas {
            functions.function(self.facts.imported_funcs[*import as usize].2);
        }
        for target in &self.realloc_targets {
            let ty = self.facts.func_type(*target).unwrap_or_default();
            functions.function(ty);
        }
        if self.facts.resets() {
            functions.function(self.type_status());
            functions.function(self.type_void());
        }
        Ok(())
    }

    fn parse_table_section(
        &mut self,
        tables: &mut wasm_encoder::TableSection,
        section: wasmparser::TableSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_table_section(self, tables, section)?;
        for ty in self.facts.defined_tables.clone() {
            let element_type = self.ref_type(ty.element_type)?;
            tables.table(wasm_encoder::TableType {
                element_type,
                table64: false,
                minimum: 0,
                maximum: None,
                shared: false,
            });
        }
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_global_section(self, globals, section)?;
        self.add_globals(globals);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<wasm_encoder::SectionId>,
        before: Option<wasm_encoder::SectionId>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        use wasm_encoder::SectionId as S;
        // A module without globals of its own still needs the owner's one:
        // a global section goes where it would have been.
        let after_globals = matches!(
            before,
            Some(S::Export | S::Start | S::Element | S::DataCount | S::Code | S::Data)
        );
        if after_globals && !self.facts.has_globals_section && self.owner() && !self.globals_added {
            let mut globals = wasm_encoder::GlobalSection::new();
            self.add_globals(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_memory_section(
        &mut self,
        memories: &mut wasm_encoder::MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_memory_section(self, memories, section)?;
        if self.owner() {
            memories.memory(self.map_type());
            memories.memory(journal_type());
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        for export in section {
            let export = export?;
            let kind = self.export_kind(export.kind)?;
            let realloc = self.plan.reallocs.iter().position(|n| n == export.name);
            let index = match (export.kind, realloc) {
                (ExternalKind::Func, Some(k)) => self.first_realloc() + k as u32,
                _ => self.external_index(export.kind, export.index)?,
            };
            exports.export(export.name, kind, index);
        }
        if self.owner() {
            exports.export(MAP_NAME, ExportKind::Memory, MAP);
            exports.export(JOURNAL_NAME, ExportKind::Memory, JOURNAL);
        }
        if self.facts.resets() {
            exports.export(RESET_EXPORT, ExportKind::Func, self.func_reset());
            exports.export(COMMIT_EXPORT, ExportKind::Func, self.func_commit());
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_code_section(self, code, section)?;
        if self.facts.journals() {
            code.function(&self.journal_block_body());
            code.function(&self.journal_range_body());
            code.function(&self.grow_body());
        }
        for (import, size) in self.plan.return_areas.clone() {
            code.function(
                &self
                    .return_area_body(import, size)
                    .map_err(reencode::Error::UserError)?,
            );
        }
        for target in self.realloc_targets.clone() {
            code.function(&self.realloc_body(target));
        }
        if self.facts.resets() {
            code.function(&self.reset_body());
            code.function(&self.commit_body().map_err(reencode::Error::UserError)?);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let ty = self.facts.defined_funcs[self.next_function];
        self.next_function += 1;
        if !self.facts.journals() {
            return reencode::utils::parse_function_body(self, code, func);
        }
        let params = self.facts.func_types[ty as usize].map_or(0, |(p, _)| p);
        let journaling = Hooks {
            func_block: self.func_block(),
            func_range: self.func_range(),
            func_grow: self.func_grow(),
            shift: self.journal.block_shift as i32,
            virtual_pages_at: self.virtual_pages_at(),
        };
        let (f, writes) = super::writes::instrument(self, &func, params, &journaling)?;
        self.writes += writes;
        code.function(&f);
        Ok(())
    }
}

fn journal_type() -> MemoryType {
    MemoryType {
        minimum: 0,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
}

/// The code put before every write, and in place of `memory.size` and
/// `memory.grow`, in a journaling module's own functions.
struct Hooks {
    func_block: u32,
    func_range: u32,
    func_grow: u32,
    shift: i32,
    virtual_pages_at: i32,
}

impl Journaling for Hooks {
    /// One map load and one branch per store. A one-byte store checks its
    /// block's mark. A store of 2-8 bytes checks its first block's mark and,
    /// with arithmetic instead of a second load, whether it runs into the
    /// next block; either sends it to `journal_range`, which journals what
    /// is missing (a store across a block boundary always goes there).
    fn mark_store(&self, f: &mut Function, s: &Scratch, offset: u64, size: u64) {
        use Instruction as I;
        // The effective address, in 32 bits as the store computes it (when
        // it wraps, the store traps anyway).
        f.instruction(&I::LocalGet(s.a));
        if offset != 0 {
            f.instruction(&I::I32Const(offset as u32 as i32));
            f.instruction(&I::I32Add);
        }
        if size == 1 {
            f.instruction(&I::I32Const(self.shift));
            f.instruction(&I::I32ShrU);
            f.instruction(&I::LocalTee(s.block));
            f.instruction(&I::I32Load8U(byte(MAP)));
            f.instruction(&I::I32Eqz);
            f.instruction(&I::If(BlockType::Empty));
            f.instruction(&I::LocalGet(s.block));
            f.instruction(&I::Call(self.func_block));
            f.instruction(&I::End);
            return;
        }
        f.instruction(&I::LocalTee(s.block));
        f.instruction(&I::I32Const(self.shift));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::I32Load8U(byte(MAP)));
        f.instruction(&I::I32Eqz);
        f.instruction(&I::LocalGet(s.block));
        f.instruction(&I::I32Const((1 << self.shift) - 1));
        f.instruction(&I::I32And);
        f.instruction(&I::I32Const((1 << self.shift) - size as i32));
        f.instruction(&I::I32GtU);
        f.instruction(&I::I32Or);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(s.block));
        f.instruction(&I::I32Const(size as i32));
        f.instruction(&I::Call(self.func_range));
        f.instruction(&I::End);
    }

    fn mark_bulk(&self, f: &mut Function, s: &Scratch) {
        f.instruction(&Instruction::LocalGet(s.a));
        f.instruction(&Instruction::LocalGet(s.c));
        f.instruction(&Instruction::Call(self.func_range));
    }

    fn memory_size(&self, f: &mut Function, s: &Scratch) {
        push_virtual_size(f, self.virtual_pages_at, s.block);
    }

    fn memory_grow(&self, f: &mut Function) {
        f.instruction(&Instruction::Call(self.func_grow));
    }
}

/// Leaves the memory's virtual size in pages on the stack: the value kept
/// at `at` in the map, or the real size while none is kept (before the
/// commit). Uses local `scratch`.
fn push_virtual_size(f: &mut Function, at: i32, scratch: u32) {
    use Instruction as I;
    f.instruction(&I::I32Const(at));
    f.instruction(&I::I32Load(word32(MAP)));
    f.instruction(&I::LocalTee(scratch));
    f.instruction(&I::If(BlockType::Result(ValType::I32)));
    f.instruction(&I::LocalGet(scratch));
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32Sub);
    f.instruction(&I::Else);
    f.instruction(&I::MemorySize(0));
    f.instruction(&I::End);
}

/// `to = from << by` (locals).
fn shift_left(f: &mut Function, from: u32, by: i32, to: u32) {
    f.instruction(&Instruction::LocalGet(from));
    f.instruction(&Instruction::I32Const(by));
    f.instruction(&Instruction::I32Shl);
    f.instruction(&Instruction::LocalSet(to));
}

/// A loop over the first n entries of one of the map's i32 arrays, where n
/// is the count stored at `count_at`: local 0 goes from 0 to 4n in steps
/// of 4 (the entry's byte offset, which `body` reads), local 1 holds 4n.
fn walk_entries(f: &mut Function, count_at: i32, body: impl FnOnce(&mut Function)) {
    use Instruction as I;
    f.instruction(&I::I32Const(count_at));
    f.instruction(&I::I32Load(word32(MAP)));
    f.instruction(&I::I32Const(2));
    f.instruction(&I::I32Shl);
    f.instruction(&I::LocalSet(1));
    f.instruction(&I::Block(BlockType::Empty));
    f.instruction(&I::Loop(BlockType::Empty));
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::LocalGet(1));
    f.instruction(&I::I32GeU);
    f.instruction(&I::BrIf(1));
    body(f);
    bump(f, 0, 4);
    f.instruction(&I::Br(0));
    f.instruction(&I::End);
    f.instruction(&I::End);
}

/// `local += by`.
fn bump(f: &mut Function, local: u32, by: i32) {
    f.instruction(&Instruction::LocalGet(local));
    f.instruction(&Instruction::I32Const(by));
    f.instruction(&Instruction::I32Add);
    f.instruction(&Instruction::LocalSet(local));
}
