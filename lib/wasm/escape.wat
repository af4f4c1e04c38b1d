;; copyClean(src, end, dst) -> stop
;;
;; Copies bytes from [src, end) to dst while they need no escaping in a Go-compatible JSON
;; string (0x20..0x7f except " \ < > &), 16 at a time with SIMD; returns the address of the first
;; byte that does need escaping (or end). The JS encoder (lib/protocol.ts escapeJsonInto) handles
;; that byte and calls again. Memory is imported: the store's arena and the readers' batch
;; buffer live in it, so a message is scanned and copied without leaving WebAssembly.
;;
;; Rebuild: make wasm (wat2wasm (SIMD is on by default in wabt 1.0.32), then embedded into lib/wasm/escape.ts).
(module
  (import "env" "mem" (memory 1))
  (func (export "copyClean") (param $s i32) (param $end i32) (param $d i32) (result i32)
    (local $v v128)
    (local $b i32)
    (local $delta i32)
    ;; dst - src stays constant while copying
    (local.set $delta (i32.sub (local.get $d) (local.get $s)))
    (block $done
      (block $bytes
        (loop $vec
          (br_if $bytes (i32.gt_u (i32.add (local.get $s) (i32.const 16)) (local.get $end)))
          (local.set $v (v128.load (local.get $s)))
          (br_if $bytes
            (v128.any_true
              (v128.or
                (v128.or
                  (i8x16.lt_u (local.get $v) (i8x16.splat (i32.const 0x20)))
                  (i8x16.ge_u (local.get $v) (i8x16.splat (i32.const 0x80))))
                (v128.or
                  (v128.or
                    (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x22)))
                    (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x5c))))
                  (v128.or
                    (v128.or
                      (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x3c)))
                      (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x3e))))
                    (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x26))))))))
          (v128.store (i32.add (local.get $s) (local.get $delta)) (local.get $v))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (br $vec)))
      ;; fewer than 16 bytes left, or a byte to escape among the next 16: one at a time
      (loop $byte
        (br_if $done (i32.ge_u (local.get $s) (local.get $end)))
        (local.set $b (i32.load8_u (local.get $s)))
        (br_if $done (i32.lt_u (local.get $b) (i32.const 0x20)))
        (br_if $done (i32.ge_u (local.get $b) (i32.const 0x80)))
        (br_if $done (i32.eq (local.get $b) (i32.const 0x22)))
        (br_if $done (i32.eq (local.get $b) (i32.const 0x5c)))
        (br_if $done (i32.eq (local.get $b) (i32.const 0x3c)))
        (br_if $done (i32.eq (local.get $b) (i32.const 0x3e)))
        (br_if $done (i32.eq (local.get $b) (i32.const 0x26)))
        (i32.store8 (i32.add (local.get $s) (local.get $delta)) (local.get $b))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $byte)))
    (local.get $s)))
