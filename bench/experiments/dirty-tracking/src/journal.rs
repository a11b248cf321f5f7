//! `--journal` mode: a resettable component, to measure what a real reset
//! between reused calls costs (not only the tracking).
//!
//! The component's one memory gets two companions, defined beside it in the
//! module that defines it and imported by every module that writes it:
//!
//! - the *map*: one byte per block (4 KiB, or `BLOCK_SHIFT`), set once the
//!   block is journaled;
//! - the *journal*: at a block's first write after a commit, the block's
//!   bytes are copied there (same offset) before the write happens.
//!
//! Every module that owns the memory or defines mutable globals also gets
//! `hangar_commit` (the memory and globals as they are now are the state to
//! come back to; clears the map) and `hangar_reset` (copy every journaled
//! block back, clear the map, put the globals back), lifted as component
//! exports `hangar-commit-N` / `hangar-reset-N`: the host calls all commits
//! after instantiation and all resets after each call.
//!
//! NOT covered, so this is an experiment that measures the cost, not a safe
//! reset: tables; the writes wasmtime makes into guest memory itself
//! (canonical ABI arguments and results); component handle tables; and
//! components with more than one memory.

use anyhow::{Context, Result, bail};
use wasm_encoder::reencode::{self, Reencode, ReencodeComponent};
use wasm_encoder::{
    BlockType, ComponentExportKind, EntityType, ExportKind, Function, Instruction, MemArg,
    MemoryType, ValType,
};
use wasmparser::{Parser, Payload, TypeRef};

use crate::writes::Scratch;

/// log2 of the block size tracked and copied: 12 (4 KiB pages) unless
/// `BLOCK_SHIFT` says otherwise (e.g. 10 for 1 KiB blocks).
fn page_shift() -> i32 {
    std::env::var("BLOCK_SHIFT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| (6..=16).contains(v))
        .unwrap_or(12)
}
/// Map size in 64 KiB wasm pages: one byte per block of a 4 GiB memory.
fn map_wasm_pages() -> u64 {
    (1u64 << 32 >> page_shift()) / 65536
}
const MAP_NAME: &str = "hangar:map";
const JOURNAL_NAME: &str = "hangar:journal";
const MAP: u32 = 1;
const JOURNAL: u32 = 2;

fn map_type() -> MemoryType {
    MemoryType {
        minimum: map_wasm_pages(),
        maximum: Some(map_wasm_pages()),
        memory64: false,
        shared: false,
        page_size_log2: None,
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

fn byte(memory_index: u32) -> MemArg {
    MemArg {
        offset: 0,
        align: 0,
        memory_index,
    }
}

/// Copies the block whose number is in local `block` from memory `src` to
/// the same offset in memory `dst`.
fn copy_block(f: &mut Function, block: u32, src: u32, dst: u32) {
    for _ in 0..2 {
        f.instruction(&Instruction::LocalGet(block));
        f.instruction(&Instruction::I32Const(page_shift()));
        f.instruction(&Instruction::I32Shl);
    }
    f.instruction(&Instruction::I32Const(1 << page_shift()));
    f.instruction(&Instruction::MemoryCopy {
        src_mem: src,
        dst_mem: dst,
    });
}

/// How a core module relates to the component's memory.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Role {
    /// Neither defines nor imports a memory: copied as is.
    None,
    /// Defines memory 0: also defines the map and journal, and the
    /// commit/reset functions.
    Owner,
    /// Imports memory 0 under (module, name): imports the map and journal
    /// from the same module name.
    Importer(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub(crate) role: Role,
    types: u32,
    imported_funcs: u32,
    /// Parameter count of each defined function, in code order.
    pub(crate) param_counts: Vec<u32>,
    imported_globals: u32,
    /// (index, type) of every defined mutable global.
    mutable_globals: Vec<(u32, ValType)>,
    defined_globals: u32,
    has_exports: bool,
}

impl Facts {
    /// Whether the module gets journal functions (it writes the memory).
    fn journals(&self) -> bool {
        self.role != Role::None
    }
    /// Whether the module gets hangar_commit / hangar_reset.
    fn resets(&self) -> bool {
        self.role == Role::Owner || !self.mutable_globals.is_empty()
    }
}

pub(crate) fn facts(bytes: &[u8]) -> Result<Facts> {
    let mut type_params = Vec::new();
    let mut imported_funcs = 0;
    let mut param_counts = Vec::new();
    let mut imported_memory = None;
    let mut imported_memories = 0;
    let mut defined_memories = 0;
    let mut imported_globals = 0;
    let mut mutable_globals = Vec::new();
    let mut defined_globals = 0;
    let mut has_exports = false;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group?.into_types() {
                        type_params.push(match ty.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    match import.ty {
                        TypeRef::Func(_) => imported_funcs += 1,
                        TypeRef::Global(_) => imported_globals += 1,
                        TypeRef::Memory(_) => {
                            imported_memories += 1;
                            imported_memory = Some(import.module.to_string());
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(reader) => defined_memories += reader.count(),
            Payload::GlobalSection(reader) => {
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
                        mutable_globals.push((imported_globals + defined_globals, ty));
                    }
                    defined_globals += 1;
                }
            }
            Payload::ExportSection(_) => has_exports = true,
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    param_counts.push(type_params[ty? as usize]);
                }
            }
            _ => {}
        }
    }
    let role = match (imported_memories, defined_memories) {
        (0, 0) => Role::None,
        (0, 1) => Role::Owner,
        (1, 0) => Role::Importer(imported_memory.unwrap_or_default()),
        (i, d) => bail!("a module with {i} imported and {d} defined memories"),
    };
    Ok(Facts {
        role,
        types: type_params.len() as u32,
        imported_funcs,
        param_counts,
        imported_globals,
        mutable_globals,
        defined_globals,
        has_exports,
    })
}

/// Rewrites one core module.
struct Module {
    facts: Facts,
    next_function: usize,
    writes: usize,
}

impl Module {
    fn defined(&self) -> u32 {
        self.facts.param_counts.len() as u32
    }
    fn type_page(&self) -> u32 {
        self.facts.types
    }
    fn type_range(&self) -> u32 {
        self.facts.types + 1
    }
    fn type_void(&self) -> u32 {
        self.facts.types + 2
    }
    fn func_page(&self) -> u32 {
        self.facts.imported_funcs + self.defined()
    }
    fn func_range(&self) -> u32 {
        self.func_page() + 1
    }
    fn func_reset(&self) -> u32 {
        self.func_page() + if self.facts.journals() { 2 } else { 0 }
    }
    fn func_commit(&self) -> u32 {
        self.func_reset() + 1
    }
    /// Index of the shadow of the k-th mutable global.
    fn shadow(&self, k: usize) -> u32 {
        self.facts.imported_globals + self.facts.defined_globals + k as u32
    }
    fn owner(&self) -> bool {
        self.facts.role == Role::Owner
    }

    /// `journal_page(p)`: copy page p to the journal (growing it), mark it.
    fn journal_page_body() -> Function {
        let mut f = Function::new([]);
        use Instruction as I;
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::MemorySize(JOURNAL));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(16 - page_shift()));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::I32GtU);
        f.instruction(&I::BrIf(0));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(16 - page_shift()));
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
        copy_block(&mut f, 0, 0, JOURNAL);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Store8(byte(MAP)));
        f.instruction(&I::End);
        f
    }

    /// `journal_range(addr, len)`: journal every unjournaled page of it.
    fn journal_range_body(&self) -> Function {
        use Instruction as I;
        // locals: 0 addr, 1 len, 2 page, 3 last
        let mut f = Function::new([(2, ValType::I32)]);
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Eqz);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::Return);
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(page_shift()));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::LocalSet(2));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Sub);
        f.instruction(&I::I32Const(page_shift()));
        f.instruction(&I::I32ShrU);
        f.instruction(&I::LocalSet(3));
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::Loop(BlockType::Empty));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::I32Load8U(byte(MAP)));
        f.instruction(&I::I32Eqz);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::Call(self.func_page()));
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::LocalGet(3));
        f.instruction(&I::I32GeU);
        f.instruction(&I::BrIf(1));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::LocalSet(2));
        f.instruction(&I::Br(0));
        f.instruction(&I::End);
        f.instruction(&I::End);
        f.instruction(&I::End);
        f
    }

    /// `reset()`: copy every journaled page back and clear the map (the
    /// memory's owner); put every mutable global back.
    fn reset_body(&self) -> Function {
        use Instruction as I;
        // locals: 0 word (byte offset into the map, steps of 8), 1 end,
        // 2 block, 3 last block of the word
        let mut f = Function::new([(4, ValType::I32)]);
        for (k, (global, _)) in self.facts.mutable_globals.iter().enumerate() {
            f.instruction(&I::GlobalGet(self.shadow(k)));
            f.instruction(&I::GlobalSet(*global));
        }
        if !self.owner() {
            f.instruction(&I::End);
            return f;
        }
        // Blocks in memory 0, rounded up to whole 8-byte words of the map.
        f.instruction(&I::MemorySize(0));
        f.instruction(&I::I32Const(16 - page_shift()));
        f.instruction(&I::I32Shl);
        f.instruction(&I::I32Const(7));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Const(-8));
        f.instruction(&I::I32And);
        f.instruction(&I::LocalSet(1));
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::Loop(BlockType::Empty));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::I32GeU);
        f.instruction(&I::BrIf(1));
        // Eight map bytes at once: most words are all clean.
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I64Load(MemArg {
            offset: 0,
            align: 3,
            memory_index: MAP,
        }));
        f.instruction(&I::I64Eqz);
        f.instruction(&I::I32Eqz);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::LocalSet(2));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(8));
        f.instruction(&I::I32Add);
        f.instruction(&I::LocalSet(3));
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::Loop(BlockType::Empty));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::LocalGet(3));
        f.instruction(&I::I32GeU);
        f.instruction(&I::BrIf(1));
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::I32Load8U(byte(MAP)));
        f.instruction(&I::If(BlockType::Empty));
        copy_block(&mut f, 2, JOURNAL, 0);
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(2));
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Add);
        f.instruction(&I::LocalSet(2));
        f.instruction(&I::Br(0));
        f.instruction(&I::End);
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I64Const(0));
        f.instruction(&I::I64Store(MemArg {
            offset: 0,
            align: 3,
            memory_index: MAP,
        }));
        f.instruction(&I::End);
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(8));
        f.instruction(&I::I32Add);
        f.instruction(&I::LocalSet(0));
        f.instruction(&I::Br(0));
        f.instruction(&I::End);
        f.instruction(&I::End);
        f.instruction(&I::End);
        f
    }

    /// `commit()`: the memory and globals as they are now are what `reset`
    /// comes back to.
    fn commit_body(&self) -> Function {
        use Instruction as I;
        let mut f = Function::new([]);
        for (k, (global, _)) in self.facts.mutable_globals.iter().enumerate() {
            f.instruction(&I::GlobalGet(*global));
            f.instruction(&I::GlobalSet(self.shadow(k)));
        }
        if !self.owner() {
            f.instruction(&I::End);
            return f;
        }
        f.instruction(&I::I32Const(0));
        f.instruction(&I::I32Const(0));
        f.instruction(&I::I32Const((map_wasm_pages() * 65536) as i32));
        f.instruction(&I::MemoryFill(MAP));
        f.instruction(&I::End);
        f
    }
}

impl Reencode for Module {
    type Error = anyhow::Error;

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_type_section(self, types, section)?;
        types.ty().function([ValType::I32], []);
        types.ty().function([ValType::I32, ValType::I32], []);
        types.ty().function([], []);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        if let Role::Importer(module) = &self.facts.role {
            imports.import(module, MAP_NAME, EntityType::Memory(map_type()));
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
            functions.function(self.type_page());
            functions.function(self.type_range());
        }
        if self.facts.resets() {
            functions.function(self.type_void());
            functions.function(self.type_void());
        }
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_global_section(self, globals, section)?;
        for (_, ty) in &self.facts.mutable_globals {
            let init = match ty {
                ValType::I64 => wasm_encoder::ConstExpr::i64_const(0),
                ValType::F32 => wasm_encoder::ConstExpr::f32_const(0.0.into()),
                ValType::F64 => wasm_encoder::ConstExpr::f64_const(0.0.into()),
                _ => wasm_encoder::ConstExpr::i32_const(0),
            };
            globals.global(
                wasm_encoder::GlobalType {
                    val_type: *ty,
                    mutable: true,
                    shared: false,
                },
                &init,
            );
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
            memories.memory(map_type());
            memories.memory(journal_type());
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        if self.owner() {
            exports.export(MAP_NAME, ExportKind::Memory, MAP);
            exports.export(JOURNAL_NAME, ExportKind::Memory, JOURNAL);
        }
        if self.facts.resets() {
            exports.export("hangar_reset", ExportKind::Func, self.func_reset());
            exports.export("hangar_commit", ExportKind::Func, self.func_commit());
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
            code.function(&Self::journal_page_body());
            code.function(&self.journal_range_body());
        }
        if self.facts.resets() {
            code.function(&self.reset_body());
            code.function(&self.commit_body());
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        use Instruction as I;
        let params = self.facts.param_counts[self.next_function];
        self.next_function += 1;
        let func_page = self.func_page();
        let func_range = self.func_range();
        // Journals the block of `a + offset` unless the map says it is.
        let guard = |f: &mut Function, s: &Scratch, offset: u64| {
            f.instruction(&I::LocalGet(s.a));
            if offset != 0 {
                f.instruction(&I::I32Const(offset as u32 as i32));
                f.instruction(&I::I32Add);
            }
            f.instruction(&I::I32Const(page_shift()));
            f.instruction(&I::I32ShrU);
            f.instruction(&I::LocalTee(s.page));
            f.instruction(&I::I32Load8U(byte(MAP)));
            f.instruction(&I::I32Eqz);
            f.instruction(&I::If(BlockType::Empty));
            f.instruction(&I::LocalGet(s.page));
            f.instruction(&I::Call(func_page));
            f.instruction(&I::End);
        };
        let mark_store = |f: &mut Function, s: &Scratch, offset: u64, size: u64| {
            guard(f, s, offset);
            if size > 1 {
                guard(f, s, offset + size - 1);
            }
        };
        let mark_bulk = |f: &mut Function, s: &Scratch| {
            f.instruction(&I::LocalGet(s.a));
            f.instruction(&I::LocalGet(s.c));
            f.instruction(&I::Call(func_range));
        };
        let (f, writes) = crate::writes::instrument(self, &func, params, mark_store, mark_bulk)?;
        self.writes += writes;
        code.function(&f);
        Ok(())
    }
}

/// Facts about the top-level component, from a first pass.
struct ComponentFacts {
    /// Role of each top-level core module, by module index.
    roles: Vec<Facts>,
    /// The core instance that instantiates the owner module.
    owner_instance: u32,
    /// Core instances of modules that get hangar_reset / hangar_commit.
    resettable_instances: Vec<u32>,
    core_funcs: u32,
    component_types: u32,
    component_funcs: u32,
}

fn component_facts(bytes: &[u8]) -> Result<ComponentFacts> {
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    let types = validator
        .validate_all(bytes)
        .context("the component does not validate")?;
    let types = types.as_ref();
    if types.memory_count() != 1 {
        bail!(
            "the component has {} core memories; the experiment handles one",
            types.memory_count()
        );
    }
    let mut roles = Vec::new();
    let mut owner_instance = None;
    let mut resettable_instances = Vec::new();
    let mut instances = 0u32;
    // Open nested modules and components: their payloads come between
    // their section and their End.
    let mut open = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                if open == 0 {
                    let range = unchecked_range.start as usize..unchecked_range.end as usize;
                    roles.push(facts(&bytes[range])?);
                }
                open += 1;
            }
            Payload::ComponentSection { .. } => open += 1,
            Payload::End(_) if open > 0 => open -= 1,
            Payload::InstanceSection(reader) if open == 0 => {
                for instance in reader {
                    if let wasmparser::Instance::Instantiate { module_index, .. } = instance? {
                        let module = &roles[module_index as usize];
                        if module.role == Role::Owner {
                            owner_instance = Some(instances);
                        }
                        if module.resets() {
                            resettable_instances.push(instances);
                        }
                    }
                    instances += 1;
                }
            }
            _ => {}
        }
    }
    Ok(ComponentFacts {
        roles,
        owner_instance: owner_instance.context("no core instance of the memory's module")?,
        resettable_instances,
        core_funcs: types.function_count(),
        component_types: types.component_type_count(),
        component_funcs: types.component_function_count(),
    })
}

/// Rewrites the top-level component.
pub struct Component {
    facts: ComponentFacts,
    depth: u32,
    next_module: usize,
    pub modules: usize,
    pub writes: usize,
}

impl Reencode for Component {
    type Error = anyhow::Error;
}

impl ReencodeComponent for Component {
    fn parse_component_subcomponent(
        &mut self,
        component: &mut wasm_encoder::Component,
        parser: Parser,
        subcomponent: &[u8],
        whole_component: &[u8],
    ) -> Result<(), reencode::Error<Self::Error>> {
        self.depth += 1;
        let result = reencode::component_utils::parse_component_subcomponent(
            self,
            component,
            parser,
            subcomponent,
            whole_component,
        );
        self.depth -= 1;
        result
    }

    fn parse_component_submodule(
        &mut self,
        component: &mut wasm_encoder::Component,
        parser: Parser,
        module: &[u8],
    ) -> Result<(), reencode::Error<Self::Error>> {
        let facts = if self.depth == 0 {
            let facts = self.facts.roles[self.next_module].clone();
            self.next_module += 1;
            Some(facts)
        } else {
            None
        };
        let Some(facts) = facts.filter(|f| f.journals() || f.resets()) else {
            component.section(&wasm_encoder::RawSection {
                id: wasm_encoder::ComponentSectionId::CoreModule as u8,
                data: module,
            });
            return Ok(());
        };
        if facts.resets() && !facts.has_exports {
            return Err(reencode::Error::UserError(anyhow::anyhow!(
                "a module with mutable globals and no export section"
            )));
        }
        let mut rewriter = Module {
            facts,
            next_function: 0,
            writes: 0,
        };
        let mut out = wasm_encoder::Module::new();
        reencode::utils::parse_core_module(&mut rewriter, &mut out, parser, module)?;
        component.section(&wasm_encoder::ModuleSection(&out));
        self.modules += 1;
        self.writes += rewriter.writes;
        Ok(())
    }

    fn parse_component_alias_section(
        &mut self,
        aliases: &mut wasm_encoder::ComponentAliasSection,
        section: wasmparser::ComponentAliasSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        for alias in section {
            let alias = alias?;
            let is_memory = matches!(
                alias,
                wasmparser::ComponentAlias::CoreInstanceExport {
                    kind: wasmparser::ExternalKind::Memory,
                    ..
                }
            );
            let encoded = self.component_alias(alias)?;
            aliases.alias(encoded);
            if self.depth == 0 && is_memory {
                for name in [MAP_NAME, JOURNAL_NAME] {
                    aliases.alias(wasm_encoder::Alias::CoreInstanceExport {
                        instance: self.facts.owner_instance,
                        kind: ExportKind::Memory,
                        name,
                    });
                }
            }
        }
        Ok(())
    }

    fn parse_instance(
        &mut self,
        instances: &mut wasm_encoder::InstanceSection,
        instance: wasmparser::Instance<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        if let (0, wasmparser::Instance::FromExports(exports)) = (self.depth, &instance) {
            let has_memory = exports
                .iter()
                .any(|e| e.kind == wasmparser::ExternalKind::Memory && e.index == 0);
            if has_memory {
                let mut items: Vec<(&str, ExportKind, u32)> = Vec::new();
                for export in exports.iter() {
                    items.push((
                        export.name,
                        self.export_kind(export.kind)?,
                        self.external_index(export.kind, export.index)?,
                    ));
                }
                items.push((MAP_NAME, ExportKind::Memory, MAP));
                items.push((JOURNAL_NAME, ExportKind::Memory, JOURNAL));
                instances.export_items(items);
                return Ok(());
            }
        }
        reencode::component_utils::parse_instance(self, instances, instance)
    }
}

/// Rewrites `bytes`; returns the new component and (modules, writes).
pub fn rewrite(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize)> {
    let facts = component_facts(bytes)?;
    let (core_funcs, component_types, component_funcs) = (
        facts.core_funcs,
        facts.component_types,
        facts.component_funcs,
    );
    let resettable = facts.resettable_instances.clone();
    let mut rewriter = Component {
        facts,
        depth: 0,
        next_module: 0,
        modules: 0,
        writes: 0,
    };
    let mut component = wasm_encoder::Component::new();
    rewriter
        .parse_component(&mut component, Parser::new(0), bytes)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;

    // hangar-reset-N and hangar-commit-N: `func()` exports lifted from each
    // resettable core instance's functions; the host calls every one.
    let mut types = wasm_encoder::ComponentTypeSection::new();
    types
        .function()
        .params([] as [(&str, wasm_encoder::ComponentValType); 0])
        .result(None);
    component.section(&types);
    let mut aliases = wasm_encoder::ComponentAliasSection::new();
    for instance in &resettable {
        for name in ["hangar_reset", "hangar_commit"] {
            aliases.alias(wasm_encoder::Alias::CoreInstanceExport {
                instance: *instance,
                kind: ExportKind::Func,
                name,
            });
        }
    }
    component.section(&aliases);
    let mut canon = wasm_encoder::CanonicalFunctionSection::new();
    for k in 0..resettable.len() as u32 * 2 {
        canon.lift(core_funcs + k, component_types, []);
    }
    component.section(&canon);
    let mut exports = wasm_encoder::ComponentExportSection::new();
    for n in 0..resettable.len() as u32 {
        exports.export(
            format!("hangar-reset-{n}"),
            ComponentExportKind::Func,
            component_funcs + 2 * n,
            None,
        );
        exports.export(
            format!("hangar-commit-{n}"),
            ComponentExportKind::Func,
            component_funcs + 2 * n + 1,
            None,
        );
    }
    component.section(&exports);
    Ok((component.finish(), rewriter.modules, rewriter.writes))
}
