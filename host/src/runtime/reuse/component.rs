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
use wasmparser::types::TypesRef;
use wasmparser::{
    CanonicalFunction, CanonicalOption, ComponentExternalKind, ComponentTypeRef, ExternalKind,
    Parser, Payload,
};

use super::Journal;
use super::module::{
    self, COMMIT_EXPORT, Facts, JOURNAL, JOURNAL_NAME, MAP, MAP_NAME, Plan, RESET_EXPORT, Role,
};

/// Names of the lifted exports; the host calls them by these names.
pub const COMMIT_PREFIX: &str = "hangar-commit-";
pub const RESET_PREFIX: &str = "hangar-reset-";

/// A core instance of the top-level component.
enum CoreInstance {
    /// A module instantiated with (argument name, core instance) pairs.
    Module {
        module: u32,
        args: Vec<(String, u32)>,
    },
    /// A bag of exports: (name, core function) for each function in it.
    Exports(Vec<(String, u32)>),
}

/// A core function of the top-level component.
enum CoreFunc {
    /// An export of a core instance.
    Alias { instance: u32, name: String },
    /// `canon lower` of component function `func`: the host's code.
    Lowered { func: u32 },
    /// Another canonical built-in (a resource drop or rep).
    Builtin,
}

/// A component function of the top-level component, as far as lowering
/// needs to know: which import it is.
enum ComponentFunc {
    /// `field` of the imported instance `instance` (`$root` for a bare
    /// imported function).
    Imported {
        instance: String,
        field: String,
    },
    Other,
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
    let mut component_instances: Vec<Option<String>> = Vec::new();
    let mut component_funcs: Vec<ComponentFunc> = Vec::new();
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
                        wasmparser::Instance::Instantiate { module_index, args } => {
                            CoreInstance::Module {
                                module: module_index,
                                args: args.iter().map(|a| (a.name.to_string(), a.index)).collect(),
                            }
                        }
                        wasmparser::Instance::FromExports(exports) => CoreInstance::Exports(
                            exports
                                .iter()
                                .filter(|e| e.kind == ExternalKind::Func)
                                .map(|e| (e.name.to_string(), e.index))
                                .collect(),
                        ),
                    });
                }
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import?;
                    let name = import.name.name.to_string();
                    match import.ty {
                        ComponentTypeRef::Instance(_) => component_instances.push(Some(name)),
                        ComponentTypeRef::Func(_) => {
                            component_funcs.push(ComponentFunc::Imported {
                                instance: "$root".to_string(),
                                field: name,
                            })
                        }
                        _ => {}
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                for instance in reader {
                    instance?;
                    component_instances.push(None);
                }
            }
            Payload::ComponentExportSection(reader) => {
                // An export is a new item of its kind.
                for export in reader {
                    match export?.kind {
                        ComponentExternalKind::Func => component_funcs.push(ComponentFunc::Other),
                        ComponentExternalKind::Instance => component_instances.push(None),
                        _ => {}
                    }
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    match alias? {
                        wasmparser::ComponentAlias::CoreInstanceExport {
                            kind,
                            instance_index,
                            name,
                        } => match kind {
                            ExternalKind::Func => funcs.push(CoreFunc::Alias {
                                instance: instance_index,
                                name: name.to_string(),
                            }),
                            ExternalKind::Memory => memory_aliases += 1,
                            _ => {}
                        },
                        wasmparser::ComponentAlias::InstanceExport {
                            kind,
                            instance_index,
                            name,
                        } => match kind {
                            ComponentExternalKind::Func => {
                                let from = component_instances.get(instance_index as usize);
                                component_funcs.push(match from {
                                    Some(Some(instance)) => ComponentFunc::Imported {
                                        instance: instance.clone(),
                                        field: name.to_string(),
                                    },
                                    _ => ComponentFunc::Other,
                                });
                            }
                            ComponentExternalKind::Instance => component_instances.push(None),
                            _ => {}
                        },
                        wasmparser::ComponentAlias::Outer { .. } => {}
                    }
                }
            }
            Payload::ComponentCanonicalSection(reader) => {
                for canonical in reader {
                    let options = match canonical? {
                        CanonicalFunction::Lift { options, .. } => {
                            component_funcs.push(ComponentFunc::Other);
                            options
                        }
                        CanonicalFunction::Lower {
                            func_index,
                            options,
                        } => {
                            funcs.push(CoreFunc::Lowered { func: func_index });
                            options
                        }
                        CanonicalFunction::ResourceDrop { .. }
                        | CanonicalFunction::ResourceRep { .. } => {
                            funcs.push(CoreFunc::Builtin);
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
        let Some(CoreInstance::Module { module, .. }) = instances.get(*instance as usize) else {
            bail!("realloc {name:?} is not a core module's own export");
        };
        let plan = &mut plans[*module as usize];
        if !plan.reallocs.contains(name) {
            plan.reallocs.push(name.clone());
        }
    }
    let graph = Graph {
        types,
        modules: &modules,
        instances: &instances,
        funcs: &funcs,
        component_funcs: &component_funcs,
    };
    graph.plan_return_areas(&mut plans)?;

    let mut owner_instance = None;
    let mut resettable_instances = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        let CoreInstance::Module { module, .. } = instance else {
            continue;
        };
        let facts = &modules[*module as usize];
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

/// How the top-level component wires its core functions, for finding the
/// host functions that write results at a return pointer.
struct Graph<'a> {
    types: TypesRef<'a>,
    modules: &'a [Facts],
    instances: &'a [CoreInstance],
    funcs: &'a [CoreFunc],
    component_funcs: &'a [ComponentFunc],
}

/// Where a core module's imported function comes from.
enum Source {
    /// `canon lower` of component function `func`.
    Host(u32),
    /// An export of an instance of module `module`.
    Module(u32),
    /// A canonical built-in, or nothing this rewrite needs to follow.
    Other,
}

impl Graph<'_> {
    /// Finds, for every function a core module imports, whether the host
    /// writes results at its return pointer, and how many bytes: exactly
    /// when the import is a lowered host function; by its WIT name when it
    /// comes through a module without memory (the trampolines
    /// wit-component puts in front of imports that need the memory before
    /// it exists). Every lowered host function with a return area must be
    /// found one way or the other, or the component is refused.
    fn plan_return_areas(&self, plans: &mut [Plan]) -> Result<()> {
        let mut covered = std::collections::BTreeSet::new();
        for instance in self.instances {
            let CoreInstance::Module { module, args } = instance else {
                continue;
            };
            let facts = &self.modules[*module as usize];
            for (i, (module_name, field, _)) in facts.imported_funcs.iter().enumerate() {
                let Some((params, 0)) = facts.import_shape(i) else {
                    continue;
                };
                let area = match self.source(args, module_name, field, 0) {
                    // A module without memory that imports a host function
                    // only passes it on (wit-component's fixup module puts
                    // it in the trampolines' table); the calls come from
                    // the modules that import the trampolines, below.
                    Source::Host(_) if !facts.journals() => None,
                    Source::Host(func) => {
                        covered.insert(func);
                        self.result_size(func)?
                    }
                    Source::Module(from) if self.modules[from as usize].role == Role::None => {
                        let found = self.by_name(module_name, field);
                        covered.extend(found.iter().map(|(func, _)| *func));
                        found.first().map(|(_, size)| *size)
                    }
                    Source::Module(_) | Source::Other => None,
                };
                let Some(size) = area else {
                    continue;
                };
                if params == 0 || !facts.journals() {
                    bail!(
                        "host function {module_name}#{field} is imported by a core module that \
                         cannot take its results (no pointer, or no memory)"
                    );
                }
                let plan = &mut plans[*module as usize];
                if !plan.return_areas.iter().any(|(j, _)| *j == i as u32) {
                    plan.return_areas.push((i as u32, size));
                }
            }
        }
        for func in self.funcs {
            let CoreFunc::Lowered { func } = func else {
                continue;
            };
            if !covered.contains(func) && self.needs_return_area(*func)? {
                let name = match self.component_funcs.get(*func as usize) {
                    Some(ComponentFunc::Imported { instance, field }) => {
                        format!("{instance}#{field}")
                    }
                    _ => format!("component function {func}"),
                };
                bail!(
                    "host function {name} reaches core code along a path the rewrite cannot \
                     follow, so the results the host writes could not be journaled"
                );
            }
        }
        Ok(())
    }

    /// Follows the import `module_name`#`field` of a module instantiated
    /// with `args` to where it is defined.
    fn source(&self, args: &[(String, u32)], module_name: &str, field: &str, depth: u32) -> Source {
        let Some((_, instance)) = args.iter().find(|(name, _)| name == module_name) else {
            return Source::Other;
        };
        self.export_source(*instance, field, depth)
    }

    fn export_source(&self, instance: u32, name: &str, depth: u32) -> Source {
        match self.instances.get(instance as usize) {
            Some(CoreInstance::Module { module, .. }) => Source::Module(*module),
            Some(CoreInstance::Exports(items)) if depth < 8 => {
                let Some((_, func)) = items.iter().find(|(n, _)| n == name) else {
                    return Source::Other;
                };
                match self.funcs.get(*func as usize) {
                    Some(CoreFunc::Lowered { func }) => Source::Host(*func),
                    Some(CoreFunc::Alias { instance, name }) => {
                        self.export_source(*instance, name, depth + 1)
                    }
                    _ => Source::Other,
                }
            }
            _ => Source::Other,
        }
    }

    /// The lowered host functions imported as `module_name`#`field` (the
    /// version after `@` may differ: wit-component lowers one version of an
    /// interface for modules built against older ones), with the size of
    /// their results.
    fn by_name(&self, module_name: &str, field: &str) -> Vec<(u32, u32)> {
        let unversioned = |name: &str| name.split('@').next().unwrap_or(name).to_string();
        let mut found = Vec::new();
        for func in self.funcs {
            let CoreFunc::Lowered { func } = func else {
                continue;
            };
            let Some(ComponentFunc::Imported { instance, field: f }) =
                self.component_funcs.get(*func as usize)
            else {
                continue;
            };
            if f == field
                && unversioned(instance) == unversioned(module_name)
                && let Ok(Some(size)) = self.result_size(*func)
            {
                found.push((*func, size));
            }
        }
        found
    }

    /// Bytes of component function `func`'s result, if it has one.
    fn result_size(&self, func: u32) -> Result<Option<u32>> {
        let ty = &self.types[self.types.component_function_at(func)];
        match &ty.result {
            Some(result) => Ok(Some(super::abi::layout(self.types, result)?.0)),
            None => Ok(None),
        }
    }

    /// Whether lowering `func` passes its results through memory.
    fn needs_return_area(&self, func: u32) -> Result<bool> {
        let ty = &self.types[self.types.component_function_at(func)];
        match &ty.result {
            Some(result) => Ok(super::abi::flat_count(self.types, result)? > 1),
            None => Ok(false),
        }
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
