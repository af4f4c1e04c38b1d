# Two commands do all set-up on a fresh clone: `make run` and `make test`.
# No network is needed beyond the npm registry: the addon builds against the local Node headers.

NODE_DIR := $(shell node -p "require('path').resolve(process.execPath,'../..')")
ADDON := build/Release/memlogd_native.node
TS_SOURCES := $(shell find lib cmd bench -name '*.ts' 2>/dev/null)

.PHONY: all build run test typecheck bench clean wasm vm-test

all: build

# npm ci: exactly what package-lock.json records, so a fresh clone builds what was tested and its
# tree stays clean.
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# npm's bundled node-gyp, pointed at the installed headers (it must never download them).
$(ADDON): lib/native/memlogd_native.c binding.gyp node_modules/.stamp
	npm run --silent install

# tsc builds the library and the bench; every binary is then bundled into one file (scripts/bundle.mjs).
dist/.stamp: $(TS_SOURCES) tsconfig.json node_modules/.stamp scripts/bundle.mjs
	npx tsc -p tsconfig.json
	node scripts/bundle.mjs
	touch $@

build: $(ADDON) dist/.stamp

# memlogd in the foreground on sockets under ./run (no root needed). Ctrl-C stops it cleanly.
run: build
	mkdir -p run
	node dist/cmd/memlogd.js -socket-log run/log.sock -socket-query run/q.sock

# Every test tier (after a type check of everything, tests included); ends with a plain
# "N passed, N failed" line.
test: build typecheck
	node scripts/run-tests.mjs

# A real VM boot (Debian's kernel and busybox, node, the built project; QEMU, KVM if there is
# one): memlogd from the first second, init's hand-offs, kmsg, logwrite, logbundle, logread the
# LinuxKit way. Downloads the two .debs into vm/cache once (apt-get download). Needs
# qemu-system-x86, cpio, apt; ends with "vm-test: N passed, N failed".
vm-test: build
	bash vm/build.sh
	bash vm/run.sh || true
	node vm/check.mjs

typecheck: node_modules/.stamp
	npx tsc -p tsconfig.test.json

bench: build
	npm run bench

# Regenerates the committed WebAssembly bytes from lib/wasm/escape.wat (needs wabt: apt-get install wabt).
wasm:
	bash scripts/build-wasm.sh

clean:
	rm -rf dist build run node_modules/.stamp vm/out
