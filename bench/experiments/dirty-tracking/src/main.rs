//! Experiment: what does it cost a guest to record, in wasm itself, which
//! 4 KiB pages of its linear memory it writes? (The missing half of safe
//! instance reuse: a reset that copies back only the written pages needs to
//! know which they are, and the host cannot see a component's memory.)
//!
//! `dirty-tracking IN.wasm OUT.wasm` rewrites every core module of a
//! component that has a memory: it adds a second memory (the "dirty map", one
//! byte per 4 KiB page of memory 0) and, before every store, `memory.fill`,
//! `memory.copy` and `memory.init` into memory 0, marks the pages written.
//! Nothing reads the map: this only measures the tracking's cost.
//!
//! `dirty-tracking --journal IN.wasm OUT.wasm` goes further (see
//! `journal.rs`): the component can be reset between calls, memory and
//! globals, which measures what a reset costs.

mod journal;
mod writes;

use anyhow::{Context, Result, bail};
use wasm_encoder::reencode::{self, Reencode, ReencodeComponent};
use wasm_encoder::{Instruction, MemArg, MemoryType};
use wasmparser::Parser;
use writes::Scratch;

/// Host pages are 4 KiB; the map has one byte per page of a 4 GiB memory.
const PAGE_SHIFT: i32 = 12;
const MAP_WASM_PAGES: u64 = (1 << 32 >> PAGE_SHIFT) / 65536;

/// What the rewrite needs to know about one core module, from a first pass.
#[derive(Default)]
struct ModuleFacts {
    /// Index the dirty map gets (imported + defined memories before it).
    map_index: u32,
    has_memory: bool,
    has_memory_section: bool,
    /// Parameter count of each defined function, in code-section order.
    param_counts: Vec<u32>,
}

fn module_facts(bytes: &[u8]) -> Result<ModuleFacts> {
    let facts = journal::facts(bytes)?;
    let has_memory = facts.role != journal::Role::None;
    Ok(ModuleFacts {
        map_index: u32::from(has_memory),
        has_memory,
        has_memory_section: facts.role == journal::Role::Owner,
        param_counts: facts.param_counts,
    })
}

struct Tracker {
    facts: ModuleFacts,
    next_function: usize,
    stores: usize,
    /// Export the map under this index as `dirty-map` (core-module mode).
    export_map: Option<u32>,
}

impl Tracker {
    fn map_type() -> MemoryType {
        MemoryType {
            minimum: MAP_WASM_PAGES,
            maximum: Some(MAP_WASM_PAGES),
            memory64: false,
            shared: false,
            page_size_log2: None,
        }
    }
}

impl Reencode for Tracker {
    type Error = anyhow::Error;

    fn parse_memory_section(
        &mut self,
        memories: &mut wasm_encoder::MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_memory_section(self, memories, section)?;
        if self.facts.has_memory {
            memories.memory(Self::map_type());
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        if let Some(map) = self.export_map {
            exports.export("dirty-map", wasm_encoder::ExportKind::Memory, map);
        }
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        after: Option<wasm_encoder::SectionId>,
        before: Option<wasm_encoder::SectionId>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        use wasm_encoder::SectionId as S;
        // A module that only imports its memory gets a memory section where
        // one would be: before the first section that follows memories.
        let memory_done = |id: Option<S>| {
            matches!(
                id,
                Some(
                    S::Memory
                        | S::Global
                        | S::Export
                        | S::Start
                        | S::Element
                        | S::DataCount
                        | S::Code
                        | S::Data
                        | S::Tag
                )
            )
        };
        if self.facts.has_memory
            && !self.facts.has_memory_section
            && !memory_done(after)
            && (memory_done(before) || before.is_none())
        {
            let mut memories = wasm_encoder::MemorySection::new();
            memories.memory(Self::map_type());
            module.section(&memories);
            self.facts.has_memory_section = true;
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let params = self.facts.param_counts[self.next_function];
        self.next_function += 1;
        let map = self.facts.map_index;
        let map_arg = MemArg {
            offset: 0,
            align: 0,
            memory_index: map,
        };
        let mark_page = |f: &mut wasm_encoder::Function, a: u32, offset: u64| {
            f.instruction(&Instruction::LocalGet(a));
            if offset != 0 {
                f.instruction(&Instruction::I32Const(offset as u32 as i32));
                f.instruction(&Instruction::I32Add);
            }
            f.instruction(&Instruction::I32Const(PAGE_SHIFT));
            f.instruction(&Instruction::I32ShrU);
            f.instruction(&Instruction::I32Const(1));
            f.instruction(&Instruction::I32Store8(map_arg));
        };
        let mark_store = |f: &mut wasm_encoder::Function, s: &Scratch, offset: u64, size: u64| {
            mark_page(f, s.a, offset);
            if size > 1 {
                mark_page(f, s.a, offset + size - 1);
            }
        };
        // Marks [a, a + c) with one memory.fill on the map.
        let mark_bulk = |f: &mut wasm_encoder::Function, s: &Scratch| {
            f.instruction(&Instruction::LocalGet(s.a));
            f.instruction(&Instruction::I32Const(PAGE_SHIFT));
            f.instruction(&Instruction::I32ShrU);
            f.instruction(&Instruction::I32Const(1));
            f.instruction(&Instruction::LocalGet(s.a));
            f.instruction(&Instruction::LocalGet(s.c));
            f.instruction(&Instruction::I32Add);
            f.instruction(&Instruction::I32Const((1 << PAGE_SHIFT) - 1));
            f.instruction(&Instruction::I32Add);
            f.instruction(&Instruction::I32Const(PAGE_SHIFT));
            f.instruction(&Instruction::I32ShrU);
            f.instruction(&Instruction::LocalGet(s.a));
            f.instruction(&Instruction::I32Const(PAGE_SHIFT));
            f.instruction(&Instruction::I32ShrU);
            f.instruction(&Instruction::I32Sub);
            f.instruction(&Instruction::MemoryFill(map));
        };
        let (f, writes) = writes::instrument(self, &func, params, mark_store, mark_bulk)?;
        self.stores += writes;
        code.function(&f);
        Ok(())
    }
}

struct Component {
    stores: usize,
    modules: usize,
}

impl Reencode for Component {
    type Error = anyhow::Error;
}

impl ReencodeComponent for Component {
    fn parse_component_submodule(
        &mut self,
        component: &mut wasm_encoder::Component,
        parser: Parser,
        module: &[u8],
    ) -> Result<(), reencode::Error<Self::Error>> {
        let facts = module_facts(module).map_err(reencode::Error::UserError)?;
        if !facts.has_memory {
            component.section(&wasm_encoder::RawSection {
                id: wasm_encoder::ComponentSectionId::CoreModule as u8,
                data: module,
            });
            return Ok(());
        }
        let mut tracker = Tracker {
            facts,
            next_function: 0,
            stores: 0,
            export_map: None,
        };
        let mut out = wasm_encoder::Module::new();
        reencode::utils::parse_core_module(&mut tracker, &mut out, parser, module)?;
        component.section(&wasm_encoder::ModuleSection(&out));
        self.stores += tracker.stores;
        self.modules += 1;
        Ok(())
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, input, output] = args.as_slice()
        && flag == "--journal"
    {
        let bytes = std::fs::read(input).with_context(|| format!("reading {input}"))?;
        let (out, modules, writes) = journal::rewrite(&bytes)?;
        std::fs::write(output, &out)?;
        eprintln!(
            "{modules} modules journaled, {writes} writes instrumented, {} -> {} bytes",
            bytes.len(),
            out.len()
        );
        return Ok(());
    }
    let [_, input, output] = args.as_slice() else {
        bail!("usage: dirty-tracking [--journal] IN.wasm OUT.wasm");
    };
    let bytes = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    if wasmparser::Parser::is_core_wasm(&bytes) {
        // A lone core module (for checking the marks): its map is exported
        // as `dirty-map`.
        let facts = module_facts(&bytes)?;
        let map = facts.map_index;
        let mut tracker = Tracker {
            facts,
            next_function: 0,
            stores: 0,
            export_map: Some(map),
        };
        let mut out = wasm_encoder::Module::new();
        reencode::utils::parse_core_module(&mut tracker, &mut out, Parser::new(0), &bytes)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        std::fs::write(output, out.finish())?;
        eprintln!("{} writes instrumented", tracker.stores);
        return Ok(());
    }
    let mut rewriter = Component {
        stores: 0,
        modules: 0,
    };
    let mut component = wasm_encoder::Component::new();
    rewriter
        .parse_component(&mut component, Parser::new(0), &bytes)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let out = component.finish();
    std::fs::write(output, &out)?;
    eprintln!(
        "{} modules tracked, {} writes instrumented, {} -> {} bytes",
        rewriter.modules,
        rewriter.stores,
        bytes.len(),
        out.len()
    );
    Ok(())
}
