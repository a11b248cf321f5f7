//! The reset proven on a component built for it: every place a call can
//! leave data (the heap, a global, a table, bytes only the host wrote
//! through `realloc`, a return area the host filled) is checked after a
//! reset by dumping the whole memory, and the same steps without the
//! rewrite show the data is there to be found.

use wasmtime::component::{Component, Instance, Linker};
use wasmtime::{Config, Engine, Store};

/// A memory module (owns the memory, filled with a pattern at start, and a
/// bump `realloc`) and a program
/// module that imports the memory and a host function returning a string.
const FIXTURE: &str = r#"
(component
  (import "host" (instance $host
    (export "fetch" (func (param "n" u32) (result string)))
    (export "pair" (func (result (tuple u64 u64))))))
  (core module $mem
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    ;; Fills the page with a pattern, so that a reset which puts back the
    ;; wrong bytes (not only one that leaves a call's) is seen.
    (func $fill (local $a i32)
      (loop $next
        (i32.store (local.get $a) (i32.mul (i32.add (local.get $a) (i32.const 1)) (i32.const 0x9e3779b1)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (br_if $next (i32.lt_u (local.get $a) (i32.const 65536)))))
    (start $fill)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $r i32)
      (local.set $r (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (local.get 3)))
      (local.get $r)))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "cabi_realloc" (core func $realloc))
  (alias export $host "fetch" (func $fetch))
  (core func $fetch_lowered (canon lower (func $fetch) (memory $memory) (realloc $realloc)))
  (alias export $host "pair" (func $pair))
  (core func $pair_lowered (canon lower (func $pair) (memory $memory)))
  (core module $program
    (import "env" "memory" (memory 1))
    (import "host" "fetch" (func $fetch (param i32 i32)))
    (import "host" "pair" (func $pair (param i32)))
    (global $stash (mut i32) (i32.const 0))
    (table $t 2 funcref)
    (elem declare func $noop)
    (func $noop)
    ;; take(s: string) -> u32: the host already wrote s through realloc.
    (func (export "take") (param i32 i32) (result i32) (i32.const 0))
    ;; remember(s: string): copy s to a fixed place in the heap.
    (func (export "remember") (param i32 i32)
      (memory.copy (i32.const 1024) (local.get 0) (local.get 1)))
    ;; call-fetch(): the host writes (ptr, len) at 512 and the bytes via realloc.
    (func (export "call-fetch") (result i32)
      (call $fetch (i32.const 7) (i32.const 512))
      (i32.const 0))
    ;; call-pair(): the host writes two u64 at 600, nothing through realloc.
    (func (export "call-pair") (result i32)
      (call $pair (i32.const 600))
      (i32.const 0))
    (func (export "stash") (param i32) (global.set $stash (local.get 0)))
    (func (export "peek") (result i32) (global.get $stash))
    (func (export "set-table") (table.set $t (i32.const 1) (ref.func $noop)))
    (func (export "table-filled") (result i32)
      (i32.eqz (ref.is_null (table.get $t (i32.const 1)))))
    (func (export "grow") (result i32) (memory.grow (i32.const 1)))
    (func (export "size") (result i32) (memory.size))
    ;; poke(addr, v): one 8-byte store, which may straddle two blocks.
    (func (export "poke") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
    ;; poke-byte(addr, v): a one-byte store.
    (func (export "poke-byte") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
    (func (export "grow-table") (drop (table.grow $t (ref.null func) (i32.const 1))))
    ;; remember-high(s: string): copy s into the second page.
    (func (export "remember-high") (param i32 i32)
      (memory.copy (i32.const 65636) (local.get 0) (local.get 1)))
    ;; dump(): the whole memory as list<u8>.
    (func (export "dump") (result i32)
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.mul (memory.size) (i32.const 65536)))
      (i32.const 16)))
  (core instance $program (instantiate $program
    (with "env" (instance $mem))
    (with "host" (instance
      (export "fetch" (func $fetch_lowered))
      (export "pair" (func $pair_lowered))))))
  (type $take (func (param "s" string) (result u32)))
  (func (export "take") (type $take)
    (canon lift (core func $program "take") (memory $memory) (realloc $realloc)))
  (func (export "remember") (param "s" string)
    (canon lift (core func $program "remember") (memory $memory) (realloc $realloc)))
  (func (export "call-fetch") (result u32)
    (canon lift (core func $program "call-fetch")))
  (func (export "call-pair") (result u32)
    (canon lift (core func $program "call-pair")))
  (func (export "stash") (param "x" u32) (canon lift (core func $program "stash")))
  (func (export "peek") (result u32) (canon lift (core func $program "peek")))
  (func (export "set-table") (canon lift (core func $program "set-table")))
  (func (export "table-filled") (result u32) (canon lift (core func $program "table-filled")))
  (func (export "grow") (result s32) (canon lift (core func $program "grow")))
  (func (export "size") (result u32) (canon lift (core func $program "size")))
  (func (export "poke") (param "addr" u32) (param "v" u64)
    (canon lift (core func $program "poke")))
  (func (export "poke-byte") (param "addr" u32) (param "v" u32)
    (canon lift (core func $program "poke-byte")))
  (func (export "grow-table") (canon lift (core func $program "grow-table")))
  (func (export "remember-high") (param "s" string)
    (canon lift (core func $program "remember-high") (memory $memory) (realloc $realloc)))
  (func (export "dump") (result (list u8))
    (canon lift (core func $program "dump") (memory $memory)))
)
"#;

struct Fixture {
    store: Store<()>,
    instance: Instance,
    resets: Vec<wasmtime::component::TypedFunc<(), (u32,)>>,
    /// The memory as committed (as `dump` sees it), when rewritten.
    committed: Vec<u8>,
}

impl Fixture {
    /// Instantiates the fixture, rewritten (and committed) or as written.
    fn new(rewritten: bool) -> Fixture {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).expect("engine");
        let original = wat::parse_str(FIXTURE).expect("fixture parses");
        let bytes = if rewritten {
            super::rewrite(&original, 1 << 20).expect("fixture rewrites")
        } else {
            original
        };
        let component = Component::new(&engine, &bytes).expect("component compiles");
        let mut linker = Linker::<()>::new(&engine);
        linker
            .instance("host")
            .and_then(|mut host| {
                host.func_wrap("fetch", |_, (n,): (u32,)| Ok((format!("HOSTWROTE-{n}"),)))?;
                // Two words only a return area holds.
                let words = (
                    u64::from_le_bytes(*b"RETAREA-"),
                    u64::from_le_bytes(*b"WRITTEN!"),
                );
                host.func_wrap("pair", move |_, ()| Ok((words,)))
            })
            .expect("host function");
        let mut store = Store::new(&engine, ());
        let instance = linker
            .instantiate(&mut store, &component)
            .expect("instantiates");
        let mut resets = Vec::new();
        for n in 0.. {
            let Some(commit) = instance
                .get_typed_func::<(), ()>(&mut store, &format!("{}{n}", super::COMMIT_PREFIX))
                .ok()
            else {
                break;
            };
            commit.call(&mut store, ()).expect("commit");
            let reset = instance
                .get_typed_func::<(), (u32,)>(&mut store, &format!("{}{n}", super::RESET_PREFIX))
                .expect("a reset beside each commit");
            resets.push(reset);
        }
        assert_eq!(resets.is_empty(), !rewritten);
        let mut fixture = Fixture {
            store,
            instance,
            resets,
            committed: Vec::new(),
        };
        if rewritten {
            // `dump` writes its own return area; the reset takes that back.
            fixture.committed = fixture.dump();
            assert!(fixture.reset().iter().all(|s| *s == 0));
        }
        fixture
    }

    fn dump(&mut self) -> Vec<u8> {
        let (memory,): (Vec<u8>,) = self.call("dump", ());
        memory
    }

    /// Checks that the committed memory reads exactly as committed (so the
    /// reset put back the right bytes, not just removed a call's), then
    /// takes back `dump`'s own writes.
    fn assert_as_committed(&mut self, context: &str) {
        let memory = self.dump();
        let page = self.committed.len();
        assert!(memory.len() >= page, "{context}: the memory shrank");
        // `dump` writes the memory's size at 20: it differs once it grew.
        let differs = (0..page).find(|&i| !(16..24).contains(&i) && memory[i] != self.committed[i]);
        assert_eq!(differs, None, "{context}: first differing byte");
        assert!(self.reset().iter().all(|s| *s == 0));
    }

    fn call<P, R>(&mut self, name: &str, params: P) -> R
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower + Send + Sync,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift + Send + Sync,
    {
        let func = self
            .instance
            .get_typed_func::<P, R>(&mut self.store, name)
            .expect(name);
        func.call(&mut self.store, params).expect(name)
    }

    /// Resets every module; the statuses, one per module with state.
    fn reset(&mut self) -> Vec<u32> {
        let resets = self.resets.clone();
        resets
            .iter()
            .map(|reset| reset.call(&mut self.store, ()).expect("reset").0)
            .collect()
    }

    fn bytes_at(&mut self, at: u32, len: usize) -> Vec<u8> {
        self.dump()[at as usize..at as usize + len].to_vec()
    }

    fn memory_contains(&mut self, needle: &str) -> bool {
        self.dump()
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    }
}

/// Each way a call can leave data behind, and the text it leaves.
fn leave(fixture: &mut Fixture, how: &str) -> &'static str {
    match how {
        "guest copy" => {
            let () = fixture.call("remember", ("GUESTCOPY-1",));
            "GUESTCOPY-1"
        }
        "host argument" => {
            let (_,): (u32,) = fixture.call("take", ("ARGUMENT-1",));
            "ARGUMENT-1"
        }
        "host result" => {
            let (_,): (u32,) = fixture.call("call-fetch", ());
            "HOSTWROTE-7"
        }
        "return area" => {
            let (_,): (u32,) = fixture.call("call-pair", ());
            "RETAREA-WRITTEN!"
        }
        other => panic!("no such way {other}"),
    }
}

#[test]
fn nothing_a_call_wrote_survives_the_reset() {
    for how in ["guest copy", "host argument", "host result", "return area"] {
        // Without the rewrite the data is there to find: the check can fail.
        let mut plain = Fixture::new(false);
        let left = leave(&mut plain, how);
        assert!(plain.memory_contains(left), "{how}: fixture leaves nothing");

        let mut fixture = Fixture::new(true);
        let left = leave(&mut fixture, how);
        assert!(
            fixture.memory_contains(left),
            "{how}: rewritten fixture broken"
        );
        assert!(fixture.reset().iter().all(|s| *s == 0), "{how}: status");
        assert!(!fixture.memory_contains(left), "{how}: survived the reset");
    }
}

/// One instance through many calls: each reset must undo its own call,
/// including writes to blocks an earlier call wrote and a reset put back
/// (the map and the list of written blocks start over every time; the
/// journal's copy of each block is made once, in the first round, and
/// every later round is put back from it). The fixture's start function
/// writes the whole memory before the commit, so a commit that kept those
/// older copies would put back the wrong bytes here.
#[test]
fn every_reset_undoes_its_own_call() {
    let mut fixture = Fixture::new(true);
    for round in 0..3 {
        for how in ["guest copy", "host argument", "host result", "return area"] {
            let left = leave(&mut fixture, how);
            assert!(
                fixture.memory_contains(left),
                "{how}, round {round}: fixture broken"
            );
            assert!(
                fixture.reset().iter().all(|s| *s == 0),
                "{how}, round {round}: status"
            );
            assert!(
                !fixture.memory_contains(left),
                "{how}, round {round}: survived the reset"
            );
            fixture.assert_as_committed(&format!("{how}, round {round}"));
        }
    }
}

/// A store of several bytes is checked on its first block, plus whether
/// it runs into the next: every 8-byte store that ends 1 to 8 bytes into
/// a block (so also the one that only just does not) must come back, also
/// when the first block was already journaled by a one-byte store, and at
/// the end of the memory, where the next block exists only once it grows.
#[test]
fn stores_across_a_block_boundary_are_undone() {
    let word = u64::from_le_bytes(*b"STRADDLE");
    let boundary = 1u32 << super::BLOCK_SHIFT;
    let mut fixture = Fixture::new(true);
    for round in 0..2 {
        for into_next in 0..=8u32 {
            let block = 8 + 2 * into_next;
            let at = block * boundary - 8 + into_next;
            if round == 1 {
                let () = fixture.call("poke-byte", (at, u32::from(b'X')));
            }
            let () = fixture.call("poke", (at, word));
            assert_eq!(fixture.bytes_at(at, 8), b"STRADDLE", "fixture broken");
            assert!(fixture.reset().iter().all(|s| *s == 0));
            fixture.assert_as_committed(&format!(
                "round {round}, {into_next} bytes into the next block"
            ));
        }
    }

    // The last word of the memory: no block after it, and no trap.
    let () = fixture.call("poke", (65536u32 - 8, word));
    assert!(fixture.memory_contains("STRADDLE"));
    assert_eq!(fixture.call::<(), (i32,)>("grow", ()), (1,));
    let () = fixture.call("poke", (65536u32 - 4, word));
    assert!(fixture.reset().iter().all(|s| *s == 0));
    assert_eq!(fixture.call::<(), (i32,)>("grow", ()), (1,));
    assert_eq!(
        fixture.bytes_at(65536, 4),
        [0; 4],
        "end of memory: grown page"
    );
    fixture.assert_as_committed("end of memory");
}

#[test]
fn globals_and_tables_come_back() {
    let mut fixture = Fixture::new(true);
    let () = fixture.call("stash", (42u32,));
    let () = fixture.call("set-table", ());
    assert_eq!(fixture.call::<(), (u32,)>("peek", ()), (42,));
    assert_eq!(fixture.call::<(), (u32,)>("table-filled", ()), (1,));
    assert!(fixture.reset().iter().all(|s| *s == 0));
    assert_eq!(fixture.call::<(), (u32,)>("peek", ()), (0,));
    assert_eq!(fixture.call::<(), (u32,)>("table-filled", ()), (0,));
}

#[test]
fn memory_growth_is_taken_back_and_table_growth_reported() {
    let mut fixture = Fixture::new(true);
    assert_eq!(fixture.call::<(), (i32,)>("grow", ()), (1,));
    let () = fixture.call("remember-high", ("HIGHPAGE-1",));
    assert!(fixture.memory_contains("HIGHPAGE-1"));
    assert!(fixture.reset().iter().all(|s| *s == 0));
    // The memory is one page again, as committed...
    assert_eq!(fixture.call::<(), (u32,)>("size", ()), (1,));
    // ...and the page it grows into again reads as a fresh one.
    assert_eq!(fixture.call::<(), (i32,)>("grow", ()), (1,));
    assert_eq!(fixture.call::<(), (u32,)>("size", ()), (2,));
    assert!(!fixture.memory_contains("HIGHPAGE-1"));

    // A table cannot shrink back: the reset says so, and the host drops
    // the instance.
    let () = fixture.call("grow-table", ());
    assert!(fixture.reset().contains(&1));
}

#[test]
fn refuses_what_it_cannot_reset() {
    let cases = [
        (
            "(component (core module (memory 1) (memory 1)))",
            "2 defined memories",
        ),
        (
            r#"(component
                 (core module $m (memory (export "m") 1))
                 (core instance $a (instantiate $m))
                 (core instance $b (instantiate $m))
                 (alias core export $a "m" (core memory)))"#,
            "more than one core instance",
        ),
        (
            r#"(component
                 (core module $m (memory (export "m") 1)
                   (func (export "f") (v128.store (i32.const 0) (v128.const i64x2 0 0))))
                 (core instance $i (instantiate $m))
                 (alias core export $i "m" (core memory)))"#,
            "does not follow",
        ),
        (
            r#"(component
                 (core module $m (memory (export "m") 1 1 shared)
                   (func (export "f") (i32.atomic.store (i32.const 0) (i32.const 1))))
                 (core instance (instantiate $m)))"#,
            "threads",
        ),
    ];
    for (wat, expected) in cases {
        let bytes = wat::parse_str(wat).expect(wat);
        let error = super::rewrite(&bytes, 1 << 20).expect_err(wat);
        let text = format!("{error:#}");
        assert!(text.contains(expected), "{wat}: {text}");
    }
}
