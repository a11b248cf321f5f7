//! The rewrite of the component around its core modules: find out, from
//! the component's own structure, which module owns the memory, which
//! exported functions the canonical ABI uses as `realloc`, and which core
//! imports are host functions that write results at a return pointer;
//! then rewrite each module, wire the map and journal memories into every
//! instantiation that shares the memory, and lift each module's commit and
//! reset as component exports.

use anyhow::{Context, Result, bail};
use wasm_encoder::reencode::{self, Reencode, ReencodeComponent};
use wasm_encoder::{ComponentExportKind, ExportKind};
use wasmparser::component_types::ComponentEntityType;
use wasmparser::types::TypesRef;
use wasmparser::{CanonicalFunction, CanonicalOption, ExternalKind, Parser, Payload};

use super::Journal;
use super::module::{
    self, COMMIT_EXPORT, Facts, JOURNAL, JOURNAL_NAME, MAP, MAP_NAME, Plan, RESET_EXPORT, Role,
};

/// Names of the lifted exports; the host calls them by these names.
pub const COMMIT_PREFIX: &str = "hangar-commit-";
pub const RESET_PREFIX: &str = "hangar-reset-";

enum CoreInstance {
    Module(u32),
    Exports,
}

enum CoreFunc {
    /// An export of a core instance.
    Alias { instance: u32, name: String },
    /// Made by a canonical built-in (a lowered import, a resource drop...).
    Canonical,
}

/// What the first pass learns about the top-level component.
struct ComponentFacts {
    modules: Vec<Facts>,
    plans: Vec<Plan>,
    /// Core instances of modules that get commit and reset, in order.
    resettable_instances: Vec<u32>,
    owner_instance: u32,
    core_funcs: u32,
    component_types: u32,
    component_funcs: u32,
}

fn component_facts(bytes: &[u8]) -> Result<ComponentFacts> {
    use wasmparser::WasmFeatures as F;
    let features = F::all() & !(F::THREADS | F::SHARED_EVERYTHING_THREADS);
    let mut validator = wasmparser::Validator::new_with_features(features);
    let types = validator.validate_all(bytes).context(
        "it does not validate without the threads proposal (atomics cannot be journaled)",
    )?;
    let types = types.as_ref();
    let mut modules = Vec::new();
    let mut instances = Vec::new();
    let mut funcs = Vec::new();
    let mut reallocs = Vec::new();
    let mut memory_aliases = 0;
    // Nested modules and components: their payloads come between their
    // section and their End.
    let mut depth = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                if depth == 0 {
                    let range = unchecked_range.start as usize..unchecked_range.end as usize;
                    let facts = module::facts(&bytes[range])
                        .with_context(|| format!("core module {}", modules.len()))?;
                    modules.push(facts);
                } else {
                    bail!("it nests core modules inside a nested component");
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            Payload::InstanceSection(reader) => {
                for instance in reader {
                    instances.push(match instance? {
                        wasmparser::Instance::Instantiate { module_index, .. } => {
                            CoreInstance::Module(module_index)
                        }
                        wasmparser::Instance::FromExports(_) => CoreInstance::Exports,
                    });
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    if let wasmparser::ComponentAlias::CoreInstanceExport {
                        kind,
                        instance_index,
                        name,
                    } = alias?
                    {
                        match kind {
                            ExternalKind::Func => funcs.push(CoreFunc::Alias {
                                instance: instance_index,
                                name: name.to_string(),
                            }),
                            ExternalKind::Memory => memory_aliases += 1,
                            _ => {}
                        }
                    }
                }
            }
            Payload::ComponentCanonicalSection(reader) => {
                for canonical in reader {
                    let options = match canonical? {
                        CanonicalFunction::Lift { options, .. } => options,
                        CanonicalFunction::Lower { options, .. } => {
                            funcs.push(CoreFunc::Canonical);
                            options
                        }
                        CanonicalFunction::ResourceDrop { .. }
                        | CanonicalFunction::ResourceRep { .. } => {
                            funcs.push(CoreFunc::Canonical);
                            continue;
                        }
                        CanonicalFunction::ResourceNew { .. } => bail!(
                            "it defines its own resource types, whose handles the reset \
                             cannot take back"
                        ),
                        other => bail!("it uses the canonical built-in {other:?}"),
                    };
                    for option in options.iter() {
                        match option {
                            CanonicalOption::Realloc(func) => reallocs.push(*func),
                            CanonicalOption::Async | CanonicalOption::Callback(_) => {
                                bail!("it uses asynchronous lifting or lowering")
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if memory_aliases != 1 {
        bail!(
            "it passes {memory_aliases} core memories to the canonical ABI; only components \
             with exactly one can be reset"
        );
    }

    let mut plans = vec![Plan::default(); modules.len()];
    for func in reallocs {
        let Some(CoreFunc::Alias { instance, name }) = funcs.get(func as usize) else {
            bail!("a realloc that is not a core module's export");
        };
        let Some(CoreInstance::Module(m)) = instances.get(*instance as usize) else {
            bail!("realloc {name:?} is not a core module's own export");
        };
        let plan = &mut plans[*m as usize];
        if !plan.reallocs.contains(name) {
            plan.reallocs.push(name.clone());
        }
    }
    for (m, facts) in modules.iter().enumerate() {
        for (i, (module_name, field, _)) in facts.imported_funcs.iter().enumerate() {
            let Some((params, 0)) = facts.import_shape(i) else {
                continue;
            };
            let Some(size) = return_area(types, module_name, field)? else {
                continue;
            };
            if params == 0 {
                bail!("host function {module_name}#{field} returns results but takes no pointer");
            }
            if !facts.journals() {
                bail!(
                    "host function {module_name}#{field} is imported by a module without the memory"
                );
            }
            plans[m].return_areas.push((i as u32, size));
        }
    }

    let mut owner_instance = None;
    let mut resettable_instances = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        let CoreInstance::Module(m) = instance else {
            continue;
        };
        let facts = &modules[*m as usize];
        if facts.role == Role::Owner {
            if owner_instance.is_some() {
                bail!("more than one core instance defines a memory");
            }
            owner_instance = Some(index as u32);
        }
        if facts.resets() {
            resettable_instances.push(index as u32);
        }
    }
    Ok(ComponentFacts {
        modules,
        plans,
        resettable_instances,
        owner_instance: owner_instance.context("no core module defines the memory")?,
        core_funcs: types.function_count(),
        component_types: types.component_type_count(),
        component_funcs: types.component_function_count(),
    })
}

/// Bytes the host writes at the return pointer of the component import
/// `field` of instance `module` (`$root` for a bare function), if it is a
/// host function with results.
pub(super) fn return_area(types: TypesRef<'_>, module: &str, field: &str) -> Result<Option<u32>> {
    let item = if module == "$root" {
        types.component_item_for_import(field).map(|i| &i.ty)
    } else {
        match types.component_item_for_import(module).map(|i| &i.ty) {
            Some(ComponentEntityType::Instance(id)) => types[*id].exports.get(field).map(|i| &i.ty),
            _ => None,
        }
    };
    let Some(ComponentEntityType::Func(id)) = item else {
        return Ok(None);
    };
    match &types[*id].result {
        Some(result) => Ok(Some(super::abi::layout(types, result)?.0)),
        None => Ok(None),
    }
}

struct Component {
    facts: ComponentFacts,
    journal: Journal,
    depth: u32,
    next_module: usize,
    writes: usize,
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
        let index = self.next_module;
        self.next_module += 1;
        let facts = self.facts.modules[index].clone();
        let plan = self.facts.plans[index].clone();
        if !facts.journals() && !facts.resets() {
            component.section(&wasm_encoder::RawSection {
                id: wasm_encoder::ComponentSectionId::CoreModule as u8,
                data: module,
            });
            return Ok(());
        }
        let (out, writes) = module::rewrite(facts, plan, self.journal, parser, module)
            .with_context(|| format!("core module {index}"))
            .map_err(reencode::Error::UserError)?;
        component.section(&wasm_encoder::ModuleSection(&out));
        self.writes += writes;
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
                    kind: ExternalKind::Memory,
                    ..
                }
            );
            let encoded = self.component_alias(alias)?;
            aliases.alias(encoded);
            // The memory is core memory 0; the map and journal become 1 and 2.
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
        // A bag of exports that hands the memory to a module hands it the
        // map and the journal too.
        if let (0, wasmparser::Instance::FromExports(exports)) = (self.depth, &instance) {
            let has_memory = exports
                .iter()
                .any(|e| e.kind == ExternalKind::Memory && e.index == 0);
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

/// Rewrites `bytes`; returns the component and how many writes it journals.
pub fn rewrite(bytes: &[u8], journal: Journal) -> Result<(Vec<u8>, usize)> {
    let facts = component_facts(bytes)?;
    let (core_funcs, component_types, component_funcs) = (
        facts.core_funcs,
        facts.component_types,
        facts.component_funcs,
    );
    let resettable = facts.resettable_instances.clone();
    let mut rewriter = Component {
        facts,
        journal,
        depth: 0,
        next_module: 0,
        writes: 0,
    };
    let mut component = wasm_encoder::Component::new();
    rewriter
        .parse_component(&mut component, Parser::new(0), bytes)
        .map_err(|e| match e {
            reencode::Error::UserError(e) => e,
            other => anyhow::anyhow!("{other}"),
        })?;

    // hangar-reset-N: func() -> u32 and hangar-commit-N: func(), lifted
    // from each resettable core instance.
    let mut types = wasm_encoder::ComponentTypeSection::new();
    types
        .function()
        .params([] as [(&str, wasm_encoder::ComponentValType); 0])
        .result(Some(wasm_encoder::ComponentValType::Primitive(
            wasm_encoder::PrimitiveValType::U32,
        )));
    types
        .function()
        .params([] as [(&str, wasm_encoder::ComponentValType); 0])
        .result(None);
    component.section(&types);
    let mut aliases = wasm_encoder::ComponentAliasSection::new();
    for instance in &resettable {
        for name in [RESET_EXPORT, COMMIT_EXPORT] {
            aliases.alias(wasm_encoder::Alias::CoreInstanceExport {
                instance: *instance,
                kind: ExportKind::Func,
                name,
            });
        }
    }
    component.section(&aliases);
    let mut canon = wasm_encoder::CanonicalFunctionSection::new();
    for k in 0..resettable.len() as u32 {
        canon.lift(core_funcs + 2 * k, component_types, []);
        canon.lift(core_funcs + 2 * k + 1, component_types + 1, []);
    }
    component.section(&canon);
    let mut exports = wasm_encoder::ComponentExportSection::new();
    for n in 0..resettable.len() as u32 {
        exports.export(
            format!("{RESET_PREFIX}{n}"),
            ComponentExportKind::Func,
            component_funcs + 2 * n,
            None,
        );
        exports.export(
            format!("{COMMIT_PREFIX}{n}"),
            ComponentExportKind::Func,
            component_funcs + 2 * n + 1,
            None,
        );
    }
    component.section(&exports);
    Ok((component.finish(), rewriter.writes))
}
