;; Fixture for check_marks.py: each export writes memory 0 one way.
(module
  (memory (export "memory") 4)
  (data (i32.const 100) "hi")
  (func (export "store32") (param $addr i32) (param $v i32)
    local.get $addr
    local.get $v
    i32.store offset=8)
  (func (export "store64") (param $addr i32)
    local.get $addr
    i64.const -1
    i64.store)
  (func (export "store8") (param $addr i32)
    local.get $addr
    i32.const 7
    i32.store8)
  (func (export "fill") (param $addr i32) (param $len i32)
    local.get $addr
    i32.const 1
    local.get $len
    memory.fill)
  (func (export "copy") (param $dst i32) (param $src i32) (param $len i32)
    local.get $dst
    local.get $src
    local.get $len
    memory.copy)
  (func (export "grow_and_store") (result i32)
    (local $page i32)
    i32.const 1
    memory.grow
    local.set $page
    local.get $page
    i32.const 16
    i32.shl
    i32.const 42
    i32.store
    local.get $page))
